"""Crash harness: an acknowledged upload survives the server being killed.

The server is SIGKILLed while uploads are in flight, then restarted on the same
data dir; every upload that got a 2xx must read back byte for byte, and no
file may refer to a missing block.  Uploads cut off by the kill must leave
either the old revision or none, never a torn file.
"""

from __future__ import annotations

import hashlib
import os
import random
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import Server

pytestmark = pytest.mark.slow


def _uploader(srv: Server, token: str, worker: int, acked: dict[str, str],
              stop: threading.Event) -> None:
    rng = random.Random(worker)
    n = 0
    with srv.client(token) as c:
        while not stop.is_set():
            size = rng.choice([0, 1, 5000, 300_000, 1_500_000, 5_000_000])
            data = os.urandom(size)
            path = f"/w{worker}/f{n % 7}.bin"  # rewrite the same paths: new revisions
            n += 1
            try:
                r = c.put("/files/content", params={"path": path}, content=data)
            except httpx.HTTPError:
                return  # the server died mid-request: this upload was never acknowledged
            if r.status_code == 201:
                acked[path] = hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("cycle", range(3))
def test_kill_during_uploads_loses_nothing_acknowledged(tmp_path: Path, cycle: int) -> None:
    srv = Server(data_dir=tmp_path / "data")
    srv.start()
    token = srv.token()
    acked: dict[str, str] = {}
    stop = threading.Event()
    workers = [threading.Thread(target=_uploader, args=(srv, token, w, acked, stop))
               for w in range(3)]
    for w in workers:
        w.start()
    time.sleep(1.5 + cycle)
    srv.kill()
    stop.set()
    for w in workers:
        w.join(timeout=30)
    assert acked, "the harness acknowledged no upload before the kill"
    srv.start()
    try:
        with srv.client(token) as c:
            for path, digest in acked.items():
                r = c.get("/files/content", params={"path": path})
                assert r.status_code == 200, (path, r.text)
                # The newest acknowledged revision or a later one that was
                # committed just before the kill (its 201 was lost): both are whole.
                revs = c.get("/files/list_revisions", params={"path": path}).json()
                whole = [hashlib.sha256(c.get("/files/content", params={
                    "path": path, "rev": rev["rev"]}).content).hexdigest()
                    for rev in revs["revisions"][:3]]
                assert digest in whole, path
            for folder in c.get("/files/list", params={"path": "/"}).json()["entries"]:
                for entry in c.get("/files/list", params={"path": folder["path"]}).json()[
                        "entries"]:
                    body = c.get("/files/content", params={"path": entry["path"]}).content
                    assert len(body) == entry["size"]
    finally:
        srv.stop()
