"""Helpers for the benchmarks: run a real `selfdrive serve`, watch its CPU and memory, and
stream a request body from a file."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import platform
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

MB = 1_000_000
IO = 1 << 20  # every read and write of a transfer or copy


@contextlib.contextmanager
def work_dir(prefix: str, parent: Path | None, keep: bool) -> Iterator[Path]:
    """A fresh work dir under *parent*, removed afterwards unless *keep*."""
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        yield work
    finally:
        if keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


class BenchError(Exception):
    """A benchmark step failed; the message says what (and the HTTP status and body)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """utime + stime of every thread of *pid*, in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # the name may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def status_mb(pid: int, key: str) -> float:
    """A kB line of /proc/<pid>/status (VmRSS, VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024 / MB
    raise BenchError(f"no {key} in /proc/{pid}/status")


def disk_usage(folder: Path) -> tuple[int, int]:
    """(bytes allocated on disk, apparent bytes) of every file under *folder*."""
    used = apparent = 0
    for root, _, files in os.walk(folder):
        for name in files:
            st = os.lstat(os.path.join(root, name))
            used, apparent = used + st.st_blocks * 512, apparent + st.st_size
    return used, apparent


def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next((ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines()
                  if ln.startswith("model name")), "unknown")
    return (f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC\n"
            f"- machine: {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {model}\n"
            f"- python {platform.python_version()}, kernel {platform.release()}")


def send_body(sock: socket.socket, src: Path, offset: int = 0, length: int | None = None) -> bool:
    """Send *length* bytes of *src* from *offset* (default: to the end) in 1 MiB reads;
    False if the server answered (or closed) before the end.

    The server may refuse an upload early and then stop reading: a plain sendall() would
    wait for ever, so the socket is non-blocking and watched for a reply while sending.
    """
    buf = bytearray(IO)
    view = memoryview(buf)
    timeout = sock.gettimeout()
    sock.setblocking(False)
    try:
        with open(src, "rb", buffering=0) as f:
            f.seek(offset)
            left = os.fstat(f.fileno()).st_size - offset if length is None else length
            while left > 0:
                n = f.readinto(view[: min(IO, left)])
                if not n:
                    raise BenchError(f"{src} ends {left} bytes short of what was to be sent")
                left -= n
                sent = 0
                while sent < n:
                    readable, writable, _ = select.select([sock], [sock], [], timeout)
                    if readable:
                        return False
                    if not writable:
                        raise TimeoutError(f"the server took no data for {timeout} s")
                    sent += sock.send(view[sent:n])
    finally:
        sock.settimeout(timeout)
    return True


def io_counters(pid: int) -> dict[str, int]:
    """/proc/<pid>/io of every thread of *pid*: rchar, wchar, read_bytes, write_bytes..."""
    lines = Path(f"/proc/{pid}/io").read_text().splitlines()
    return {key: int(value) for key, _, value in (ln.partition(": ") for ln in lines)}


class RssSampler:
    """Samples VmRSS every *interval_s* from a thread while in a `with` block."""

    def __init__(self, pid: int, interval_s: float = 0.05) -> None:
        self.pid, self.interval_s = pid, interval_s
        self.before = self.peak = status_mb(pid, "VmRSS")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.peak = max(self.peak, status_mb(self.pid, "VmRSS"))

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, status_mb(self.pid, "VmRSS"))


class Server:
    """`python -m selfdrive serve` on 127.0.0.1 and a free port, with a fresh data dir."""

    def __init__(self, data_dir: Path, config: Path, log: Path) -> None:
        self.host, self.port = "127.0.0.1", free_port()
        self.data_dir, self.log = data_dir, log
        self.password = secrets.token_urlsafe(16)
        env = dict(os.environ, SELFDRIVE_ADMIN_PASSWORD=self.password)
        cmd = [sys.executable, "-m", "selfdrive", "serve", "--config", str(config),
               "--data", str(data_dir), "--host", self.host, "--port", str(self.port)]
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid

    def connect(self, timeout_s: float = 600.0) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout_s)

    def log_tail(self, n: int = 20) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"the server exited ({self.proc.returncode}):\n{self.log_tail()}")
            try:
                conn = self.connect(2.0)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    conn.close()
                    return
                conn.close()
            except OSError:
                pass
            time.sleep(0.1)
        raise BenchError(f"no 200 from /healthz in {timeout_s:.0f} s:\n{self.log_tail()}")

    def token(self) -> str:
        conn = self.connect(30.0)
        body = json.dumps({"username": "admin", "password": self.password,
                           "device_name": "bench"})
        conn.request("POST", "/api/v1/auth/tokens", body=body,
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        raw = resp.read()
        conn.close()
        if resp.status not in (200, 201):
            raise BenchError(f"POST /api/v1/auth/tokens: HTTP {resp.status}: {raw[:2000]!r}")
        return str(json.loads(raw)["token"])

    def stop(self, timeout_s: float = 60.0) -> int:
        """SIGTERM and wait; SIGKILL (and say so) if it does not stop in time."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                print(f"warning: the server ignored SIGTERM for {timeout_s:.0f} s; killed it",
                      file=sys.stderr)
        return self.proc.returncode
