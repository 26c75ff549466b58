"""Fixtures for the WebDAV tests: a user who speaks WebDAV, and the tools.

A *DAV user* is a fresh user of the real server with an account password and
a device token.  `dav` talks to that user's ``/dav/`` tree with HTTP Basic
auth; `rest` is the same user's REST client, the witness of what a WebDAV
request really did (revisions, the trash, the quota).  `need_tool` finds a
third-party client (litmus, rclone, davfs2) or skips on a bare laptop; under
SELFDRIVE_REQUIRE_EXTERNAL=1 (CI) a missing tool fails instead.
"""

from __future__ import annotations

import os
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.conftest import Server, require_external

DAV_PASSWORD = "dav-password-1"
# Where Debian puts the tools; CI's PATH may lack the sbin folders (mount.davfs).
TOOL_PATH = os.pathsep.join(
    [os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin", "/sbin"])


@dataclass(frozen=True)
class DavUser:
    name: str
    password: str
    token: str
    url: str  # the user's WebDAV root, ending in "/dav/"


def new_dav_user(server: Server, quota: str | None = None) -> DavUser:
    name, token = server.add_user(quota=quota, password=DAV_PASSWORD)
    return DavUser(name, DAV_PASSWORD, token, server.base_url + "/dav/")


def dav_client(user: DavUser) -> httpx.Client:
    """Basic auth with the account password; relative URLs resolve under /dav/."""
    return httpx.Client(base_url=user.url, auth=(user.name, user.password), timeout=60)


@pytest.fixture
def dav_user(server: Server) -> DavUser:
    return new_dav_user(server)


@pytest.fixture
def dav(dav_user: DavUser) -> Iterator[httpx.Client]:
    with dav_client(dav_user) as client:
        yield client


@pytest.fixture
def rest(server: Server, dav_user: DavUser) -> Iterator[httpx.Client]:
    with server.client(dav_user.token) as client:
        yield client


def need_tool(command: str, package: str) -> str:
    """The tool's full path; skip (or fail under CI) when it is not installed."""
    found = shutil.which(command, path=TOOL_PATH)
    if found is None:
        missing = f"{command} is not installed (apt-get install {package})"
        if require_external():
            pytest.fail(missing)
        pytest.skip(missing)
    return found


# --- the REST witness ----------------------------------------------------------

def tree(rest: httpx.Client, folder: str = "/") -> dict[str, dict[str, object]]:
    """Every entry under a folder, at any depth, by path (the recursive listing)."""
    entries: dict[str, dict[str, object]] = {}
    after: str | None = None
    while True:
        params: dict[str, str | int] = {"path": folder, "recursive": "true", "limit": 10_000}
        if after is not None:
            params["after"] = after
        r = rest.get("/files/list", params=params)
        assert r.status_code == 200, r.text
        page = r.json()
        entries.update({e["path"]: e for e in page["entries"]})
        after = page["next_after"]
        if after is None:
            return entries


def revisions(rest: httpx.Client, path: str) -> list[tuple[int, str]]:
    """A file's (rev, content_hash), newest first."""
    r = rest.get("/files/list_revisions", params={"path": path, "limit": 100})
    assert r.status_code == 200, f"{path}: {r.status_code} {r.text}"
    return [(x["rev"], x["content_hash"]) for x in r.json()["revisions"]]


def trash_paths(rest: httpx.Client) -> list[str]:
    r = rest.get("/trash")
    assert r.status_code == 200, r.text
    return [e["path"] for e in r.json()["entries"]]


def used_bytes(rest: httpx.Client) -> int:
    return int(rest.get("/me").json()["used_bytes"])


# --- reading WebDAV answers --------------------------------------------------------

DAV_NS = "{DAV:}"


def status_code(status_line: str) -> int:
    """ "HTTP/1.1 507 Insufficient Storage" -> 507."""
    return int(status_line.split()[1])


def prop_statuses(body: bytes) -> dict[str, int]:
    """The status of each property in a one-resource Multi-Status (PROPPATCH's
    answer), by Clark name ``{ns}local``."""
    statuses: dict[str, int] = {}
    for propstat in ET.fromstring(body).iter(DAV_NS + "propstat"):
        code = status_code(propstat.findtext(DAV_NS + "status", ""))
        for prop in propstat.iterfind(DAV_NS + "prop"):
            statuses.update({child.tag: code for child in prop})
    return statuses


def dead_props(dav: httpx.Client, path: str, ns: str) -> dict[str, str]:
    """The properties in namespace `ns` that PROPFIND allprop shows on `path`."""
    r = dav.request("PROPFIND", path, headers={"Depth": "0"},
                    content=b'<?xml version="1.0"?><propfind xmlns="DAV:"><allprop/></propfind>')
    assert r.status_code == 207, f"PROPFIND {path}: {r.status_code} {r.text[:500]}"
    found: dict[str, str] = {}
    for propstat in ET.fromstring(r.content).iter(DAV_NS + "propstat"):
        if status_code(propstat.findtext(DAV_NS + "status", "")) != 200:
            continue
        for prop in propstat.iterfind(DAV_NS + "prop"):
            found.update({c.tag: c.text or "" for c in prop if c.tag.startswith("{" + ns + "}")})
    return found
