"""Thumbnails of pictures: made on demand, kept sealed in a cache.

A thumbnail is the picture scaled so that its longest edge is at most one
of `SIZES` pixels (never enlarged, aspect kept), turned upright by its EXIF
orientation, as WebP (JPEG where this Pillow lacks WebP).  Sources: JPEG,
PNG, GIF (first frame), WebP, BMP, TIFF, HEIC/HEIF (pillow-heif, registered
on first use) and AVIF when the installed Pillow reads it.  The format is
sniffed from the content and only those decoders are tried (never EPS,
which would run Ghostscript, nor any other Pillow plugin).

Anything else, a source over `max_source_bytes`, a picture over `max_pixels`
(a decompression bomb: checked from the header, before anything is
decoded) or one that does not decode answers NoThumbnail (415).  Decoding
runs in a worker thread, at most `concurrency` at once, so the event loop
stays free and memory stays bounded on a small machine; JPEGs are decoded
at a reduced scale (Pillow's draft mode) when the size allows.

Who may have a thumbnail: whoever may read the file (`FileService.open`,
the rules of GET /files/content, shares included).  The cache key is the
revision's content hash with the size and `RENDER_VERSION`, so a new
revision (or a new renderer) gets a new thumbnail, and two files with the
same content share one.
"""

from __future__ import annotations

import asyncio
import io
import logging
import threading
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError, features

from selfdrive.core.errors import NoThumbnail
from selfdrive.services.auth import Principal
from selfdrive.services.files import FileService, Opened
from selfdrive.store.thumbcache import ThumbnailCache

log = logging.getLogger("selfdrive.thumbnails")

SIZES = (64, 256, 1024)
DEFAULT_SIZE = 256
#: bump when the output of `render` changes for the same input: new cache names
RENDER_VERSION = "1"
#: the Pillow formats a thumbnail is made from (``formats=`` of Image.open;
#: a camera's multi-picture JPEG opens as JPEG and comes out as MPO)
SOURCE_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "HEIF", "AVIF")
WEBP = features.check("webp")
MEDIA_TYPE = "image/webp" if WEBP else "image/jpeg"


@dataclass(frozen=True)
class ThumbnailSettings:
    max_source_bytes: int = 64 * 1024 * 1024
    max_pixels: int = 50_000_000
    #: decodes at once
    concurrency: int = 2


@dataclass(frozen=True)
class Thumbnail:
    data: bytes
    media_type: str
    etag: str
    rev: int


class ThumbnailService:
    def __init__(self, files: FileService, cache: ThumbnailCache,
                 settings: ThumbnailSettings) -> None:
        self.files = files
        self.cache = cache
        self.settings = settings
        self._decoding = asyncio.Semaphore(settings.concurrency)

    async def open(self, who: Principal, path: str, rev: int | None) -> Opened:
        """The revision to show, if the caller may read it (NotFound, NotAFile...)."""
        return await self.files.open(who, path, rev)

    def etag(self, opened: Opened, size: int) -> str:
        """The thumbnail's ETag, known before it is made (for If-None-Match)."""
        return f'"{self._name(opened, size)[:40]}"'

    def _name(self, opened: Opened, size: int) -> str:
        return self.cache.name_for(opened.revision.content_hash.hex(), str(size),
                                   RENDER_VERSION, MEDIA_TYPE)

    async def thumbnail(self, opened: Opened, size: int) -> Thumbnail:
        """The thumbnail of an opened revision: from the cache, or made now."""
        if size not in SIZES:
            raise NoThumbnail(f"size must be one of {', '.join(map(str, SIZES))}")
        name = self._name(opened, size)
        made = Thumbnail(b"", MEDIA_TYPE, self.etag(opened, size), opened.revision.rev)
        try:
            cached = await self.cache.get(name)
        except OSError as exc:
            log.warning("thumbnail cache unreadable: %s", exc)
            cached = None
        if cached is not None:
            return Thumbnail(cached, made.media_type, made.etag, made.rev)
        limit = self.settings.max_source_bytes
        if opened.revision.size > limit:
            raise NoThumbnail(f"{opened.entry.node.name} is larger than the {limit} bytes"
                              " a thumbnail is made from", reason="too_large")
        async with self._decoding:
            source = await _read_picture(self.files.read(opened), opened.entry.node.name)
            data = await asyncio.to_thread(render, source, size, self.settings.max_pixels)
        try:
            await self.cache.put(name, data)
        except OSError as exc:
            log.warning("thumbnail not cached: %s", exc)
        return Thumbnail(data, made.media_type, made.etag, made.rev)


async def _read_picture(chunks: AsyncIterator[bytes], name: str) -> bytes:
    """The whole file, if its first bytes say it is a picture of a known kind
    (else NoThumbnail, and only the first block was read)."""
    data = bytearray()
    try:
        async for chunk in chunks:
            if not data and not is_picture(chunk):
                raise NoThumbnail(f"{name} is not a picture a thumbnail can be made of",
                                  reason="not_an_image")
            data += chunk
    finally:
        if isinstance(chunks, AsyncGenerator):
            await chunks.aclose()
    if not data:
        raise NoThumbnail(f"{name} is empty", reason="not_an_image")
    return bytes(data)


#: ISO base media brands of HEIF and AVIF pictures (the "ftyp" box)
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1",
                b"avif", b"avis"}


def is_picture(head: bytes) -> bool:
    """Whether *head* (a file's first bytes) starts one of the SOURCE_FORMATS."""
    return (
        head.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM",
                         b"II*\x00", b"MM\x00*"))
        or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
        or (head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS)
    )


# -- rendering (in a worker thread) ---------------------------------------------------

_plugins_lock = threading.Lock()
_formats: tuple[str, ...] | None = None


def _decoders() -> tuple[str, ...]:
    """The SOURCE_FORMATS this Pillow can open, pillow-heif's HEIF opener
    registered on the first call (importing it at start-up would cost every
    server its libheif, pictures or not)."""
    global _formats
    with _plugins_lock:
        if _formats is None:
            try:
                import pillow_heif

                pillow_heif.register_heif_opener()
            except ImportError:  # HEIC then simply has no thumbnail
                log.warning("pillow-heif is not installed: HEIC pictures get no thumbnail")
            Image.init()
            _formats = tuple(f for f in SOURCE_FORMATS if f in Image.OPEN)
        return _formats


#: EXIF orientation -> what turns the picture upright (as ImageOps.exif_transpose)
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def render(source: bytes, size: int, max_pixels: int) -> bytes:
    """The thumbnail of the picture in *source* (see the module docstring), or
    NoThumbnail."""
    formats = _decoders()
    try:
        with Image.open(io.BytesIO(source), formats=formats) as img:
            if img.width * img.height > max_pixels:
                raise NoThumbnail(
                    f"the picture has {img.width}x{img.height} pixels, more than the"
                    f" {max_pixels} a thumbnail is made from", reason="too_many_pixels")
            orientation = _orientation(img)
            if img.format in ("JPEG", "MPO"):
                img.draft("RGB", (size, size))  # decode at 1/2, 1/4 or 1/8 scale
            img.seek(0)  # GIF, TIFF, MPO: the first frame
            img.load()
            small = _small(img, size)
    except NoThumbnail:
        raise
    except UnidentifiedImageError:
        raise NoThumbnail("this file is not a picture a thumbnail can be made of",
                          reason="not_an_image") from None
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError,
            MemoryError) as exc:
        raise NoThumbnail(f"the picture cannot be decoded: {exc}", reason="undecodable") from None
    if orientation in _UPRIGHT:
        small = small.transpose(_UPRIGHT[orientation])
    out = io.BytesIO()
    if WEBP:
        small.save(out, "WEBP", quality=80, method=4)
    else:
        if small.mode != "RGB":
            small = _flatten(small)
        small.save(out, "JPEG", quality=85, optimize=True)
    return out.getvalue()


def _orientation(img: Image.Image) -> int:
    try:
        return int(img.getexif().get(0x0112, 1))
    except (ValueError, TypeError, SyntaxError, OSError):
        return 1  # damaged EXIF: shown as stored


def _small(img: Image.Image, size: int) -> Image.Image:
    """A copy at most *size* on its longest edge, in a mode the encoder takes."""
    has_alpha = img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info
    mode = "RGBA" if has_alpha else "RGB"
    if img.mode in ("RGB", "RGBA", "L", "LA"):
        # Scaled first: converting the full picture would hold it twice.
        img.thumbnail((size, size), Image.Resampling.LANCZOS, reducing_gap=2.0)
        return img.copy() if img.mode == mode else img.convert(mode)
    frame = img.convert(mode)  # palette, CMYK, 16-bit...: converted, then scaled
    frame.thumbnail((size, size), Image.Resampling.LANCZOS, reducing_gap=2.0)
    return frame


def _flatten(img: Image.Image) -> Image.Image:
    """RGBA on white, for JPEG."""
    background = Image.new("RGB", img.size, (255, 255, 255))
    background.paste(img, mask=img.getchannel("A") if img.mode == "RGBA" else None)
    return background
