"""/metrics against the real server: names and values after known traffic, who
may scrape, and the separate port (docs/monitoring.md)."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Server, free_port

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def scrape(server: Server, token: str) -> Samples:
    r = httpx.get(server.base_url + "/metrics", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=")
    return parse(r.text)


def wait_for(check: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


CONTENT = "/api/v1/files/content"
DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_counts_bytes_and_routes_after_known_traffic(
        server: Server, admin_token: str, api: httpx.Client) -> None:
    before = scrape(server, admin_token)
    bodies = [b"a" * 1000, b"b" * 20_000, b"c" * 300_000]
    for i, body in enumerate(bodies):
        r = api.put("/files/content", params={"path": f"/secret-name-{i}.txt"}, content=body)
        assert r.status_code == 201, r.text
    for i in range(2):
        r = api.get("/files/content", params={"path": f"/secret-name-{i}.txt"})
        assert r.status_code == 200
    assert api.get("/files/content", params={"path": "/missing.txt"}).status_code == 404
    assert api.get("/no-such-route/secret-name").status_code == 404
    r = httpx.get(server.base_url + "/metrics", headers={"Authorization": f"Bearer {admin_token}"})
    text = r.text
    after = parse(text)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    total = "selfdrive_http_requests_total"
    assert delta(total, route=CONTENT, method="PUT", status="201") == 3
    assert delta(total, route=CONTENT, method="GET", status="200") == 2
    assert delta(total, route=CONTENT, method="GET", status="404") == 1
    assert delta(total, route="unmatched", method="GET", status="404") == 1
    assert delta("selfdrive_http_request_duration_seconds_count", route=CONTENT, method="PUT") == 3
    assert delta("selfdrive_http_request_bytes_total", route=CONTENT) >= sum(map(len, bodies))
    assert delta("selfdrive_http_response_bytes_total", route=CONTENT) >= 1000 + 20_000
    # Every upload committed at least one write transaction.
    assert delta("selfdrive_db_write_lock_wait_seconds_count") >= 3
    assert value(after, "selfdrive_longpoll_waiters") == 0
    assert value(after, "selfdrive_http_requests_in_flight") == 1  # this scrape
    # Templates only: no file name and no raw path becomes a label.
    assert "secret-name" not in text and "missing.txt" not in text


def test_waiters_and_uploads_in_progress(
        server: Server, admin_token: str, api: httpx.Client) -> None:
    cursor = api.get("/changes/latest").json()["cursor"]
    answers: list[httpx.Response] = []
    poll = threading.Thread(target=lambda: answers.append(
        api.get("/changes/wait", params={"cursor": cursor, "timeout": 30})))
    poll.start()
    wait_for(lambda: value(scrape(server, admin_token), "selfdrive_longpoll_waiters") == 1,
             "the long poll to be counted")
    # An upload that stops half-way until we let it go on.
    go_on = threading.Event()

    def body() -> Iterator[bytes]:
        yield b"x" * 65536
        go_on.wait(30)
        yield b"y" * 65536

    put = threading.Thread(target=lambda: answers.append(
        api.put("/files/content", params={"path": "/slow.bin"}, content=body())))
    put.start()
    uploading = {"name": "selfdrive_uploads_in_progress", "route": CONTENT}
    wait_for(lambda: value(scrape(server, admin_token), **uploading) == 1,
             "the upload to be counted")
    go_on.set()
    put.join(30)
    poll.join(30)  # the upload rang the poll
    assert sorted(r.status_code for r in answers) == [200, 201]
    wait_for(lambda: value(scrape(server, admin_token), "selfdrive_longpoll_waiters") == 0,
             "the long poll to end")
    assert value(scrape(server, admin_token), **uploading) == 0


def test_only_admins_may_scrape(server: Server) -> None:
    r = httpx.get(server.base_url + "/metrics")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"
    _, token = server.add_user()
    r = httpx.get(server.base_url + "/metrics", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    r = httpx.get(server.base_url + "/metrics", headers={"Authorization": "Bearer sd_wrong"})
    assert r.status_code == 401


@pytest.fixture(scope="module")
def port_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, int]]:
    base = tmp_path_factory.mktemp("metrics-port")
    port = free_port()
    config = base / "selfdrive.toml"
    config.write_text(f"[metrics]\nport = {port}\n\n[maintenance]\ninterval_s = 0.5\n")
    srv = Server(data_dir=base / "data", env={"SELFDRIVE_CONFIG": str(config)})
    srv.start()
    yield srv, port
    srv.stop()


def test_a_port_of_its_own_serves_metrics_without_auth(port_server: tuple[Server, int]) -> None:
    server, port = port_server
    _, token = server.add_user()
    with server.client(token) as c:
        content = b"the same bytes twice " * 1000
        for name in ("one", "two"):  # the second is a dedup: no new block
            assert c.put("/files/content", params={"path": f"/{name}"},
                         content=content).status_code == 201
    # Not on the main port, not even for an admin.
    r = httpx.get(server.base_url + "/metrics",
                  headers={"Authorization": f"Bearer {server.token()}"})
    assert r.status_code == 404
    metrics_url = f"http://127.0.0.1:{port}"
    assert httpx.get(metrics_url + "/healthz").status_code == 404
    assert httpx.get(metrics_url + "/api/v1/me").status_code == 404
    assert httpx.post(metrics_url + "/metrics").status_code == 405

    def scraped() -> Samples:
        r = httpx.get(metrics_url + "/metrics")
        assert r.status_code == 200
        return parse(r.text)

    samples = scraped()
    assert value(samples, "selfdrive_store_logical_bytes") == 2 * len(content)
    assert value(samples, "selfdrive_store_block_bytes") == len(content)
    assert value(samples, "selfdrive_store_blocks") >= 1
    assert value(samples, "selfdrive_store_dedup_ratio") == 2.0
    assert 0 < value(samples, "selfdrive_store_stored_bytes") < len(content)  # zstd
    # Maintenance runs every half second here: its last run shows.
    wait_for(lambda: value(scraped(), "selfdrive_gc_runs_total", result="ok") >= 1,
             "a maintenance run")
    samples = scraped()
    assert value(samples, "selfdrive_gc_last_run_timestamp_seconds") > time.time() - 60
    assert value(samples, "selfdrive_gc_last_run_duration_seconds") >= 0
    assert ("selfdrive_gc_last_run_blocks_freed", frozenset()) in samples
    assert value(samples, "selfdrive_gc_runs_total", result="error") == 0
    # The scrapes on that port are requests too.
    assert value(samples, "selfdrive_http_requests_total", route="/metrics", method="GET",
                 status="200") >= 2
    # Every metric the docs and the Grafana dashboard name is one the server has.
    r = httpx.get(metrics_url + "/metrics")
    exported = {name for family in text_string_to_metric_families(r.text)
                for name in (family.name, *(s.name for s in family.samples))}
    for doc in (DOCS / "monitoring.md", DOCS / "grafana-dashboard.json"):
        named = set(re.findall(r"selfdrive_[a-z_]+[a-z]", doc.read_text()))
        assert named and named <= exported, (doc.name, named - exported)
    json.loads((DOCS / "grafana-dashboard.json").read_text())


def test_metrics_can_be_turned_off(tmp_path: Path) -> None:
    server = Server(data_dir=tmp_path / "data", env={"SELFDRIVE_METRICS_ENABLED": "false"})
    server.start()
    try:
        r = httpx.get(server.base_url + "/metrics",
                      headers={"Authorization": f"Bearer {server.token()}"})
        assert r.status_code == 404
    finally:
        server.stop()
