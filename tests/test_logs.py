"""The server's logs: one access line per request, text or JSON, never a secret;
the level; the maintenance loop's lines (selfdrive/logs.py, http/accesslog.py)."""

from __future__ import annotations

import base64
import io
import json
import logging
import re
import secrets as secrets_
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from selfdrive.config import ConfigError, LogConfig
from selfdrive.logs import HANDLER_NAME, JsonFormatter, TextFormatter, check, setup
from tests.conftest import ADMIN_PASSWORD, Server, cli

TEXT_ACCESS = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO selfdrive\.access: "
    r"(?P<client>\S+) (?P<method>[A-Z]+) (?P<route>\S+) (?P<status>\d{3}) (?P<bytes>\d+)B "
    r"(?P<ms>\d+\.\d)ms user=(?P<user>\d+|-)$")
PASSWORD = "user-password-for-logs"
QUERY_SECRET = "query-secret-0123456789"


def start(tmp_path: Path, **env: str) -> Server:
    tmp_path.mkdir(exist_ok=True)  # the log goes beside the data dir
    server = Server(data_dir=tmp_path / "data", env=env)
    server.start()
    return server


def log_lines(server: Server, offset: int) -> list[str]:
    assert server.log is not None
    return server.log.read_bytes()[offset:].decode().splitlines()


def traffic(server: Server) -> tuple[list[tuple[str, str, int]], list[str], int]:
    """Requests whose access lines we know: (method, route, status) each, in
    order; the secrets they carried; the log's size before them."""
    # The CLI adds the user, so that the one request before ours is the token's
    # (Server.add_user would also ask for an admin token and call the admin API).
    name = "u" + secrets_.token_hex(4)
    cli("user", "add", name, "--password-stdin", data=server.data_dir, stdin=PASSWORD + "\n")
    token = server.token(name, PASSWORD)
    assert server.log is not None
    # Its token's line is written by a thread: wait for it, so it is not ours.
    deadline = time.monotonic() + 10
    while "/api/v1/auth/tokens" not in server.log.read_text():
        assert time.monotonic() < deadline, "no access line for the sign-in"
        time.sleep(0.02)
    offset = server.log.stat().st_size
    expected: list[tuple[str, str, int]] = []
    with server.client(token) as c:
        r = c.put("/files/content", params={"path": "/private-name.txt"}, content=b"x" * 1234)
        assert r.status_code == 201
        expected.append(("PUT", "/api/v1/files/content", 201))
        r = c.get("/files/content", params={"path": "/private-name.txt", "token": QUERY_SECRET})
        assert r.status_code == 400  # an unknown query parameter: still one line
        expected.append(("GET", "/api/v1/files/content", 400))
        r = c.post("/links", json={"path": "/private-name.txt"})
        assert r.status_code == 201, r.text
        link = r.json()["token"]
        expected.append(("POST", "/api/v1/links", 201))
    r = httpx.post(server.base_url + "/api/v1/auth/tokens", json={
        "username": name, "password": PASSWORD, "device_name": "logs"})
    assert r.status_code == 201
    device_token = r.json()["token"]
    expected.append(("POST", "/api/v1/auth/tokens", 201))
    assert httpx.get(f"{server.base_url}/s/{link}/download").status_code == 200
    expected.append(("GET", "/s/{token}/download", 200))
    basic = base64.b64encode(f"{name}:{PASSWORD}".encode()).decode()
    r = httpx.request("PROPFIND", server.base_url + "/dav/private-name.txt",
                      headers={"Authorization": f"Basic {basic}", "Depth": "0"})
    assert r.status_code == 207
    expected.append(("PROPFIND", "/dav", 207))
    assert httpx.get(server.base_url + "/api/v1/me",
                     headers={"Authorization": "Bearer sdt_not-a-real-token"}).status_code == 401
    expected.append(("GET", "/api/v1/me", 401))
    assert httpx.get(server.base_url + "/nowhere/private-name.txt").status_code == 404
    expected.append(("GET", "unmatched", 404))
    secrets = [token, device_token, link, PASSWORD, ADMIN_PASSWORD, basic, QUERY_SECRET,
               "sdt_not-a-real-token", "private-name", "Bearer", "Basic"]
    return expected, secrets, offset


def access_lines(server: Server, offset: int, count: int, json_lines: bool) -> list[str]:
    """The access lines after *offset*, once *count* have been written (a thread
    writes them), and a little longer in case more come."""
    def found() -> list[str]:
        lines = log_lines(server, offset)
        marker = '"logger":"selfdrive.access"' if json_lines else " selfdrive.access: "
        return [line for line in lines if marker in line]

    deadline = time.monotonic() + 10
    while len(found()) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    return found()


def test_text_access_lines(tmp_path: Path) -> None:
    server = start(tmp_path)
    try:
        expected, secrets, offset = traffic(server)
        lines = access_lines(server, offset, len(expected), json_lines=False)
        assert server.log is not None
        text = server.log.read_text()
    finally:
        server.stop()
    parsed = [TEXT_ACCESS.match(line) for line in lines]
    assert all(parsed), lines
    got = [(m["method"], m["route"], int(m["status"])) for m in parsed if m]
    assert got == expected
    by_route = {m["route"]: m for m in parsed if m}
    put = by_route["/api/v1/files/content"]
    assert put["client"] == "127.0.0.1" and put["user"] != "-" and int(put["bytes"]) > 0
    assert by_route["/dav"]["user"] == put["user"]  # WebDAV's Basic auth: the same user
    assert by_route["unmatched"]["user"] == "-"
    for secret in secrets:
        assert secret not in text, f"{secret!r} is in the log"


def test_json_access_lines_and_maintenance(tmp_path: Path) -> None:
    server = start(tmp_path, SELFDRIVE_LOG_FORMAT="json", SELFDRIVE_MAINTENANCE_INTERVAL_S="0.5")
    try:
        expected, secrets, offset = traffic(server)
        lines = access_lines(server, offset, len(expected), json_lines=True)
        deadline = time.monotonic() + 10
        while not any("maintenance: done" in line for line in log_lines(server, 0)):
            assert time.monotonic() < deadline, "no maintenance run was logged"
            time.sleep(0.05)
        all_lines = log_lines(server, 0)
    finally:
        server.stop()
    records = [json.loads(line) for line in lines]
    assert [(r["method"], r["route"], r["status"]) for r in records] == expected
    put = records[0]
    assert put["level"] == "info" and put["logger"] == "selfdrive.access"
    assert put["bytes_in"] == 1234 and put["bytes_out"] > 0 and put["duration_ms"] >= 0
    assert isinstance(put["user_id"], int) and records[-1]["user_id"] is None
    assert put["client"] == "127.0.0.1" and put["time"].endswith("Z")
    assert put["message"].startswith("127.0.0.1 PUT /api/v1/files/content 201 ")
    # Every line parses, but the banner that `serve` prints on standard output.
    others = [line for line in all_lines if not line.startswith("selfdrive ")]
    parsed = [json.loads(line) for line in others]
    runs = [r for r in parsed if r["logger"] == "selfdrive.maintenance"]
    assert any(r["message"].startswith("maintenance: starting") for r in runs)
    done = next(r for r in runs if r["message"].startswith("maintenance: done"))
    assert {"duration_s", "blocks_freed", "trash_entries_purged"} <= set(done)
    # A first start says how to keep a recovery copy of the new key, as a record too.
    assert any(r["level"] == "warning" and "selfdrive key export" in r["message"]
               for r in parsed)
    text = "\n".join(all_lines)
    for secret in secrets:
        assert secret not in text, f"{secret!r} is in the log"


def test_the_level_and_the_access_switch(tmp_path: Path) -> None:
    quiet = start(tmp_path / "quiet", SELFDRIVE_LOG_LEVEL="warning")
    off = start(tmp_path / "off", SELFDRIVE_LOG_ACCESS="false")
    try:
        for server in (quiet, off):
            with server.client(server.token()) as c:
                assert c.get("/me").status_code == 200
        time.sleep(0.5)
        assert quiet.log is not None and off.log is not None
        assert " INFO " not in quiet.log.read_text()  # not even Hypercorn's "Running on"
        assert "selfdrive.access" not in off.log.read_text()
        assert " INFO hypercorn.error: Running on" in off.log.read_text()
    finally:
        quiet.stop()
        off.stop()


def test_a_bad_level_or_format_stops_the_start_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^log\.format: expected one of text, json"):
        check(LogConfig(format="xml"))
    with pytest.raises(ConfigError, match=r"^log\.level: expected one of debug, info"):
        check(LogConfig(level="loud"))
    server = Server(data_dir=tmp_path / "data", env={"SELFDRIVE_LOG_LEVEL": "loud"})
    with pytest.raises(RuntimeError, match="server exited early") as failed:
        server.start()
    assert "selfdrive: log.level: expected one of" in str(failed.value)
    assert "Traceback" not in str(failed.value)


def _record(exc: bool) -> logging.LogRecord:
    info: Any = None
    try:
        raise ValueError("the cause")
    except ValueError:
        if exc:
            info = sys.exc_info()
    record = logging.LogRecord("selfdrive.maintenance", logging.ERROR, __file__, 1,
                               "run failed after %.1f s", (2.5,), info)
    record.fields = {"duration_s": 2.5}
    return record


def test_formatters_write_tracebacks() -> None:
    line = json.loads(JsonFormatter().format(_record(exc=True)))
    assert line["level"] == "error" and line["message"] == "run failed after 2.5 s"
    assert line["duration_s"] == 2.5
    assert line["exc"].startswith("Traceback") and "ValueError: the cause" in line["exc"]
    text = TextFormatter().format(_record(exc=True))
    first, *rest = text.splitlines()
    assert first.endswith(" ERROR selfdrive.maintenance: run failed after 2.5 s")
    assert rest[0].startswith("Traceback") and rest[-1] == "ValueError: the cause"
    assert "exc" not in json.loads(JsonFormatter().format(_record(exc=False)))


def test_setup_writes_through_its_thread() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    try:
        setup(LogConfig(format="json"), stream)
        logging.getLogger("selfdrive.test").info("hello %s", "there",
                                                   extra={"fields": {"n": 1}})
        handler = next(h for h in root.handlers if h.get_name() == HANDLER_NAME)
        handler.close()  # writes out the queue, as logging.shutdown does at exit
        line = json.loads(stream.getvalue())
        assert line["message"] == "hello there" and line["n"] == 1
    finally:
        for h in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
            root.removeHandler(h)
            h.close()
        root.setLevel(level)
