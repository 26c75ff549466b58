"""Disaster recovery end to end, with the real server, the real CLI and a
real S3 server: users, a share, files with revisions and a trash entry are
backed up, the data dir is deleted, and `selfdrive restore --from-backup`
rebuilds a server that serves all of it byte for byte, fsck clean: from
the replica while the primary bucket is down, and from the primary."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import httpx

from tests.backup.conftest import backup_env, replica_env
from tests.backup.s3proxy import S3FaultProxy
from tests.conftest import S3Server, Server, cli

PASSPHRASE = "correct horse battery staple"


def everything(server: Server, tokens: dict[str, str]) -> dict[str, Any]:
    """What each user sees: tree, every revision's bytes, trash, shares."""
    seen: dict[str, Any] = {}
    for name, token in tokens.items():
        with server.client(token) as c:
            r = c.get("/files/list", params={"path": "/", "recursive": "true"})
            assert r.status_code == 200, r.text
            entries = [(e["path"], e["kind"], e.get("size")) for e in r.json()["entries"]]
            revisions = {}
            for path, kind, _ in entries:
                if kind != "file":
                    continue
                revs = c.get("/files/list_revisions", params={"path": path}).json()
                revisions[path] = [
                    c.get("/files/content", params={"path": path, "rev": rev["rev"]}).content
                    for rev in revs["revisions"]]
            trash = [(t["path"], t["kind"], t["size"]) for t in c.get("/trash").json()["entries"]]
            shares = c.get("/shares").json()
        seen[name] = {"tree": entries, "revisions": revisions, "trash": trash,
                      "shares": shares}
    return seen


def test_restore_from_the_bucket_alone(s3_server: S3Server, proxy: S3FaultProxy,
                                       tmp_path: Path) -> None:
    first = s3_server.create_bucket()
    env = {**backup_env(s3_server.url, first),
           **replica_env(s3_server.url, s3_server.create_bucket())}
    (tmp_path / "old").mkdir()
    (tmp_path / "new").mkdir()
    old = Server(data_dir=tmp_path / "old" / "data", env=env)
    old.start()
    try:
        _, alice = old.add_user("alice")
        _, bob = old.add_user("bob")
        big = os.urandom(1_500_000)  # more than one block
        with old.client(alice) as a:
            for body in (b"first draft", b"second draft", b"final"):
                assert a.put("/files/content", params={"path": "/docs/report.txt"},
                             content=body).status_code == 201
            assert a.put("/files/content", params={"path": "/photos/big.bin"},
                         content=big).status_code == 201
            assert a.put("/files/content", params={"path": "/old.txt"},
                         content=b"to the trash").status_code == 201
            assert a.post("/files/delete", json={"path": "/old.txt"}).status_code == 200
            assert a.post("/shares", json={"path": "/docs", "user": "bob",
                                           "role": "editor"}).status_code == 201
        with old.client(bob) as b:
            assert b.put("/files/content", params={"path": "/mine.txt"},
                         content=b"bob's own").status_code == 201
        tokens = {"alice": alice, "bob": bob}
        before = everything(old, tokens)
        assert before["alice"]["trash"] and before["bob"]["shares"]["shared_with_me"]

        now = cli("backup", "now", data=old.data_dir, env=env)
        assert "snapshot" in now.stdout and "0 blocks pending" in now.stdout
        status = cli("backup", "status", data=old.data_dir, env=env).stdout
        assert status.count("pending: 0 blocks") == 2 and status.count("last error: none") == 2
        assert cli("backup", "verify", data=old.data_dir, env=env).returncode == 0
        key_file = tmp_path / "key.json"
        cli("key", "export", "--out", str(key_file), "--passphrase-stdin",
            data=old.data_dir, stdin=PASSPHRASE + "\n")
        admin = old.token()
        for _ in range(100):  # the server's own loop refreshes its figures every 2 s
            r = httpx.get(old.base_url + "/metrics", headers={"Authorization": f"Bearer {admin}"})
            if 'selfdrive_backup_pending_blocks{target="primary"} 0.0' in r.text:
                break
            time.sleep(0.1)
        assert 'selfdrive_backup_pending_blocks{target="primary"} 0.0' in r.text, r.text
        assert "selfdrive_backup_last_snapshot_timestamp_seconds" in r.text
    finally:
        old.stop()
    shutil.rmtree(old.data_dir)  # the disk died

    # the primary region is down too: everything comes from the replica
    proxy.faults.down = True
    env_down = {**env, **backup_env(proxy.url, first)}
    new_data = tmp_path / "new" / "data"
    restored = cli("restore", "--from-backup", "--key-file", str(key_file),
                   "--passphrase-stdin", data=new_data, env=env_down, stdin=PASSPHRASE + "\n")
    assert "restored snapshot" in restored.stdout
    assert "(from the replica bucket)" in restored.stdout, restored.stdout
    assert "from the primary bucket" not in restored.stdout
    fsck = cli("fsck", data=new_data, check=False)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    again = cli("restore", "--from-backup", data=new_data, env=env, check=False)
    assert again.returncode == 1 and "already holds a database" in again.stderr

    new = Server(data_dir=new_data, env=env)
    new.start()
    try:
        assert everything(new, tokens) == before  # the devices' tokens came back too
        assert new.token("alice", "user-password-1")
        with new.client(alice) as a:
            [entry] = a.get("/trash").json()["entries"]
            assert a.post("/trash/restore", json={"id": entry["id"]}).status_code == 200
            assert a.get("/files/content", params={"path": "/old.txt"}).content == (
                b"to the trash")
    finally:
        new.stop()

    # and from the primary, once it is back
    proxy.faults.down = False
    (tmp_path / "again").mkdir()
    again_data = tmp_path / "again" / "data"
    restored = cli("restore", "--from-backup", "--key-file", str(key_file),
                   "--passphrase-stdin", data=again_data, env=env, stdin=PASSPHRASE + "\n")
    assert "(from the primary bucket)" in restored.stdout, restored.stdout
    assert "replica" not in restored.stdout, "every block came from the primary"
    fsck = cli("fsck", data=again_data, check=False)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
