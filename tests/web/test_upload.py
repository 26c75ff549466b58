"""Uploads from the browser through tus-js-client: a real drop event with a
DataTransfer, a folder with nested folders, name clashes, an upload that
survives the server being killed and restarted, resuming after the tab was
closed, and a selection downloaded as one zip, byte for byte."""

from __future__ import annotations

import io
import os
import re
import zipfile
from pathlib import Path

import httpx
from playwright.sync_api import Page, Request, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.conftest import Server
from tests.web.conftest import MakePage, User, screenshot

DROP_FILES = """async (files) => {
  const dt = new DataTransfer()
  for (const [name, text] of files) dt.items.add(new File([text], name, {type: 'text/plain'}))
  const target = document.querySelector('.listing')
  for (const type of ['dragenter', 'dragover', 'drop']) {
    target.dispatchEvent(new DragEvent(type, {bubbles: true, cancelable: true, dataTransfer: dt}))
  }
}"""


def content(client: httpx.Client, path: str) -> bytes:
    r = client.get("/files/content", params={"path": path})
    assert r.status_code == 200, f"{path}: {r.status_code} {r.text[:200]}"
    return r.content


def wait_uploads_done(page: Page, count: int, timeout: float = 60_000) -> None:
    expect(page.locator(".uploads .summary")).to_have_text(
        f"{count} upload{'s' if count != 1 else ''} complete", timeout=timeout
    )


def test_dropping_files_uploads_them_with_progress(make_page: MakePage, user: User) -> None:
    page = make_page(user)
    expect(page.locator(".files")).to_be_visible()
    page.evaluate(
        DROP_FILES, [["notes.txt", "dropped notes"], ["<img src=x onerror=alert(2)>.txt", "tags"]]
    )
    wait_uploads_done(page, 2)
    expect(page.locator(".item .name")).to_have_text(
        ["<img src=x onerror=alert(2)>.txt", "notes.txt"]
    )
    with user.api() as c:
        assert content(c, "/notes.txt") == b"dropped notes"
        assert content(c, "/<img src=x onerror=alert(2)>.txt") == b"tags"


def test_a_folder_upload_keeps_its_nested_folders(
    make_page: MakePage, user: User, tmp_path: Path
) -> None:
    root = tmp_path / "Holiday"
    (root / "day1" / "morning").mkdir(parents=True)
    (root / "day2").mkdir()
    (root / "day1" / "morning" / "a.txt").write_bytes(b"A" * 1000)
    (root / "day1" / "b.txt").write_bytes(b"B")
    (root / "day2" / "c.bin").write_bytes(os.urandom(300_000))
    page = make_page(user)
    expect(page.locator(".files")).to_be_visible()
    page.locator("input[webkitdirectory]").set_input_files(root)
    wait_uploads_done(page, 3)
    with user.api() as c:
        assert content(c, "/Holiday/day1/morning/a.txt") == b"A" * 1000
        assert content(c, "/Holiday/day1/b.txt") == b"B"
        assert content(c, "/Holiday/day2/c.bin") == (root / "day2" / "c.bin").read_bytes()


def test_dropping_a_real_folder_keeps_nested_and_empty_folders(
    make_page: MakePage, user: User, tmp_path: Path
) -> None:
    root = tmp_path / "Album"
    (root / "2024" / "summer").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "2024" / "summer" / "sea.txt").write_bytes(b"sea")
    (root / "cover.txt").write_bytes(b"cover")
    page = make_page(user)
    expect(page.locator("[data-loaded=true]")).to_be_visible()
    # The browser's own drag and drop of a folder from the desktop (CDP
    # Input.dispatchDragEvent with a real path: the page gets real entries).
    cdp = page.context.new_cdp_session(page)
    data = {"items": [], "files": [str(root)], "dragOperationsMask": 1}
    for kind in ("dragEnter", "dragOver", "drop"):
        cdp.send("Input.dispatchDragEvent", {"type": kind, "x": 600, "y": 400, "data": data})
    wait_uploads_done(page, 2)
    with user.api() as c:
        assert content(c, "/Album/2024/summer/sea.txt") == b"sea"
        assert content(c, "/Album/cover.txt") == b"cover"
        r = c.get("/files/metadata", params={"path": "/Album/empty"})
        assert r.status_code == 200 and r.json()["kind"] == "folder"


def test_keyboard_only_upload_with_u(make_page: MakePage, user: User, tmp_path: Path) -> None:
    f = tmp_path / "typed.txt"
    f.write_bytes(b"uploaded without a mouse")
    page = make_page(user)
    expect(page.locator("[data-loaded=true]")).to_be_visible()
    # Playwright turns on file-chooser interception asynchronously; on a
    # loaded machine the first press can open the (headless, invisible)
    # chooser before that, so press again if no chooser was seen.
    for attempt in range(3):
        try:
            with page.expect_file_chooser(timeout=5_000) as chooser:
                page.keyboard.press("u")
            break
        except PlaywrightTimeout:
            if attempt == 2:
                raise
    chooser.value.set_files(f)
    wait_uploads_done(page, 1)
    expect(page.locator(".item .name")).to_have_text(["typed.txt"])


def test_a_name_clash_asks_keep_both_replace_or_skip(make_page: MakePage, user: User) -> None:
    with user.api() as c:
        r = c.put("/files/content", params={"path": "/report.txt"}, content=b"old")
        assert r.status_code == 201
    page = make_page(user)
    expect(page.locator(".item")).to_have_count(1)
    done = 0
    for choice, expected_names in (
        ("Keep both", ["report (1).txt", "report.txt"]),
        ("Replace", ["report (1).txt", "report.txt"]),
        ("Skip", ["report (1).txt", "report.txt"]),
    ):
        page.evaluate(DROP_FILES, [["report.txt", f"new via {choice}"]])
        dialog = page.get_by_role("dialog", name="A file with this name exists")
        expect(dialog).to_contain_text("“report.txt” already exists")
        dialog.get_by_role("button", name=choice).click()
        if choice != "Skip":
            done += 1
            wait_uploads_done(page, done)
        expect(page.locator(".item .name")).to_have_text(expected_names)
    with user.api() as c:
        assert content(c, "/report (1).txt") == b"new via Keep both"
        assert content(c, "/report.txt") == b"new via Replace"
        revs = c.get("/files/list_revisions", params={"path": "/report.txt"}).json()["revisions"]
        assert len(revs) == 2  # replace made a new revision, skip made none


def _throttle(page: Page, bytes_per_s: int) -> None:
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": bytes_per_s},
    )


def test_an_upload_survives_a_server_restart_and_resumes(
    make_page: MakePage, user: User, server: Server, tmp_path: Path
) -> None:
    big = tmp_path / "video.bin"
    big.write_bytes(os.urandom(12 * 1024 * 1024))
    page = make_page(user)
    expect(page.locator(".files")).to_be_visible()
    _throttle(page, 2 * 1024 * 1024)
    patches: list[int] = []

    def on_request(request: Request) -> None:
        if "/api/v1/uploads/" in request.url and request.method in ("PATCH", "POST"):
            offset = request.headers.get("upload-offset")
            if offset is not None:
                patches.append(int(offset))

    page.on("request", on_request)
    page.locator("input[type=file]:not([webkitdirectory])").set_input_files(big)
    progress = page.get_by_label("Progress of video.bin")
    page.wait_for_function(
        "() => { const p = document.querySelector('.uploads progress');"
        " return p && p.value > p.max * 0.6 }",
        timeout=30_000,
    )
    server.kill()
    page.wait_for_timeout(1500)
    server.start()
    wait_uploads_done(page, 1, timeout=120_000)
    expect(progress).to_have_count(1)
    with user.api() as c:
        assert content(c, "/video.bin") == big.read_bytes()
    assert patches[0] == 0
    assert any(p > 0 for p in patches[1:]), f"no PATCH resumed from a later offset: {patches}"


def test_dropping_the_same_file_after_closing_the_tab_resumes(
    make_page: MakePage, user: User, tmp_path: Path
) -> None:
    big = tmp_path / "backup.tar"
    big.write_bytes(os.urandom(8 * 1024 * 1024))
    page = make_page(user)
    expect(page.locator(".files")).to_be_visible()
    # 16 s at this rate: the tab closes long before the file is all sent, even
    # on a loaded machine (a finished upload would make the second drop a clash)
    _throttle(page, 512 * 1024)
    page.locator("input[type=file]:not([webkitdirectory])").set_input_files(big)
    page.wait_for_function(
        "() => { const p = document.querySelector('.uploads progress');"
        " return p && p.value > p.max * 0.1 }",
        timeout=30_000,
    )
    context = page.context
    page.close()  # the tab is gone mid-upload
    again = context.new_page()
    offsets: list[int] = []
    again.on(
        "request",
        lambda r: (
            offsets.append(int(r.headers["upload-offset"]))
            if r.method == "PATCH" and "upload-offset" in r.headers
            else None
        ),
    )
    again.goto("/")
    again.locator("input[type=file]:not([webkitdirectory])").set_input_files(big)
    wait_uploads_done(again, 1)
    assert offsets and offsets[0] > 0, offsets
    with user.api() as c:
        assert content(c, "/backup.tar") == big.read_bytes()


def test_a_selection_downloads_as_one_zip_byte_for_byte(make_page: MakePage, user: User) -> None:
    blob = os.urandom(200_000)
    with user.api() as c:
        for path, data in (
            ("/Trip/day1/photo.bin", blob),
            ("/Trip/day1/notes.txt", b"n"),
            ("/Trip/map.txt", b"map"),
            ("/other.txt", b"o"),
        ):
            assert c.put("/files/content", params={"path": path}, content=data).status_code == 201
        assert c.post("/files/mkdir", json={"path": "/Trip/empty"}).status_code == 201
    page = make_page(user)
    page.locator(".item", has_text="Trip").click(position={"x": 5, "y": 10})
    page.locator(".item", has_text="other.txt").click(
        position={"x": 5, "y": 10}, modifiers=["Shift"]
    )
    expect(page.get_by_role("toolbar", name="2 selected")).to_be_visible()
    screenshot(page, "selection-desktop-light")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download as zip").click()
    data = download.value.path().read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        got = {i.filename: (z.read(i) if not i.is_dir() else None) for i in z.infolist()}
    assert got["Trip/day1/photo.bin"] == blob
    assert got["Trip/day1/notes.txt"] == b"n"
    assert got["Trip/map.txt"] == b"map"
    assert got["other.txt"] == b"o"
    assert any(re.fullmatch(r"Trip/empty/?", k) for k in got)
