"""Previews: images with previous and next, PDF drawn by pdf.js (JPEG 2000,
JBIG2, CCITT fax and ICC images by its WebAssembly decoders), video and audio
with seeking (Range), text; and hostile HTML and SVG files, opened by preview
and by direct URL, never run script in our origin."""

from __future__ import annotations

import base64
import io
import math
import re
import struct
import wave
from collections.abc import Callable

import httpx
import pytest
from PIL import Image, ImageCms
from playwright.sync_api import Page, expect

from tests.web.conftest import DIALOGS, MakePage, User, screenshot

EVIL_HTML = b"<html><body><script>alert('html ran')</script><h1>hi</h1></body></html>"
EVIL_SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b"<script>alert('svg ran')</script><rect width='10' height='10'/></svg>"
)


def put(client: httpx.Client, path: str, data: bytes) -> None:
    r = client.put("/files/content", params={"path": path}, content=data)
    assert r.status_code == 201, r.text


def png(color: str, size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


def pdf(pages: int) -> bytes:
    out = io.BytesIO()
    images = [Image.new("RGB", (200, 260), c) for c in ("white", "yellow", "cyan")[:pages]]
    images[0].save(out, "PDF", save_all=True, append_images=images[1:])
    return out.getvalue()


def pdf_of_image(params: bytes, data: bytes, fill: tuple[int, int, int] | None = None,
                 extra: bytes = b"") -> bytes:
    """A one-page PDF (200 x 200 pt) whose page is one image, drawn over all of it.
    *params* are the image's dictionary entries; with *fill* the image is a
    stencil mask (/ImageMask) that paints the page in that colour; *extra* is
    object 6, for the image to refer to."""
    paint = b"%.4f %.4f %.4f rg " % tuple(c / 255 for c in fill) if fill else b""
    content = paint + b"q 200 0 0 200 0 0 cm /Im Do Q"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200]"
        b" /Resources << /XObject << /Im 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /XObject /Subtype /Image " + params
        + b" /Length %d >>\nstream\n" % len(data) + data + b"\nendstream",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        *([extra] if extra else []),
    ]
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return bytes(out)


def g4_black(rows: int) -> bytes:
    """CCITT group 4 (T.6) code of an all-black bitmap 64 pixels wide, coded by
    hand: the first row in horizontal mode against the imaginary white row above
    (white run 0, black run 64 = make-up 64 + terminating 0), every other row as
    two V0 codes (the same changes as the row above), then EOFB."""
    bits = "001" + "00110101" + "0000001111" + "0000110111" + "11" * (rows - 1)
    bits += "000000000001" * 2
    bits += "0" * (-len(bits) % 8)
    return int(bits, 2).to_bytes(len(bits) // 8, "big")


def jbig2_black(rows: int) -> bytes:
    """An all-black bitmap 64 pixels wide as a JBIG2 stream embedded the way PDF
    holds it (no file header): page information, then an immediate generic
    region coded with MMR (T.6, the same code as g4_black), then end of page."""
    def segment(number: int, kind: int, data: bytes) -> bytes:
        # number, flags (type; 1-byte page association), no referred-to segments, page 1
        return struct.pack(">IBBBI", number, kind, 0, 1, len(data)) + data

    page = struct.pack(">IIIIBH", 64, rows, 0, 0, 0, 0)
    region = struct.pack(">IIIIBB", 64, rows, 0, 0, 0, 1) + g4_black(rows)  # flags: MMR
    return segment(0, 48, page) + segment(1, 38, region) + segment(2, 49, b"")


def icc_srgb() -> bytes:
    """An sRGB ICC profile as a PDF stream object, for an /ICCBased colour space."""
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return b"<< /N 3 /Length %d >>\nstream\n" % len(profile) + profile + b"\nendstream"


def jpeg2000(color: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), color).save(out, "JPEG2000")  # JP2, lossless
    return out.getvalue()


#: a page that is one image of each kind pdf.js decodes with its WebAssembly
#: decoders (vendor/pdfjs-dist/wasm/), each its own colour: JPEG 2000 in
#: colour; CCITT fax and JBIG2 are black and white, so they are stencil masks
#: painting their black in a colour; raw RGB in an ICC-based colour space
#: (drawn the same by its alternate space, so only the fetch of qcms tells).
#: kind -> (decoder, the PDF, its colour)
NEEDS_WASM: dict[str, tuple[str, Callable[[], bytes], tuple[int, int, int]]] = {
    "jpx": ("openjpeg", lambda: pdf_of_image(
        b"/Width 64 /Height 64 /Filter /JPXDecode", jpeg2000((30, 144, 255))), (30, 144, 255)),
    "ccitt": ("jbig2", lambda: pdf_of_image(
        b"/Width 64 /Height 64 /ImageMask true /BitsPerComponent 1"
        b" /Filter /CCITTFaxDecode /DecodeParms << /K -1 /Columns 64 /Rows 64 >>",
        g4_black(64), (200, 0, 120)), (200, 0, 120)),
    "jbig2": ("jbig2", lambda: pdf_of_image(
        b"/Width 64 /Height 64 /ImageMask true /BitsPerComponent 1 /Filter /JBIG2Decode",
        jbig2_black(64), (230, 120, 0)), (230, 120, 0)),
    "icc": ("qcms_bg", lambda: pdf_of_image(
        b"/Width 64 /Height 64 /ColorSpace [/ICCBased 6 0 R] /BitsPerComponent 8",
        bytes((40, 170, 90)) * 64 * 64, extra=icc_srgb()), (40, 170, 90)),
}


def wav(seconds: float = 2.0, rate: int = 8000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(
            b"".join(
                struct.pack("<h", int(8000 * math.sin(i / 10))) for i in range(int(seconds * rate))
            )
        )
    return out.getvalue()


def webm(page: Page) -> bytes:
    """A two-second WebM video, recorded by the browser itself from a canvas."""
    data = page.evaluate("""async () => {
      const canvas = document.createElement('canvas'); canvas.width = 64; canvas.height = 48
      const ctx = canvas.getContext('2d')
      const rec = new MediaRecorder(canvas.captureStream(10), {mimeType: 'video/webm'})
      const parts = []
      rec.ondataavailable = (e) => parts.push(e.data)
      let frame = 0
      const timer = setInterval(() => {
        ctx.fillStyle = frame++ % 2 ? 'red' : 'blue'
        ctx.fillRect(0, 0, 64, 48)
      }, 100)
      rec.start(250)
      await new Promise((r) => setTimeout(r, 2000))
      rec.stop(); clearInterval(timer)
      await new Promise((r) => rec.onstop = r)
      const buf = new Uint8Array(await new Blob(parts).arrayBuffer())
      let s = ''; for (const b of buf) s += String.fromCharCode(b)
      return btoa(s)
    }""")
    return base64.b64decode(data)


def test_images_preview_with_previous_and_next(make_page: MakePage, user: User) -> None:
    with user.api() as c:
        put(c, "/Pics/a.png", png("red"))
        put(c, "/Pics/b.png", png("green"))
        put(c, "/Pics/c.png", png("blue"))
    page = make_page(user, path="/files/Pics")
    page.get_by_role("button", name="a.png", exact=True).click()
    expect(page).to_have_url(re.compile(r"/files/Pics\?preview=a\.png$"))
    dialog = page.get_by_role("dialog", name="a.png")
    image = dialog.get_by_role("img", name="a.png")
    expect(image).to_be_visible()
    assert image.evaluate("img => img.naturalWidth") == 64
    screenshot(page, "preview-image-desktop-light")
    page.keyboard.press("ArrowRight")
    expect(page).to_have_url(re.compile(r"preview=b\.png$"))
    dialog.page.get_by_role("button", name="Next").click()
    expect(page).to_have_url(re.compile(r"preview=c\.png$"))
    page.reload()  # the open preview lives in the URL
    expect(
        page.get_by_role("dialog", name="c.png").get_by_role("img", name="c.png")
    ).to_be_visible()
    page.get_by_role("button", name="Previous").click()
    expect(page).to_have_url(re.compile(r"preview=b\.png$"))
    page.keyboard.press("Escape")
    expect(page).to_have_url(re.compile(r"/files/Pics$"))


def test_pdf_renders_inside_the_app(make_page: MakePage, user: User) -> None:
    with user.api() as c:
        put(c, "/paper.pdf", pdf(3))
    page = make_page(user, path="/files?preview=paper.pdf")
    dialog = page.get_by_role("dialog", name="paper.pdf")
    expect(dialog.get_by_text("3 pages")).to_be_visible(timeout=20_000)
    expect(dialog.get_by_role("img", name="Page 3")).to_be_visible(timeout=20_000)
    # the first page is white, drawn by pdf.js on a canvas
    assert dialog.get_by_role("img", name="Page 1").evaluate(
        "c => Array.from(c.getContext('2d').getImageData(c.width / 2, c.height / 2, 1, 1).data)"
    ) == [255, 255, 255, 255]


@pytest.mark.parametrize("kind", NEEDS_WASM)
def test_pdf_images_that_need_the_wasm_decoders_are_drawn(
    make_page: MakePage, user: User, kind: str
) -> None:
    decoder, make_pdf, color = NEEDS_WASM[kind]
    with user.api() as c:
        put(c, f"/{kind}.pdf", make_pdf())
    page = make_page(user)
    fetched: list[str] = []
    page.context.on("request", lambda r: fetched.append(r.url) if "/wasm/" in r.url else None)
    page.goto(f"/files?preview={kind}.pdf")
    canvas = page.get_by_role("dialog", name=f"{kind}.pdf").get_by_role("img", name="Page 1")
    expect(canvas).to_be_visible(timeout=20_000)
    # drawn once the decoder is in: the page shows the image's colour, not white
    middle = "c => Array.from(c.getContext('2d').getImageData(c.width/2, c.height/2, 1, 1).data)"
    for _ in range(100):
        pixel = canvas.evaluate(middle)
        if pixel[3] == 255 and all(abs(p - w) <= 8 for p, w in zip(pixel[:3], color, strict=True)):
            break
        page.wait_for_timeout(200)
    else:
        raise AssertionError(f"page 1 of {kind}.pdf shows {pixel}, not {color}")
    # by WebAssembly, in the worker, not by the JavaScript fallback
    assert any(u.endswith(f"/wasm/{decoder}.wasm") for u in fetched), fetched
    assert not any("nowasm" in u for u in fetched), fetched


def test_only_the_pdf_worker_may_compile_webassembly(user: User) -> None:
    with httpx.Client(base_url=user.server.base_url) as c:
        worker = c.get("/vendor/pdfjs-dist/pdf.worker.min.mjs").headers
        assert "'wasm-unsafe-eval'" in worker["content-security-policy"]
        assert "'unsafe-eval'" not in worker["content-security-policy"]
        decoder = c.get("/vendor/pdfjs-dist/wasm/openjpeg.wasm")
        assert decoder.status_code == 200
        assert decoder.headers["content-type"] == "application/wasm"
        assert decoder.headers["x-content-type-options"] == "nosniff"
        shell = c.get("/").headers["content-security-policy"]
        assert "wasm" not in shell and "eval" not in shell


def test_video_and_audio_stream_with_seeking(make_page: MakePage, user: User) -> None:
    page = make_page(user)
    with user.api() as c:
        put(c, "/clip.webm", webm(page))
        put(c, "/tone.wav", wav())
    statuses: list[int] = []
    page.on("response", lambda r: statuses.append(r.status) if "/files/content" in r.url else None)
    for name, role in (("clip.webm", "video"), ("tone.wav", "audio")):
        statuses.clear()
        page.goto(f"/files?preview={name}")
        media = page.locator(f".preview {role}")
        expect(media).to_be_visible()
        page.wait_for_function(
            f"() => document.querySelector('.preview {role}').readyState >= 1", timeout=20_000
        )
        # A recorded WebM carries no duration: Chromium estimates it by reading
        # the end of the file, and reports Infinity until then (CI saw it once).
        assert media.evaluate("m => m.duration") > 1
        media.evaluate("m => { m.currentTime = 1 }")
        page.wait_for_function(
            f"() => {{ const m = document.querySelector('.preview {role}');"
            " return !m.seeking && m.currentTime > 0.5 }"
        )
        assert 206 in statuses, statuses  # the media element streams with Range


def test_text_and_code_show_as_text(make_page: MakePage, user: User) -> None:
    source = "def hello():\n    return '<b>not bold</b>'\n"
    with user.api() as c:
        put(c, "/hello.py", source.encode())
    page = make_page(user, path="/files?preview=hello.py")
    pre = page.get_by_role("dialog").locator("pre")
    expect(pre).to_have_text(source)
    assert page.locator(".preview b").count() == 0


def test_hostile_html_and_svg_run_nothing_in_our_origin(make_page: MakePage, user: User) -> None:
    with user.api() as c:
        put(c, "/evil.html", EVIL_HTML)
        put(c, "/evil.svg", EVIL_SVG)
    page = make_page(user)
    # by preview: the HTML shows as its source text, the SVG as an inert image
    page.goto("/files?preview=evil.html")
    expect(page.get_by_role("dialog").locator("pre")).to_contain_text(
        "<script>alert('html ran')</script>"
    )
    page.goto("/files?preview=evil.svg")
    expect(page.get_by_role("dialog").get_by_role("img", name="evil.svg")).to_be_visible()
    page.wait_for_timeout(500)
    # by direct URL: an attachment (a download), never a page of ours
    for name in ("evil.html", "evil.svg"):
        for endpoint in ("content", "download"):
            response = page.request.get(f"/api/v1/files/{endpoint}?path=/{name}")
            assert response.headers["content-disposition"].startswith("attachment")
            assert response.headers["x-content-type-options"] == "nosniff"
            assert "sandbox" in response.headers["content-security-policy"]
            with page.expect_download():
                try:
                    page.goto(f"/api/v1/files/{endpoint}?path=/{name}")
                except Exception as exc:  # Chromium reports a navigation that became a download
                    assert "Download is starting" in str(exc)
    page.wait_for_timeout(500)
    assert DIALOGS[page] == []
