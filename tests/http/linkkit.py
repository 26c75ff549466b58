"""What the public link tests share: a user with a client, a fresh folder
each, and GETs sent byte for byte."""

from __future__ import annotations

import http.client
import time
from dataclasses import dataclass

import httpx

from tests.conftest import Server

PASSWORD = "correct horse battery"


@dataclass
class Person:
    name: str
    c: httpx.Client

    def put(self, path: str, data: bytes) -> None:
        r = self.c.put("/files/content", params={"path": path}, content=data)
        assert r.status_code == 201, r.text

    def link(self, path: str, **options: object) -> dict[str, object]:
        r = self.c.post("/links", json={"path": path, **options})
        assert r.status_code == 201, r.text
        return dict(r.json())

    def names(self, path: str) -> list[str]:
        r = self.c.get("/files/list", params={"path": path})
        assert r.status_code == 200, r.text
        return [e["name"] for e in r.json()["entries"]]


def new_folder(alice: Person, name: str) -> str:
    """A fresh folder of Alice's, unique to the test."""
    path = f"/{name}-{time.monotonic_ns()}"
    assert alice.c.post("/files/mkdir", json={"path": path}).status_code == 201
    return path


def raw_get(server: Server, target: str) -> tuple[int, bytes]:
    """A GET with the request target sent exactly as given (no client normalisation)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.putrequest("GET", target, skip_accept_encoding=True)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()
