"""POST /share-target, the Web Share Target (selfdrive/http/sharetarget.py):
a signed-in browser's share lands in the chosen folder (or the inbox) beside
what is there; a post another site forged, or one without a session,
stores nothing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest

from tests.conftest import Server

PASSWORD = "user-password-1"
INBOX = "/Shared to selfdrive"
#: what Chrome sends when the share sheet launches the installed app
LAUNCH = {"Sec-Fetch-Site": "none", "Origin": "null", "Sec-Fetch-Mode": "navigate"}


@dataclass
class Phone:
    server: Server
    session: str
    api: httpx.Client

    def share(self, files: list[tuple[str, bytes]], *, headers: dict[str, str] | None = None,
              cookies: dict[str, str] | None = None, data: dict[str, str] | None = None,
              signed_in: bool = True) -> httpx.Response:
        jar = {"sd_session": self.session} if signed_in else {}
        cookie = "; ".join(f"{k}={v}" for k, v in {**jar, **(cookies or {})}.items())
        return httpx.post(
            self.server.base_url + "/share-target",
            # no file: the empty field a browser sends (multipart all the same)
            files=[("files", (name, body, "image/jpeg")) for name, body in files]
            or [("files", ("", b"", "application/octet-stream"))],
            data={"title": "", "text": "", "url": "", **(data or {})},
            headers={**(LAUNCH if headers is None else headers),
                     **({"Cookie": cookie} if cookie else {})},
            follow_redirects=False, timeout=60,
        )

    def names(self, folder: str) -> list[str]:
        r = self.api.get("/files/list", params={"path": folder})
        if r.status_code == 404:
            return []
        assert r.status_code == 200, r.text
        return sorted(e["name"] for e in r.json()["entries"])

    def content(self, path: str) -> bytes:
        r = self.api.get("/files/content", params={"path": path})
        assert r.status_code == 200, r.text
        return r.content


@pytest.fixture
def phone(server: Server) -> Iterator[Phone]:
    name, token = server.add_user(password=PASSWORD)
    r = httpx.post(server.base_url + "/api/v1/auth/login",
                   json={"username": name, "password": PASSWORD})
    assert r.status_code == 200, r.text
    with server.client(token) as api:
        yield Phone(server, r.cookies["sd_session"], api)


def page_of(r: httpx.Response) -> dict[str, list[str]]:
    assert r.status_code == 303, r.text
    where = urlsplit(r.headers["location"])
    assert where.path == "/share"
    assert r.headers["cache-control"] == "no-store"
    return parse_qs(where.query)


def test_a_share_lands_in_the_inbox_with_its_bytes(phone: Phone) -> None:
    photo, clip = b"\xff\xd8photo" * 1000, b"\x00\x00\x00\x18ftypmp42" * 5000
    r = phone.share([("IMG_0001.jpg", photo), ("VID_0001.mp4", clip)])
    assert page_of(r) == {"to": [INBOX], "f": ["IMG_0001.jpg", "VID_0001.mp4"]}
    assert phone.names(INBOX) == ["IMG_0001.jpg", "VID_0001.mp4"]
    assert phone.content(f"{INBOX}/IMG_0001.jpg") == photo
    assert phone.content(f"{INBOX}/VID_0001.mp4") == clip


def test_a_share_never_replaces_a_file(phone: Phone) -> None:
    assert page_of(phone.share([("a.jpg", b"first")]))["f"] == ["a.jpg"]
    assert page_of(phone.share([("a.jpg", b"second")]))["f"] == ["a (2).jpg"]
    assert phone.content(f"{INBOX}/a.jpg") == b"first"
    assert phone.content(f"{INBOX}/a (2).jpg") == b"second"


def test_the_chosen_folder_takes_the_share(phone: Phone) -> None:
    assert phone.api.post("/files/mkdir", json={"path": "/Photos/Trip é"}).status_code == 201
    chosen = {"sd_share_to": quote("/Photos/Trip é", safe="")}
    r = phone.share([("beach.jpg", b"sand")], cookies=chosen)
    assert page_of(r) == {"to": ["/Photos/Trip é"], "f": ["beach.jpg"]}
    assert phone.content("/Photos/Trip é/beach.jpg") == b"sand"
    assert phone.names(INBOX) == []


@pytest.mark.parametrize("cookie", ["%2FGone", "%2Fnote.txt", "not-a-path", "%2F..%2Fx"])
def test_a_chosen_folder_that_cannot_take_it_falls_back_to_the_inbox(
        phone: Phone, cookie: str) -> None:
    assert phone.api.put("/files/content", params={"path": "/note.txt"},
                         content=b"x").status_code == 201
    r = phone.share([("p.jpg", b"pixels")], cookies={"sd_share_to": cookie})
    assert page_of(r)["to"] == [INBOX]
    assert phone.content(f"{INBOX}/p.jpg") == b"pixels"


def test_names_are_reduced_to_their_last_segment(phone: Phone) -> None:
    r = phone.share([("../../etc/passwd", b"1"), ("dir\\..\\x.jpg", b"2"), ("..", b"3")])
    assert page_of(r)["f"] == ["passwd", "x.jpg", "shared file"]
    assert phone.names(INBOX) == ["passwd", "shared file", "x.jpg"]
    assert phone.names("/") == [INBOX[1:]]


def test_a_share_without_files_says_so(phone: Phone) -> None:
    r = phone.share([], data={"url": "https://example.com/"})
    assert page_of(r) == {"to": [INBOX], "error": ["nofiles"]}
    assert phone.names("/") == []


def test_the_page_of_the_app_itself_may_post(phone: Phone) -> None:
    same = {"Origin": phone.server.base_url, "Sec-Fetch-Site": "same-origin"}
    assert page_of(phone.share([("s.jpg", b"s")], headers=same))["f"] == ["s.jpg"]
    assert page_of(phone.share([("t.jpg", b"t")], headers={}))["f"] == ["t.jpg"]  # old browser
    # a form of the app's own pages: no-referrer makes its Origin null
    null = {"Origin": "null", "Sec-Fetch-Site": "same-origin"}
    assert page_of(phone.share([("u.jpg", b"u")], headers=null))["f"] == ["u.jpg"]


def test_without_a_session_nothing_is_stored(phone: Phone) -> None:
    r = phone.share([("x.jpg", b"x")], signed_in=False)
    assert page_of(r) == {"error": ["signin"]}
    r = phone.share([("x.jpg", b"x")], cookies={"sd_session": "sds_forged"}, signed_in=False)
    assert page_of(r) == {"error": ["signin"]}
    assert phone.names("/") == []


@pytest.mark.parametrize("headers", [
    {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
    {"Sec-Fetch-Site": "cross-site", "Origin": "null"},  # a sandboxed frame of another site
    {"Sec-Fetch-Site": "same-site", "Origin": "http://other.127.0.0.1.nip.io"},
    {"Origin": "https://evil.example"},  # a browser without fetch metadata
    {"Origin": "null"},  # null only with fetch metadata that vouches for it
    {"Sec-Fetch-Site": "same-site", "Origin": "null"},
    {"Sec-Fetch-Site": "none", "Origin": "https://evil.example"},
])
def test_a_forged_share_stores_nothing(phone: Phone, headers: dict[str, str]) -> None:
    r = phone.share([("pwned.jpg", b"x")], headers=headers)
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "csrf"
    assert phone.names("/") == []


def test_a_share_over_the_quota_says_so_and_keeps_what_fitted(server: Server) -> None:
    name, token = server.add_user(password=PASSWORD, quota="1MB")
    r = httpx.post(server.base_url + "/api/v1/auth/login",
                   json={"username": name, "password": PASSWORD})
    with server.client(token) as api:
        p = Phone(server, r.cookies["sd_session"], api)
        r = p.share([("small.jpg", b"s" * 1000), ("big.mp4", b"b" * 2_000_000)])
        q = page_of(r)
        assert q["f"] == ["small.jpg"] and q["error"] == ["quota_exceeded"]
        assert p.names(INBOX) == ["small.jpg"]
