"""Prometheus metrics: what the server did and what it holds (docs/monitoring.md).

Each app has its own `Metrics` with its own registry (never prometheus-client's
global one), so several apps in one process do not share counters.  Two kinds
of figures:

- *request figures*, counted by `accesslog.Observer` once per request when it
  ends (by route template, method and status; never by raw path), plus the
  uploads in flight and the time writers wait for SQLite's write lock;
- *state figures*, read at scrape time by `StateCollector`: long-poll waiters,
  the last maintenance run, and the store's totals.  The totals are full-table
  sums, kept by the runtime's `StoreStatsCache` (store/meta/stats.py, shared
  with the admin page): a scrape takes them up to `STATS_MIN_AGE_S` old, and
  longer on a big store, where counting costs.

Where: ``GET /metrics`` on the main port for admins (Bearer token), or with
``[metrics] port`` on a listener of its own (`MetricsListener`), without auth.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from selfdrive.core.errors import Forbidden, NotFound
from selfdrive.http.accesslog import Observer
from selfdrive.http.endpoint import authenticate
from selfdrive.http.errors import error_response
from selfdrive.services.backup_targets import Target
from selfdrive.services.runtime import Runtime
from selfdrive.store.meta.stats import StoreStatsCache

log = logging.getLogger("selfdrive.metrics")

PATH = "/metrics"

#: request latency buckets (seconds): small calls to the long poll's 120 s
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                   10.0, 30.0, 60.0, 120.0)
#: write-lock wait buckets (seconds): usually none, a commit's fsync, a GC batch
LOCK_WAIT_BUCKETS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                     0.5, 1.0, 2.5, 5.0, 10.0)

#: methods kept as a label value; any other (a client may send anything) is "other"
METHODS = frozenset({
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS",
    "PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK",
})

#: (method, route) of the requests that carry a file's content: streamed and
#: form uploads, tus creation-with-upload and PATCH (also through
#: X-HTTP-Method-Override), single blocks, file drops, WebDAV PUT
UPLOADS = frozenset({
    ("PUT", "/api/v1/files/content"),
    ("POST", "/api/v1/files/upload"),
    ("POST", "/api/v1/uploads"),
    ("PATCH", "/api/v1/uploads/{token}"),
    ("POST", "/api/v1/uploads/{token}"),
    ("PUT", "/api/v1/blocks/{block_id}"),
    ("POST", "/s/{token}/upload"),
    ("PUT", "/dav"),
})

#: a scrape takes the store's totals up to this old (seconds)
STATS_MIN_AGE_S = 30.0


def method_label(method: str) -> str:
    return method if method in METHODS else "other"


class StateCollector(Collector):
    """Figures read from the runtime at scrape time (O(1) each)."""

    def __init__(self, runtime: Runtime, stats: StoreStatsCache) -> None:
        self.runtime = runtime
        self.stats = stats

    def collect(self) -> Iterable[Metric]:
        yield GaugeMetricFamily(
            "selfdrive_longpoll_waiters", "Long polls (GET /changes/wait) waiting now",
            value=self.runtime.changes.waiting)
        yield from self._maintenance()
        yield from self._backup()
        yield from self._store()

    def _maintenance(self) -> Iterable[Metric]:
        m = self.runtime.maintenance
        runs = CounterMetricFamily(
            "selfdrive_gc_runs", "Background maintenance runs (trash expiry, revision"
            " thinning, GC) since start, by result", labels=["result"])
        runs.add_metric(["ok"], m.runs_ok)
        runs.add_metric(["error"], m.runs_failed)
        yield runs
        last = m.last_run
        if last is None:
            return
        report = last.report
        for name, doc, value in (
            ("selfdrive_gc_last_run_timestamp_seconds",
             "When the last successful maintenance run ended (Unix time)",
             last.finished_ms / 1000),
            ("selfdrive_gc_last_run_duration_seconds",
             "How long the last successful maintenance run took", last.duration_s),
            ("selfdrive_gc_last_run_blocks_freed",
             "Blocks (unreferenced and orphaned) the last run deleted",
             report.blocks_freed + report.orphans_freed),
            ("selfdrive_gc_last_run_bytes_freed",
             "Stored bytes the last run freed", report.bytes_freed + report.orphan_bytes_freed),
            ("selfdrive_gc_last_run_trash_entries_purged",
             "Trash entries the last run purged", report.trash_entries_purged),
            ("selfdrive_gc_last_run_revisions_thinned",
             "Old revisions the last run removed by the retention policy",
             report.revisions_thinned),
        ):
            yield GaugeMetricFamily(name, doc, value=value)

    def _backup(self) -> Iterable[Metric]:
        """The backup loop's figures (services/backup.py), kept by the loop
        itself, one series per target (``primary``, ``replica``)."""
        b = self.runtime.backup
        if not b.configured:
            return
        gauges: list[tuple[str, str, Callable[[Target], float]]] = [
            ("selfdrive_backup_pending_blocks", "Blocks not yet copied to the backup bucket",
             lambda t: b.pending_of(t.name).blocks),
            ("selfdrive_backup_pending_bytes",
             "Stored bytes of the blocks not yet copied to the backup bucket",
             lambda t: b.pending_of(t.name).bytes),
            ("selfdrive_backup_up",
             "1 if the last try to reach the backup bucket worked, else 0",
             lambda t: int(t.healthy)),
        ]
        for name, doc, value_of in gauges:
            gauge = GaugeMetricFamily(name, doc, labels=["target"])
            for target in b.targets:
                gauge.add_metric([target.name], value_of(target))
            yield gauge
        counters: list[tuple[str, str, Callable[[Target], float]]] = [
            ("selfdrive_backup_uploaded_blocks", "Blocks copied to the backup bucket since start",
             lambda t: t.uploaded_blocks),
            ("selfdrive_backup_uploaded_bytes",
             "Bytes of the blocks copied to the backup bucket since start",
             lambda t: t.uploaded_bytes),
            ("selfdrive_backup_failed_uploads",
             "Block copies that failed since start (they are tried again)",
             lambda t: t.failures),
        ]
        for name, doc, count_of in counters:
            counter = CounterMetricFamily(name, doc, labels=["target"])
            for target in b.targets:
                counter.add_metric([target.name], count_of(target))
            yield counter
        if b.last_snapshot_ms is not None:
            yield GaugeMetricFamily(
                "selfdrive_backup_last_snapshot_timestamp_seconds",
                "When the newest metadata snapshot was uploaded (Unix time)",
                value=b.last_snapshot_ms / 1000)
        usage = self.runtime.cold.last_usage  # the cold tier's loop keeps it (docs/backup.md)
        if usage is not None:
            for name, doc, value in (
                ("selfdrive_cold_tier_blocks", "Blocks only in the backup buckets (cold tier)",
                 usage.cold_blocks),
                ("selfdrive_cold_tier_bytes", "Stored bytes of the blocks in the cold tier",
                 usage.cold_bytes),
                ("selfdrive_local_block_bytes", "Stored bytes of the blocks on the local disk",
                 usage.local_bytes),
            ):
                yield GaugeMetricFamily(name, doc, value=value)

    def _store(self) -> Iterable[Metric]:
        s = self.stats.stats
        if s is None:
            return
        for name, doc, value in (
            ("selfdrive_store_blocks", "Blocks stored (each once, however often used)",
             s.blocks),
            ("selfdrive_store_block_bytes", "Plaintext bytes of the stored blocks",
             s.block_bytes),
            ("selfdrive_store_stored_bytes",
             "Bytes the block files take (compressed, encrypted, with headers)", s.stored_bytes),
            ("selfdrive_store_logical_bytes",
             "Bytes of every revision (live, old, in the trash): the size without dedup",
             s.logical_bytes),
            ("selfdrive_store_used_bytes",
             "Bytes of the current revisions of live files (what quotas count)", s.used_bytes),
            ("selfdrive_store_dedup_ratio",
             "Logical bytes over block bytes (1: no sharing)", s.dedup_ratio),
            ("selfdrive_store_stats_duration_seconds",
             "How long counting these store totals took", self.stats.took_s),
        ):
            yield GaugeMetricFamily(name, doc, value=value)


class Metrics:
    """The metrics of one app; `accesslog.Observer` feeds the request figures."""

    def __init__(self, runtime: Runtime) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        r = self.registry
        self.requests = Counter(
            "selfdrive_http_requests", "HTTP requests, by route template, method and status",
            ["route", "method", "status"], registry=r)
        self.duration = Histogram(
            "selfdrive_http_request_duration_seconds",
            "Time from the request's start to the end of its response, by route",
            ["route", "method"], buckets=LATENCY_BUCKETS, registry=r)
        self.bytes_in = Counter(
            "selfdrive_http_request_bytes", "Request body bytes received, by route",
            ["route"], registry=r)
        self.bytes_out = Counter(
            "selfdrive_http_response_bytes", "Response body bytes sent, by route",
            ["route"], registry=r)
        self.in_flight = Gauge(
            "selfdrive_http_requests_in_flight", "Requests being served now", registry=r)
        self.uploads = Gauge(
            "selfdrive_uploads_in_progress",
            "Uploads (requests that carry file content) being received now, by route",
            ["route"], registry=r)
        self.lock_wait = Histogram(
            "selfdrive_db_write_lock_wait_seconds",
            "Time each database write transaction waited for the one writer",
            buckets=LOCK_WAIT_BUCKETS, registry=r)
        #: the labelled children of one (route, method, status); bounded, as
        #: routes, METHODS and statuses are
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram, Counter, Counter]] = {}
        self.store = runtime.store_stats
        r.register(StateCollector(runtime, self.store))
        runtime.db.on_write_wait = self.lock_wait.observe

    def observe(self, route: str, method: str, status: int, bytes_in: int, bytes_out: int,
                duration_s: float) -> None:
        """One finished request."""
        key = (route, method_label(method), status)
        children = self._children.get(key)
        if children is None:  # labels() costs a few microseconds: once per key
            children = self._children[key] = (
                self.requests.labels(route, key[1], str(status)),
                self.duration.labels(route, key[1]),
                self.bytes_in.labels(route), self.bytes_out.labels(route))
        requests, duration, received, sent = children
        requests.inc()
        duration.observe(duration_s)
        if bytes_in:
            received.inc(bytes_in)
        if bytes_out:
            sent.inc(bytes_out)

    def is_upload(self, method: str, route: str) -> bool:
        return (method, route) in UPLOADS

    async def scrape(self) -> Response:
        await self.store.get(STATS_MIN_AGE_S)
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


async def metrics_endpoint(request: Request) -> Response:
    """``GET /metrics`` on the main port: for admins only."""
    runtime: Runtime = request.app.state.runtime
    who = await authenticate(request, runtime)
    if not who.is_admin:
        raise Forbidden("the metrics are for administrators")
    metrics: Metrics = request.app.state.metrics
    return await metrics.scrape()


class MetricsListener:
    """Requests that arrive on ``[metrics] port`` get the metrics, without auth,
    and nothing else (404); requests on the other ports pass by untouched."""

    def __init__(self, app: ASGIApp, port: int, metrics: Metrics) -> None:
        self.app = app
        self.port = port
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = scope.get("server") or (None, None)
        if scope["type"] != "http" or server[1] != self.port:
            await self.app(scope, receive, send)
            return
        if scope["path"] != PATH:
            response = error_response(404, NotFound.code, f"this port serves only {PATH}")
        elif scope["method"] not in ("GET", "HEAD"):
            response = error_response(405, "method_not_allowed", f"{PATH} answers GET",
                                      {"Allow": "GET, HEAD"})
        else:
            scope["endpoint"] = metrics_endpoint  # the access log's route: /metrics
            response = await self.metrics.scrape()
        await response(scope, receive, send)


def middleware(runtime: Runtime, metrics: Metrics | None,
               routes: Sequence[BaseRoute]) -> list[Middleware]:
    """The `Observer` (when there are metrics or an access log) and, with
    ``[metrics] port``, the `MetricsListener`; *routes* are the app's, complete."""
    out: list[Middleware] = []
    access_log = runtime.config.log.access
    if metrics is not None or access_log:
        out.append(Middleware(Observer, metrics=metrics, access_log=access_log,
                              routes=route_templates(routes), clock=runtime.clock))
    if metrics is not None and runtime.config.metrics.port:
        out.append(Middleware(MetricsListener, port=runtime.config.metrics.port,
                              metrics=metrics))
    return out


def route_templates(routes: Sequence[BaseRoute]) -> dict[object, str]:
    """Each route's template by the endpoint Starlette's router leaves in the
    scope (``scope["endpoint"]``: a Route's endpoint, a Mount's app)."""
    out: dict[object, str] = {metrics_endpoint: PATH}
    for route in routes:
        if isinstance(route, Route):
            out[route.endpoint] = route.path
        elif isinstance(route, Mount):
            out[route.app] = route.path
    return out
