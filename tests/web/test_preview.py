"""Previews: images with previous and next, PDF drawn by pdf.js, video and
audio with seeking (Range), text; and hostile HTML and SVG files, opened by
preview and by direct URL, never run script in our origin."""

from __future__ import annotations

import base64
import io
import math
import re
import struct
import wave

import httpx
from PIL import Image
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
