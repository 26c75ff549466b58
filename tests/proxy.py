"""A TCP proxy on 127.0.0.1 that can throttle and cut connections, to play
a bad network between a real client and the real server."""

from __future__ import annotations

import socket
import struct
import threading
import time
from types import TracebackType


class FaultyProxy:
    """Forwards 127.0.0.1:<port> to the server.

    ``cut_after(n)``: the next connection(s) are cut (both ways, abruptly)
    once *n* more bytes have gone from client to server; then it forwards
    normally again.  ``rate``: client-to-server bytes per second (0: no limit).
    """

    def __init__(self, target_port: int, *, rate: float = 0) -> None:
        self.target_port = target_port
        self.rate = rate
        self._budget: int | None = None
        self._reset = True
        self._lock = threading.Lock()
        self.cuts = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cut_after(self, nbytes: int, *, reset: bool = True) -> None:
        """Cut the connection after *nbytes* more client bytes: with a reset
        (unread bytes in the server's socket are lost, as when a link dies),
        or with a clean close (the server reads every byte sent)."""
        with self._lock:
            self._budget = nbytes
            self._reset = reset

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
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, upstream: bool) -> None:
        abort = False
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if upstream:
                    if self.rate:
                        time.sleep(len(data) / self.rate)
                    with self._lock:
                        if self._budget is not None:
                            if len(data) >= self._budget:
                                dst.sendall(data[: self._budget])
                                self._budget = None
                                self.cuts += 1
                                abort = self._reset
                                break
                            self._budget -= len(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    if abort:  # a reset, as when a link dies mid-transfer
                        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                        s.shutdown(socket.SHUT_RD)  # wakes the other pump, sends nothing
                    else:
                        s.shutdown(socket.SHUT_RDWR)  # close alone would not wake it
                    s.close()
                except OSError:
                    pass

    def close(self) -> None:
        self._closed = True
        self._listener.close()

    def __enter__(self) -> FaultyProxy:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
