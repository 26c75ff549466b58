"""A fault-injecting HTTP proxy on 127.0.0.1 in front of the S3 server.

moto cannot be told to throttle or fail, so this proxy stands between the
client and moto and, on request, answers as S3 does when it is overloaded or
broken: ``fail_next(n, 503, "SlowDown")`` answers the next *n* matching
requests with that status and S3's XML error body, without forwarding them;
``down = True`` drops every connection unanswered (the bucket unreachable);
``cut_next(n)`` reads half of the next *n* PUT bodies and then closes the
connection (the server going down mid-upload); ``put_delay_s`` holds every
PUT that long (replication under way, for a test to interrupt).  Everything
else is forwarded unchanged, and every request is counted, PUTs by object.
"""

from __future__ import annotations

import http.server
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

#: hop-by-hop headers a proxy must not forward
HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
       "proxy-connection", "content-length", "host", "content-encoding"}


@dataclass
class Faults:
    down: bool = False
    #: (status, S3 error code, method or "" for any) of the next requests to fail
    pending: list[tuple[int, str, str]] = field(default_factory=list)
    answered: dict[int, int] = field(default_factory=dict)
    requests: int = 0
    #: PUT bodies still to cut halfway
    cut: int = 0
    cuts_done: int = 0
    put_delay_s: float = 0.0
    #: PUTs forwarded to the server (and answered by it), by URL path
    puts: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take_cut(self) -> bool:
        with self.lock:
            if self.cut <= 0:
                return False
            self.cut -= 1
            self.cuts_done += 1
            return True

    def take(self, method: str) -> tuple[int, str] | None:
        with self.lock:
            self.requests += 1
            for i, (status, code, only) in enumerate(self.pending):
                if not only or only == method:
                    del self.pending[i]
                    self.answered[status] = self.answered.get(status, 0) + 1
                    return status, code
        return None


class S3FaultProxy:
    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        self.faults = Faults()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return None

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if self.command == "PUT" and length > 1 and proxy.faults.take_cut():
                    self.rfile.read(length // 2)  # then the connection breaks
                    self.close_connection = True
                    self.connection.close()
                    return
                body = self.rfile.read(length) if length else b""
                if proxy.faults.down:
                    self.close_connection = True
                    self.connection.close()
                    return
                fault = proxy.faults.take(self.command)
                if fault is not None:
                    status, code = fault
                    payload = (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}'
                               f"</Code><Message>injected by the test proxy</Message>"
                               "</Error>").encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                headers = [(k, v) for k, v in self.headers.items() if k.lower() not in HOP]
                headers.append(("Host", self.headers.get("Host", "")))
                if self.command == "PUT" and proxy.faults.put_delay_s:
                    time.sleep(proxy.faults.put_delay_s)
                r = proxy.client.request(self.command, proxy.target + self.path,
                                         headers=headers, content=body)
                if self.command == "PUT" and r.status_code == 200:
                    with proxy.faults.lock:
                        proxy.faults.puts[self.path.split("?", 1)[0]] += 1
                self.send_response(r.status_code)
                for k, v in r.headers.multi_items():
                    if k.lower() not in HOP:
                        self.send_header(k, v)
                # a HEAD's length is the object's, not that of the (empty) body
                length_out = (r.headers.get("content-length", "0") if self.command == "HEAD"
                              else str(len(r.content)))
                self.send_header("Content-Length", length_out)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(r.content)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self.client = httpx.Client(timeout=30)
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail_next(self, n: int, status: int, code: str, method: str = "PUT") -> None:
        with self.faults.lock:
            self.faults.pending += [(status, code, method)] * n

    def cut_next(self, n: int) -> None:
        with self.faults.lock:
            self.faults.cut += n

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.client.close()
