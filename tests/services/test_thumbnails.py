"""services/thumbnails.py and store/thumbcache.py on a real Runtime: the
render rules, the sealed cache (hits, keys, eviction, damage), the limits."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image

from selfdrive.core.errors import NoThumbnail
from selfdrive.services.thumbnails import (
    SIZES,
    ThumbnailService,
    ThumbnailSettings,
    is_picture,
    render,
)
from selfdrive.store.thumbcache import ThumbnailCache
from tests.services.conftest import RT

pytestmark = pytest.mark.anyio


def jpeg(size: tuple[int, int] = (800, 600)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, "green").save(out, "JPEG")
    return out.getvalue()


async def body(data: bytes) -> AsyncIterator[bytes]:
    yield data


def size_of(data: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(data)).size


def test_render_scales_down_only() -> None:
    assert size_of(render(jpeg((800, 600)), 256, 50_000_000)) == (256, 192)
    assert size_of(render(jpeg((100, 60)), 1024, 50_000_000)) == (100, 60)


def test_render_refuses_more_pixels_than_allowed() -> None:
    with pytest.raises(NoThumbnail) as caught:
        render(jpeg((800, 600)), 256, 800 * 600 - 1)
    assert caught.value.details["reason"] == "too_many_pixels"


def test_render_tries_no_other_decoder() -> None:
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"
    with pytest.raises(NoThumbnail):
        render(eps, 64, 50_000_000)
    assert not is_picture(eps) and is_picture(jpeg())


async def test_a_cached_thumbnail_is_served_without_reading_the_file(rt: RT,
                                                                     tmp_path: Path) -> None:
    runtime, _, who = rt
    await runtime.files.upload(who, "/a.jpg", body(jpeg()))
    service = runtime.thumbnails
    opened = await service.open(who, "/a.jpg", None)
    made = await service.thumbnail(opened, 64)
    assert size_of(made.data) == (64, 48)
    # The same revision with no blocks: only the cache can answer.
    hollow = type(opened)(opened.entry, opened.revision, [])
    again = await service.thumbnail(hollow, 64)
    assert again.data == made.data and again.etag == made.etag
    with pytest.raises(NoThumbnail):
        await service.thumbnail(hollow, 256)  # not cached at that size


async def test_same_content_shares_a_thumbnail_and_names_hide_it(rt: RT) -> None:
    runtime, _, who = rt
    await runtime.files.upload(who, "/a.jpg", body(jpeg()))
    await runtime.files.upload(who, "/copy.jpg", body(jpeg()))
    service = runtime.thumbnails
    a = await service.open(who, "/a.jpg", None)
    b = await service.open(who, "/copy.jpg", None)
    assert service.etag(a, 256) == service.etag(b, 256) != service.etag(a, 64)
    await service.thumbnail(a, 256)
    names = [p.name for p in (runtime.config.data_path / "thumbnails").rglob("*") if p.is_file()]
    assert len(names) == 1
    assert a.revision.content_hash.hex() not in names[0]


async def test_a_source_over_the_limit_is_refused_before_reading(rt: RT) -> None:
    runtime, _, who = rt
    await runtime.files.upload(who, "/a.jpg", body(jpeg()))
    small = ThumbnailService(runtime.files, runtime.thumbnails.cache,
                             ThumbnailSettings(max_source_bytes=100))
    opened = await small.open(who, "/a.jpg", None)
    with pytest.raises(NoThumbnail) as caught:
        await small.thumbnail(opened, 64)
    assert caught.value.details["reason"] == "too_large"
    with pytest.raises(NoThumbnail):
        await small.thumbnail(opened, 65)
    assert 65 not in SIZES


def _cache(tmp_path: Path, max_bytes: int) -> ThumbnailCache:
    return ThumbnailCache(tmp_path / "thumbs", b"k" * 32, b"n" * 32, max_bytes=max_bytes)


async def test_cache_round_trip_and_damage(tmp_path: Path) -> None:
    cache = _cache(tmp_path, 10_000)
    name = cache.name_for("hash", "256")
    assert name != cache.name_for("hash", "64") and len(name) == 64
    assert await cache.get(name) is None
    await cache.put(name, b"picture bytes")
    assert await cache.get(name) == b"picture bytes"
    path = tmp_path / "thumbs" / name[:2] / name
    assert b"picture bytes" not in path.read_bytes()
    # A file copied under another name, or damaged, is a miss and goes away.
    other = cache.name_for("other")
    (tmp_path / "thumbs" / other[:2]).mkdir(exist_ok=True)
    (tmp_path / "thumbs" / other[:2] / other).write_bytes(path.read_bytes())
    assert await cache.get(other) is None
    assert not (tmp_path / "thumbs" / other[:2] / other).exists()
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    assert await cache.get(name) is None and not path.exists()
    # Another key cannot open it either.
    await cache.put(name, b"picture bytes")
    assert await ThumbnailCache(tmp_path / "thumbs", b"x" * 32, b"n" * 32,
                                max_bytes=10_000).get(name) is None


async def test_cache_evicts_the_least_recently_used(tmp_path: Path) -> None:
    cache = _cache(tmp_path, 10_000)
    names = [cache.name_for(str(i)) for i in range(12)]
    for i, name in enumerate(names):
        await cache.put(name, bytes([i]) * 1000)
        if i == 0:
            continue
        assert await cache.get(names[0]) is not None  # kept in use
    on_disk = sum(p.stat().st_size for p in (tmp_path / "thumbs").rglob("*") if p.is_file())
    assert on_disk <= 10_000
    assert await cache.get(names[0]) is not None
    assert await cache.get(names[1]) is None  # the oldest unused went first
    assert await cache.get(names[-1]) is not None


async def test_a_zero_cap_caches_nothing(tmp_path: Path) -> None:
    cache = _cache(tmp_path, 0)
    await cache.put(cache.name_for("a"), b"data")
    assert await cache.get(cache.name_for("a")) is None
