"""A TCP proxy on 127.0.0.1 that counts every byte it forwards, for the wire-byte benchmarks.

Terms: *up* is client -> server, *down* server -> client; a count is TCP payload (for HTTP:
request and status lines, headers, bodies and chunk framing), not TCP/IP headers or the
handshake. With ``http=True`` the proxy also reads both streams as HTTP/1.1 (without
buffering bodies) and sums, per request shape ("PUT /api/v1/blocks/{id}"), how many
requests there were and how many bytes went into heads and into bodies each way.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

BUF = 1 << 20
HEX_ID = re.compile(r"[0-9a-f]{16,}")
NUMBER = re.compile(r"(?<=/)\d+(?=/|$)")


@dataclass
class Shape:
    """Sums for one request shape."""

    requests: int = 0
    req_head: int = 0
    req_body: int = 0
    resp_head: int = 0
    resp_body: int = 0

    @property
    def total(self) -> int:
        return self.req_head + self.req_body + self.resp_head + self.resp_body

    def minus(self, other: Shape) -> Shape:
        return Shape(self.requests - other.requests, self.req_head - other.req_head,
                     self.req_body - other.req_body, self.resp_head - other.resp_head,
                     self.resp_body - other.resp_body)


@dataclass
class Counts:
    up: int = 0
    down: int = 0
    connections: int = 0
    shapes: dict[str, Shape] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.up + self.down

    def minus(self, before: Counts) -> Counts:
        shapes = {}
        for key, s in self.shapes.items():
            d = s.minus(before.shapes.get(key, Shape()))
            if d.requests or d.total:
                shapes[key] = d
        return Counts(self.up - before.up, self.down - before.down,
                      self.connections - before.connections, shapes)


def shape_of(method: str, target: str) -> str:
    """"GET /api/v1/blocks/{id}?base": ids and numbers masked, query values dropped."""
    path, _, query = target.partition("?")
    path = NUMBER.sub("{n}", HEX_ID.sub("{id}", path))
    names = sorted({kv.partition("=")[0] for kv in query.split("&") if kv})
    return f"{method} {path}" + ("?" + "&".join(names) if names else "")


class HttpTap:
    """Reads one direction of an HTTP/1.1 connection incrementally; calls *on_head* with
    (first line, header fields, head bytes) and *on_body* with body bytes as they pass.
    *body_kind* decides, from the head, how the body is framed: ("length", n), ("chunked",),
    ("close",) or ("none",)."""

    def __init__(self, on_head: Callable[[str, dict[str, str], int], tuple[str, ...]],
                 on_body: Callable[[int], None]) -> None:
        self.on_head, self.on_body = on_head, on_body
        self.state = "head"
        self.buf = bytearray()
        self.left = 0
        self.broken = False

    def feed(self, data: bytes | memoryview) -> None:
        if self.broken:
            return
        view = memoryview(data)
        try:
            while len(view):
                view = self._step(view)
        except ValueError:
            self.broken = True  # not HTTP as expected: stop reading it, keep counting bytes

    def _step(self, view: memoryview) -> memoryview:
        if self.state == "head":
            start = max(0, len(self.buf) - 3)
            self.buf += view
            end = self.buf.find(b"\r\n\r\n", start)
            if end < 0:
                if len(self.buf) > 1 << 20:
                    raise ValueError("head over 1 MiB")
                return memoryview(b"")
            head, rest = bytes(self.buf[:end + 4]), bytes(self.buf[end + 4:])
            self.buf = bytearray()
            lines = head.decode("latin-1").split("\r\n")
            fields = {}
            for line in lines[1:]:
                name, sep, value = line.partition(":")
                if sep:
                    fields[name.strip().lower()] = value.strip()
            self._begin(self.on_head(lines[0], fields, len(head)))
            return memoryview(rest)
        if self.state == "length":
            n = min(self.left, len(view))
            self.on_body(n)
            self.left -= n
            if not self.left:
                self.state = "head"
            return view[n:]
        if self.state == "close":
            self.on_body(len(view))
            return memoryview(b"")
        if self.state in ("size", "trailer"):  # a line of chunk framing
            nl = bytes(view[:4096]).find(b"\n")
            if nl < 0:
                self.buf += view
                self.on_body(len(view))
                if len(self.buf) > 4096:
                    raise ValueError("chunk size line too long")
                return memoryview(b"")
            framing = (bytes(self.buf) + bytes(view[:nl])).strip()
            self.buf = bytearray()
            self.on_body(nl + 1)
            if self.state == "trailer":
                if not framing:
                    self.state = "head"
                return view[nl + 1:]
            size = int(framing.split(b";")[0], 16)
            if size == 0:
                self.state = "trailer"
            else:
                self.state, self.left = "chunk", size + 2  # the data and its CRLF
            return view[nl + 1:]
        if self.state == "chunk":
            n = min(self.left, len(view))
            self.on_body(n)
            self.left -= n
            if not self.left:
                self.state = "size"
            return view[n:]
        raise ValueError(self.state)

    def _begin(self, kind: tuple[str, ...]) -> None:
        if kind[0] == "length" and int(kind[1]) > 0:
            self.state, self.left = "length", int(kind[1])
        elif kind[0] in ("chunked", "close"):
            self.state = "size" if kind[0] == "chunked" else "close"
        else:
            self.state = "head"


class _Exchange:
    """The HTTP accounting of one proxied connection."""

    def __init__(self, proxy: CountingProxy) -> None:
        self.proxy = proxy
        self.pending: deque[tuple[str, str]] = deque()  # (shape, method) awaiting answers
        self.req_shape = ""
        self.resp_shape = ""
        self.up = HttpTap(self._request, self._req_body)
        self.down = HttpTap(self._response, self._resp_body)

    def _request(self, line: str, fields: dict[str, str], size: int) -> tuple[str, ...]:
        method, _, rest = line.partition(" ")
        target = rest.rpartition(" ")[0]
        self.req_shape = shape_of(method, target)
        self.pending.append((self.req_shape, method))
        with self.proxy.lock:
            s = self.proxy.shape(self.req_shape)
            s.requests += 1
            s.req_head += size
        if "chunked" in fields.get("transfer-encoding", "").lower():
            return ("chunked",)
        return ("length", fields.get("content-length", "0"))

    def _req_body(self, n: int) -> None:
        with self.proxy.lock:
            self.proxy.shape(self.req_shape).req_body += n

    def _response(self, line: str, fields: dict[str, str], size: int) -> tuple[str, ...]:
        status = int(line.split(" ")[1])
        if status < 200:  # 100 Continue: the real answer follows
            with self.proxy.lock:
                self.proxy.shape(self.pending[0][0] if self.pending else "?").resp_head += size
            return ("none",)
        shape, method = self.pending.popleft() if self.pending else ("?", "?")
        self.resp_shape = shape
        with self.proxy.lock:
            self.proxy.shape(shape).resp_head += size
        if method == "HEAD" or status in (204, 304):
            return ("none",)
        if "chunked" in fields.get("transfer-encoding", "").lower():
            return ("chunked",)
        if "content-length" in fields:
            return ("length", fields["content-length"])
        return ("close",)

    def _resp_body(self, n: int) -> None:
        with self.proxy.lock:
            self.proxy.shape(self.resp_shape).resp_body += n


class CountingProxy:
    """Listens on 127.0.0.1 (a free port) and forwards each connection to 127.0.0.1:*target*,
    one thread per direction; `counts()` is a snapshot, `close()` ends everything."""

    def __init__(self, target_port: int, *, http: bool = False) -> None:
        self.target_port, self.http = target_port, http
        self.lock = threading.Lock()
        self._counts = Counts()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._socks: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True, name="proxy-accept").start()

    def shape(self, key: str) -> Shape:
        """The sums of one request shape; the caller holds `lock`."""
        s = self._counts.shapes.get(key)
        if s is None:
            s = self._counts.shapes[key] = Shape()
        return s

    def counts(self) -> Counts:
        with self.lock:
            c = self._counts
            return Counts(c.up, c.down, c.connections,
                          {k: Shape(**vars(s)) for k, s in c.shapes.items()})

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        with self.lock:
            socks, self._socks = self._socks, []
        for s in socks:
            with contextlib.suppress(OSError):
                s.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            for s in (client, server):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            exchange = _Exchange(self) if self.http else None
            with self.lock:
                self._counts.connections += 1
                self._socks += [client, server]
            up_tap = exchange.up.feed if exchange else None
            down_tap = exchange.down.feed if exchange else None
            done = threading.Semaphore(0)
            for src, dst, direction, tap in ((client, server, "up", up_tap),
                                             (server, client, "down", down_tap)):
                threading.Thread(target=self._pump, args=(src, dst, direction, tap, done),
                                 daemon=True).start()
            threading.Thread(target=self._reap, args=(client, server, done), daemon=True).start()

    def _reap(self, a: socket.socket, b: socket.socket, done: threading.Semaphore) -> None:
        """Close both sockets once both directions have ended."""
        done.acquire()
        done.acquire()
        for s in (a, b):
            with contextlib.suppress(OSError):
                s.close()
        with self.lock:
            self._socks = [s for s in self._socks if s is not a and s is not b]

    def _pump(self, src: socket.socket, dst: socket.socket, direction: str,
              tap: Callable[[memoryview], None] | None, done: threading.Semaphore) -> None:
        buf = bytearray(BUF)
        view = memoryview(buf)
        try:
            while n := src.recv_into(buf):
                with self.lock:
                    if direction == "up":
                        self._counts.up += n
                    else:
                        self._counts.down += n
                if tap is not None:
                    tap(view[:n])
                dst.sendall(view[:n])
            dst.shutdown(socket.SHUT_WR)
        except OSError:  # a reset, or close(): end the other direction too
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
        finally:
            done.release()
