"""The `selfdrive` command: first start, users, errors."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import Server, cli, free_port


def test_first_start_creates_data_dir_key_and_prints_admin_password(tmp_path: Path) -> None:
    data = tmp_path / "fresh" / "data"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "SELFDRIVE_ADMIN_PASSWORD"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "selfdrive", "serve", "--data", str(data), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("Created user 'admin' with password: ")
        password = line.split(": ", 1)[1].strip()
        assert len(password) >= 12
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        r = httpx.post(f"http://127.0.0.1:{port}/api/v1/auth/tokens", json={
            "username": "admin", "password": password, "device_name": "cli-test"})
        assert r.status_code == 201
    finally:
        proc.terminate()
        out = proc.communicate(timeout=30)[0]
    assert password not in out, "the password is printed once only"
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    keys = list((data / "keys").glob("key-*.json"))
    assert len(keys) == 1 and stat.S_IMODE(keys[0].stat().st_mode) == 0o600
    assert (data / "meta.db").exists()
    # A second start finds the user and prints no password.
    proc = subprocess.Popen(
        [sys.executable, "-m", "selfdrive", "serve", "--data", str(data), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    time.sleep(2)
    proc.terminate()
    assert "Created user" not in proc.communicate(timeout=30)[0]


def test_user_add_and_list_while_the_server_runs(server: Server) -> None:
    cli("user", "add", "carol", "--quota", "2GB", "--password-stdin", data=server.data_dir,
        stdin="carol-password\n")
    cli("user", "add", "dave", "--admin", "--password-stdin", data=server.data_dir,
        stdin="dave-password\n")
    listing = cli("user", "list", data=server.data_dir).stdout
    rows = {line.split()[0]: line.split() for line in listing.splitlines()[1:]}
    assert rows["carol"][1] == "no" and rows["dave"][1] == "yes"
    assert "2.0 GB" in " ".join(rows["carol"])
    token = server.token("carol", "carol-password")
    with server.client(token) as c:
        assert c.get("/me").json()["quota_bytes"] == 2_000_000_000


def test_user_add_errors(server: Server) -> None:
    r = cli("user", "add", "admin", "--password-stdin", data=server.data_dir,
            stdin="whatever-password\n", check=False)
    assert r.returncode == 1 and "already exists" in r.stderr
    r = cli("user", "add", "bad name!", "--password-stdin", data=server.data_dir,
            stdin="whatever-password\n", check=False)
    assert r.returncode == 1 and "username" in r.stderr
    r = cli("user", "add", "shortpw", "--password-stdin", data=server.data_dir,
            stdin="short\n", check=False)
    assert r.returncode == 1 and "8 characters" in r.stderr
    r = cli("user", "add", "badquota", "--quota", "lots", "--password-stdin",
            data=server.data_dir, stdin="whatever-password\n", check=False)
    assert r.returncode == 2 and "not a size" in r.stderr


def test_user_set_and_password_while_the_server_runs(server: Server) -> None:
    data = server.data_dir
    name, token = server.add_user(quota="5GB")
    dav_auth = (name, "user-password-1")
    assert httpx.request("PROPFIND", server.base_url + "/dav/", auth=dav_auth,
                         headers={"Depth": "0"}).status_code == 207
    assert "quota 1.0 GB" in cli("user", "set", name, "--quota", "1GB", data=data).stdout
    with server.client(token) as c:
        assert c.get("/me").json()["quota_bytes"] == 1_000_000_000
    # A forgotten password: the console sets a new one; signed-in devices stay.
    cli("user", "password", name, "--password-stdin", data=data, stdin="a-new-password\n")
    r = httpx.post(server.base_url + "/api/v1/auth/tokens", json={
        "username": name, "password": "user-password-1", "device_name": "x"})
    assert r.status_code == 401
    assert httpx.request("PROPFIND", server.base_url + "/dav/", auth=dav_auth,
                         headers={"Depth": "0"}).status_code == 401
    server.token(name, "a-new-password")
    with server.client(token) as c:
        assert c.get("/me").status_code == 200
    # Disabling ends the running server's sessions at once and refuses sign-in.
    assert "disabled" in cli("user", "set", name, "--disable", data=data).stdout
    with server.client(token) as c:
        assert c.get("/me").status_code == 401
    r = httpx.post(server.base_url + "/api/v1/auth/tokens", json={
        "username": name, "password": "a-new-password", "device_name": "x"})
    assert r.status_code in (401, 403)
    rows = {line.split()[0]: line.split() for line in
            cli("user", "list", data=data).stdout.splitlines()[1:]}
    assert rows[name][-1] == "disabled" and rows["admin"][-1] == "active"
    cli("user", "set", name, "--enable", "--admin", data=data)
    token = server.token(name, "a-new-password")
    with server.client(token) as c:
        assert c.get("/me").json()["is_admin"] is True
    cli("user", "set", name, "--no-admin", data=data)


def test_user_set_and_password_errors(tmp_path: Path) -> None:
    server = Server(data_dir=tmp_path / "data")  # "admin" its only admin
    server.start()
    try:
        _user_set_and_password_errors(server)
    finally:
        server.stop()


def _user_set_and_password_errors(server: Server) -> None:
    data = server.data_dir
    r = cli("user", "set", "nobody", "--quota", "1GB", data=data, check=False)
    assert r.returncode == 1 and "no user 'nobody'" in r.stderr
    r = cli("user", "set", "admin", data=data, check=False)
    assert r.returncode == 1 and "nothing to change" in r.stderr
    r = cli("user", "set", "admin", "--admin", "--no-admin", data=data, check=False)
    assert r.returncode == 2
    # the console may not leave the server without an active admin
    r = cli("user", "set", "admin", "--disable", data=data, check=False)
    assert r.returncode == 1 and "no active admin" in r.stderr
    r = cli("user", "set", "admin", "--no-admin", data=data, check=False)
    assert r.returncode == 1 and "no active admin" in r.stderr
    r = cli("user", "password", "admin", "--password-stdin", data=data, stdin="short\n",
            check=False)
    assert r.returncode == 1 and "8 characters" in r.stderr
    r = cli("user", "password", "nobody", "--password-stdin", data=data,
            stdin="long-enough-pw\n", check=False)
    assert r.returncode == 1 and "no user" in r.stderr
    server.token()  # the admin's password is unchanged through all that


def test_config_file_and_flags(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "selfdrive.toml"
    config.write_text(f'data_dir = "{tmp_path / "from-config"}"\n[server]\nport = {port}\n'
                      '[limits]\ndefault_quota_bytes = "3GB"\n')
    srv = Server(data_dir=tmp_path / "from-config", port=port)
    srv.env = {"SELFDRIVE_CONFIG": str(config)}
    srv.start()
    try:
        with srv.client(srv.token()) as c:
            assert c.get("/me").json()["quota_bytes"] == 3_000_000_000
    finally:
        srv.stop()
    bad = tmp_path / "bad.toml"
    bad.write_text("[server]\nprot = 1\n")
    r = cli("user", "list", "--config", str(bad), data=tmp_path / "x", check=False)
    assert r.returncode == 2 and "prot" in r.stderr


def test_gc_runs_beside_the_server_and_reports(server: Server) -> None:
    _, token = server.add_user()
    with server.client(token) as c:
        c.put("/files/content", params={"path": "/g.bin"}, content=os.urandom(100_000))
        c.post("/files/delete", json={"path": "/g.bin"})
        c.post("/trash/purge", json={"all": True})
    out = cli("gc", data=server.data_dir).stdout
    # The purged block is within its grace period: nothing is freed yet.
    assert out.startswith("selfdrive gc: freed 0 blocks (0 bytes)")
    assert "purged 0 trash entries" in out


def test_admin_backup_db_copies_a_running_servers_database(server: Server,
                                                           tmp_path: Path) -> None:
    server.add_user("copied")
    target = tmp_path / "copy.db"
    done = cli("admin", "backup-db", str(target), data=server.data_dir)
    assert "copied" in done.stdout
    conn = sqlite3.connect(target)
    try:
        names = {row[0] for row in conn.execute("SELECT name FROM users")}
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
    assert "copied" in names
    refused = cli("admin", "backup-db", str(server.data_dir / "meta.db"), data=server.data_dir,
                  check=False)
    assert refused.returncode == 1 and "cannot replace the database" in refused.stderr
