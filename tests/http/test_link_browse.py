"""A folder link browsed on the real server (?path= below the folder, never
above it), previews through /s/<token>/content (inline, inert, never
counted), what counts as a download, and the pages of links that died."""

from __future__ import annotations

import io
import time
import zipfile

import httpx

from tests.conftest import Server
from tests.http.linkkit import Person, new_folder, raw_get


def _downloads(alice: Person, link: dict[str, object]) -> int:
    mine = {x["id"]: x for x in alice.c.get("/links").json()["links"]}
    return int(mine[link["id"]]["downloads"])


def test_a_folder_link_is_browsed_inside_and_never_above(
    server: Server, alice: Person, bob: Person, visitor: httpx.Client,
) -> None:
    top = new_folder(alice, "browse")
    alice.put(f"{top}/private.txt", b"PRIVATE")
    alice.put(f"{top}/Trip/plan.txt", b"day 1")
    alice.put(f"{top}/Trip/Day 2/beach.txt", b"sand")
    alice.put(f"{top}/Trip/Day 2/<b>bold<i>.txt", b"markup")
    bob.put("/bobs.txt", b"BOB'S")
    link = alice.link(f"{top}/Trip")
    url = str(link["url"])

    page = visitor.get(url)
    assert page.status_code == 200
    assert "plan.txt" in page.text and "Day 2" in page.text and "private.txt" not in page.text
    assert f'href="{link["token"]}?path=/Day%202"' in page.text
    assert f'href="{link["token"]}/download?path=/plan.txt"' in page.text

    sub = visitor.get(url, params={"path": "/Day 2"})
    assert sub.status_code == 200 and "beach.txt" in sub.text and "plan.txt" not in sub.text
    assert "&lt;b&gt;bold&lt;i&gt;.txt" in sub.text and "<b>bold" not in sub.text
    # breadcrumbs start at the linked folder: nothing of the path above it
    crumbs = sub.text.split('<nav class="crumbs"', 1)[1].split("</nav>", 1)[0]
    assert "Trip" in crumbs and top.strip("/") not in sub.text
    assert f'href="{link["token"]}"' in crumbs

    r = visitor.get(f"{url}/download", params={"path": "/Day 2/beach.txt"})
    assert r.status_code == 200 and r.content == b"sand"
    assert r.headers["content-disposition"].startswith("attachment")
    r = visitor.get(f"{url}/download", params={"path": "/Day 2"})
    assert r.status_code == 200 and 'filename="Day 2.zip"' in r.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        assert sorted(z.namelist()) == ["_b_bold_i_.txt", "beach.txt"]

    # Anything that is not a path below the folder: 400 or 404, never its bytes.
    bad = {
        "..": 400, "/..": 400, "/Day 2/../..": 400, "/../private.txt": 400,
        "../private.txt": 400, "private.txt": 400, "/private.txt": 404,
        f"{top}/private.txt": 404, "/bobs.txt": 404, f"/{bob.name}/bobs.txt": 404,
        "//private.txt": 400, "/Day 2/beach.txt/x": 404, "/plan.txt/..": 400,
        "/a\x00b": 400, "\\..\\private.txt": 400,
    }
    for path, status in bad.items():
        for route in ("", "/download", "/content"):
            r = visitor.get(f"{url}{route}", params={"path": path})
            assert r.status_code == status, (route, path, r.status_code)
            assert b"PRIVATE" not in r.content and b"BOB'S" not in r.content
            assert r.headers["referrer-policy"] == "no-referrer"
            if route == "":
                assert r.headers["content-type"].startswith("text/html")  # a page to read
    for target in (f"{url}?path=%2F..%2Fprivate.txt", f"{url}/download?path=%2e%2e%2fprivate.txt",
                   f"{url}/content?path=/%2e%2e/private.txt",
                   f"{url}/download?path=/plan.txt&path=/../private.txt"):
        status, body = raw_get(server, target)
        assert status in (400, 404) and b"PRIVATE" not in body, target


def test_previews_are_inline_inert_and_not_downloads(alice: Person,
                                                     visitor: httpx.Client) -> None:
    top = new_folder(alice, "preview")
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
    alice.put(f"{top}/pic.png", png)
    alice.put(f"{top}/page.html", b"<script>alert(1)</script>")
    alice.put(f"{top}/art.svg", b"<svg onload='alert(1)'/>")
    alice.put(f"{top}/clip.mp4", b"v" * 5000)
    link = alice.link(top)
    url = str(link["url"])

    r = visitor.get(f"{url}/content", params={"path": "/pic.png"})
    assert r.status_code == 200 and r.content == png
    assert r.headers["content-type"] == "image/png"
    assert r.headers["content-disposition"].startswith("inline")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-security-policy"].startswith("sandbox")
    assert r.headers["referrer-policy"] == "no-referrer"
    # A video's player asks for ranges.
    r = visitor.get(f"{url}/content", params={"path": "/clip.mp4"},
                    headers={"Range": "bytes=1000-1999"})
    assert r.status_code == 206 and r.content == b"v" * 1000
    # Markup is never a page: an attachment of no type, and shown as text on the page.
    for name in ("page.html", "art.svg"):
        r = visitor.get(f"{url}/content", params={"path": f"/{name}"})
        assert r.headers["content-type"] == "application/octet-stream", name
        assert r.headers["content-disposition"].startswith("attachment"), name
    page = visitor.get(url, params={"path": "/page.html"})
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text and "<script>" not in page.text
    page = visitor.get(url, params={"path": "/art.svg"})
    assert "&lt;svg onload=" in page.text
    page = visitor.get(url, params={"path": "/pic.png"})
    assert f'<img src="{link["token"]}/content?path=/pic.png"' in page.text
    page = visitor.get(url, params={"path": "/clip.mp4"})
    assert "<video controls" in page.text
    assert _downloads(alice, link) == 0  # pages and previews are not downloads
    assert visitor.get(f"{url}/content").status_code == 409  # a folder has no content


def test_what_counts_as_a_download(alice: Person, visitor: httpx.Client) -> None:
    top = new_folder(alice, "counting")
    alice.put(f"{top}/movie.mp4", b"m" * 10_000)
    link = alice.link(f"{top}/movie.mp4", max_downloads=3)
    url = str(link["url"])
    r = visitor.get(f"{url}/download")
    assert r.status_code == 200 and _downloads(alice, link) == 1
    etag = r.headers["etag"]
    # resuming it, or asking whether it changed, is not another download
    r = visitor.get(f"{url}/download", headers={"Range": "bytes=5000-"})
    assert r.status_code == 206 and len(r.content) == 5000
    r = visitor.get(f"{url}/download", headers={"Range": "bytes=5000-", "If-Range": etag})
    assert r.status_code == 206
    assert visitor.get(f"{url}/download", headers={"If-None-Match": etag}).status_code == 304
    assert visitor.get(f"{url}/download", headers={"Range": "bytes=99999-"}).status_code == 416
    assert _downloads(alice, link) == 1
    # a range that starts at the first byte, or one whose If-Range no longer holds, is
    r = visitor.get(f"{url}/download", headers={"Range": "bytes=0-99"})
    assert r.status_code == 206 and _downloads(alice, link) == 2
    r = visitor.get(f"{url}/download", headers={"Range": "bytes=-20000"})
    assert r.status_code == 206 and _downloads(alice, link) == 3
    # A link that counts downloads shows no preview, so the limit means what it says.
    page = visitor.get(url)
    assert page.status_code == 410  # used up
    link = alice.link(f"{top}/movie.mp4", max_downloads=5)
    url = str(link["url"])
    page = visitor.get(url)
    assert page.status_code == 200 and "<video" not in page.text and "5 more downloads" in page.text
    r = visitor.get(f"{url}/content")
    assert r.status_code == 403 and b"m" * 100 not in r.content
    assert _downloads(alice, link) == 0


def test_dead_links_say_so_in_a_page(alice: Person, visitor: httpx.Client) -> None:
    top = new_folder(alice, "dead")
    alice.put(f"{top}/f.txt", b"f")
    soon = alice.link(f"{top}/f.txt", expires_at=int(time.time() * 1000) + 1500)
    revoked = alice.link(f"{top}/f.txt")
    assert alice.c.delete(f"/links/{revoked['id']}").status_code == 204
    time.sleep(1.6)
    for link, status, words in ((soon, 410, "expired"), (revoked, 404, "revoked")):
        for route in ("", "?path=/"):
            page = visitor.get(f"{link['url']}{route}")
            assert page.status_code == status
            assert page.headers["content-type"].startswith("text/html")
            assert words in page.text and "f.txt" not in page.text
            assert page.headers["referrer-policy"] == "no-referrer"
        for route in ("/download", "/content"):
            r = visitor.get(f"{link['url']}{route}")
            assert r.status_code == status and r.headers["referrer-policy"] == "no-referrer"
    assert visitor.get("/s/not-a-token!").status_code == 404
