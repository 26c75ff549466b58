"""`selfdrive doctor`: checks of the machine and the data dir that say what to fix.

A *check* is a small function that judges one thing and returns a `Result`:
ok, warn or fail, and one line.  Checks take what they judge as arguments
(sizes, limits, a path, a time), so tests call them directly with the
numbers they want; `run` measures the real machine and calls them all.
Nothing here writes to the data dir but the fsync probe's scratch file,
removed at once, and meta.db is opened read-only.
"""

from __future__ import annotations

import contextlib
import enum
import os
import re
import resource
import sqlite3
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec

from selfdrive.config import Config, ConfigError, check_data_dir
from selfdrive.store.keys import KeyFile

GB = 1000**3
#: file systems where SQLite's locking and fsync depend on another machine
NETWORK_FS = frozenset({"nfs", "nfs4", "cifs", "smb3", "smbfs", "afs", "ceph", "glusterfs",
                        "9p", "virtiofs", "fuse.sshfs", "fuse.rclone", "davfs", "fuse.davfs2"})
#: file systems without Unix permissions or a journal (fuseblk: ntfs-3g, exfat-fuse)
FAT_LIKE_FS = frozenset({"vfat", "msdos", "exfat", "fuseblk", "ntfs", "ntfs3"})
#: fsync slower than this makes every upload wait (USB sticks, SD cards)
SLOW_FSYNC_S = 0.050
#: fsync faster than this never reached a disk's platter or flash
FAST_FSYNC_S = 0.000_05
#: connections besides long-poll waiters: uploads, the database, block files
OPEN_FILE_MARGIN = 1000
#: a clock before this was never set (a Raspberry Pi has no battery clock)
CLOCK_FLOOR = datetime(2025, 1, 1, tzinfo=UTC)
#: the newest row times in meta.db (integer ms); the clock must not be before them
NEWEST_ROW_SQL = ("SELECT max(t) FROM (SELECT max(created_at) AS t FROM revisions"
                  " UNION ALL SELECT max(created_at) FROM users"
                  " UNION ALL SELECT max(at) FROM changes)")


class Status(enum.Enum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Result:
    check: str
    status: Status
    message: str

    def line(self) -> str:
        return f"{self.status.value:<4}  {self.check}: {self.message}"


def check_data_dir_usable(data: Path) -> Result:
    try:
        check_data_dir(data, create=False)
    except ConfigError as exc:
        return Result("data dir", Status.FAIL, str(exc))
    if not data.exists():
        return Result("data dir", Status.WARN, f"{data} does not exist yet; `selfdrive serve`"
                      " creates it (check again after the first start)")
    return Result("data dir", Status.OK, f"{data} is a folder this user can write in")


def check_data_dir_mode(data: Path) -> Result:
    if not data.is_dir():
        return Result("data dir mode", Status.OK, "not created yet (it will be 0700)")
    st = data.stat()
    if st.st_uid != os.geteuid():
        return Result("data dir mode", Status.WARN, f"{data} belongs to uid {st.st_uid}, not to"
                      f" this user ({os.geteuid()}): run selfdrive as its owner, or chown it")
    mode = st.st_mode & 0o777
    if mode & 0o077:
        return Result("data dir mode", Status.WARN, f"{data} is mode {mode:04o}: other users can"
                      f" read file names in meta.db; chmod 700 {data}")
    return Result("data dir mode", Status.OK, "0700, owned by this user")


def check_filesystem(fstype: str, mount_point: str, options: str) -> Result:
    where = f"{fstype} at {mount_point}"
    if fstype in NETWORK_FS or fstype.startswith("nfs"):
        return Result("file system", Status.WARN, f"{where} is a network file system: SQLite's"
                      " locks and fsync there depend on the server; keep the data dir on a local"
                      " disk")
    if fstype in FAT_LIKE_FS:
        return Result("file system", Status.WARN, f"{where} has no Unix permissions (key files"
                      " cannot be private) and no journal: a power cut can damage the store;"
                      " format the disk ext4 (docs/configuration.md)")
    if fstype in ("tmpfs", "ramfs"):
        return Result("file system", Status.WARN, f"{where} is in memory: the store is lost at"
                      " the next reboot")
    if fstype == "overlay":
        return Result("file system", Status.WARN, f"{where}: the data dir is in a container's own"
                      " layer and goes with it; mount a volume there")
    if re.search(r"(^|,)(nobarrier|barrier=0)(,|$)", options):
        return Result("file system", Status.WARN, f"{where} is mounted with nobarrier: fsync"
                      " does not reach the disk, a power cut can lose acknowledged uploads")
    return Result("file system", Status.OK, where)


def check_free_space(free_bytes: int, total_bytes: int, *, reserve_bytes: int) -> Result:
    share = free_bytes / total_bytes if total_bytes else 1.0
    text = f"{free_bytes / GB:.1f} GB free of {total_bytes / GB:.1f} GB ({share:.0%})"
    if free_bytes <= reserve_bytes:
        return Result("free space", Status.FAIL, f"{text}: not more than storage.reserve_bytes"
                      f" ({reserve_bytes / GB:.1f} GB), so new uploads are refused; free some"
                      " space or move the data dir to a bigger disk")
    if free_bytes < 5 * GB or share < 0.10:
        return Result("free space", Status.WARN, f"{text}: under 10% or 5 GB; free some space"
                      " or move the data dir to a bigger disk")
    return Result("free space", Status.OK, text)


def check_free_inodes(free: int, total: int) -> Result:
    if total == 0:
        return Result("free inodes", Status.OK, "the file system has no fixed number of files")
    share = free / total
    text = f"{free:,} of {total:,} files free ({share:.0%})"
    if free < 100_000 or share < 0.10:
        return Result("free inodes", Status.WARN, f"{text}: every stored block is a file;"
                      " move the data dir to a file system with more inodes")
    return Result("free inodes", Status.OK, text)


def judge_fsync(seconds: float) -> Result:
    ms = f"{seconds * 1000:.2f} ms"
    if seconds > SLOW_FSYNC_S:
        return Result("fsync", Status.WARN, f"write+fsync+rename works, but fsync takes {ms}:"
                      " every upload waits for it (an SD card or USB stick? use an SSD)")
    if seconds < FAST_FSYNC_S:
        return Result("fsync", Status.WARN, f"write+fsync+rename works, but fsync takes {ms},"
                      " too fast for a disk: something (tmpfs, a VM's cache, nobarrier, a disk"
                      " that lies) may acknowledge writes it has not stored")
    return Result("fsync", Status.OK, f"write+fsync+rename works; fsync takes {ms}")


def check_fsync(folder: Path, rounds: int = 3) -> Result:
    """Write, fsync and rename a scratch file in *folder*; judge the median fsync."""
    try:
        seconds = _fsync_round_trip(folder, rounds)
    except OSError as exc:
        return Result("fsync", Status.FAIL, f"write+fsync+rename failed in {folder}:"
                      f" {exc.strerror or exc}")
    return judge_fsync(seconds)


def _fsync_round_trip(folder: Path, rounds: int) -> float:
    fd, scratch = tempfile.mkstemp(dir=folder, prefix=".doctor-")
    final = scratch + ".done"
    try:
        times = []
        try:
            for _ in range(rounds):
                os.write(fd, os.urandom(4096))
                start = time.perf_counter()
                os.fsync(fd)
                times.append(time.perf_counter() - start)
        finally:
            os.close(fd)
        os.rename(scratch, final)
        dfd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
        return statistics.median(times)
    finally:
        for name in (scratch, final):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)


def check_clock(now_ms: int, newest_ms: int | None) -> Result:
    now = datetime.fromtimestamp(now_ms / 1000, UTC)
    text = f"{now:%Y-%m-%d %H:%M:%S} UTC"
    if now < CLOCK_FLOOR:
        return Result("clock", Status.FAIL, f"the time is {text}: the clock was never set; wait"
                      " for NTP (a Raspberry Pi has no battery clock) before serving")
    if newest_ms is None:
        return Result("clock", Status.OK, f"{text} (no database yet to compare with)")
    if now_ms + 2000 < newest_ms:
        newest = datetime.fromtimestamp(newest_ms / 1000, UTC)
        return Result("clock", Status.FAIL, f"the time is {text}, before the newest record in"
                      f" meta.db ({newest:%Y-%m-%d %H:%M:%S} UTC): set the clock (NTP) before"
                      " serving, or new revisions sort before old ones")
    return Result("clock", Status.OK, f"{text}, after the newest record in meta.db")


def check_open_files(limit: int, max_waiters: int) -> Result:
    need = max_waiters + OPEN_FILE_MARGIN
    if limit < need:
        return Result("open files", Status.WARN, f"the server may open {limit:,} files, but"
                      f" limits.max_waiters ({max_waiters:,}) long polls need one each plus"
                      f" ~{OPEN_FILE_MARGIN:,}: raise the limit (LimitNOFILE= in the systemd"
                      " unit, docker --ulimit nofile=, ulimit -Hn) or lower limits.max_waiters")
    return Result("open files", Status.OK, f"limit {limit:,}, enough for"
                  f" {max_waiters:,} long polls")


def check_keys_present(data: Path, *, passphrase_set: bool) -> Result:
    """The key files the server will need: present if blocks exist, readable, openable."""
    keys = data / "keys"
    files = sorted(keys.glob("key-*.json")) if keys.is_dir() else []
    if not files:
        if _has_files(data / "blocks"):
            return Result("key files", Status.FAIL, f"no key file in {keys}, but {data}/blocks"
                          " holds blocks sealed with one: restore keys/ from your backup")
        return Result("key files", Status.OK, "none yet: the first start makes one")
    for path in files:
        try:
            record = msgspec.json.decode(path.read_bytes(), type=KeyFile)
        except OSError as exc:
            return Result("key files", Status.FAIL, f"cannot read {path}: {exc.strerror};"
                          " run selfdrive as the user that owns it, or chown it to that user")
        except msgspec.DecodeError:
            return Result("key files", Status.FAIL, f"{path} is damaged: restore it from your"
                          " backup")
        if record.protection == "scrypt" and not passphrase_set:
            return Result("key files", Status.FAIL, f"{path} is protected by a passphrase:"
                          " set SELFDRIVE_KEY_PASSPHRASE or SELFDRIVE_KEY_PASSPHRASE_FILE")
    return Result("key files", Status.OK, f"{len(files)} in {keys}")


def check_key_modes(data: Path) -> Result:
    keys = data / "keys"
    if not keys.is_dir():
        return Result("key file mode", Status.OK, "no keys folder yet")
    wanted = [(keys, 0o700)] + [(p, 0o600) for p in sorted(keys.glob("key-*.json"))]
    for path, mode in wanted:
        actual = path.stat().st_mode & 0o777
        if actual & 0o077:
            return Result("key file mode", Status.FAIL, f"{path} is mode {actual:04o}: other"
                          f" users can read the keys; chmod {mode:o} {path}")
    return Result("key file mode", Status.OK, f"{keys} 0700, key files 0600")


def check_tls_certificate(cert_file: str, now: datetime) -> Result:
    if not cert_file:
        return Result("TLS certificate", Status.OK, "none: server.tls_cert_file is not set")
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(Path(cert_file).expanduser().read_bytes())
    except OSError as exc:
        return Result("TLS certificate", Status.FAIL, f"cannot read server.tls_cert_file"
                      f" {cert_file}: {exc.strerror or exc}")
    except ValueError:
        return Result("TLS certificate", Status.FAIL, f"server.tls_cert_file {cert_file} is not"
                      " a PEM certificate")
    expires = cert.not_valid_after_utc
    when = f"{expires:%Y-%m-%d}"
    if expires <= now:
        return Result("TLS certificate", Status.FAIL, f"{cert_file} expired on {when}: renew it")
    if expires - now < timedelta(days=14):
        return Result("TLS certificate", Status.WARN, f"{cert_file} expires on {when}, in"
                      f" {(expires - now).days} days: renew it")
    return Result("TLS certificate", Status.OK, f"{cert_file} is valid until {when}")


def run(config: Config, *, now_ms: int, passphrase_set: bool) -> list[Result]:
    """Every check, on this machine and *config*'s data dir."""
    data = config.data_path
    # Before the first start, judge the file system the data dir will be made on.
    here = next(p for p in (data, *data.parents) if p.exists())
    fs = os.statvfs(here)
    return [
        check_data_dir_usable(data),
        check_data_dir_mode(data),
        _filesystem(here),
        check_free_space(fs.f_bavail * fs.f_frsize, fs.f_blocks * fs.f_frsize,
                         reserve_bytes=config.storage.reserve_bytes),
        check_free_inodes(fs.f_favail, fs.f_files),
        check_fsync(here),
        _clock(now_ms, data / "meta.db"),
        check_open_files(_open_file_limit(), config.limits.max_waiters),
        check_keys_present(data, passphrase_set=passphrase_set),
        check_key_modes(data),
        check_tls_certificate(config.server.tls_cert_file,
                              datetime.fromtimestamp(now_ms / 1000, UTC)),
    ]


def _filesystem(path: Path) -> Result:
    try:
        mountinfo = Path("/proc/self/mountinfo").read_text()
    except OSError:
        return Result("file system", Status.OK, "type unknown (no /proc/self/mountinfo)")
    mount = mount_of(path, mountinfo)
    if mount is None:
        return Result("file system", Status.OK, f"type unknown (no mount found for {path})")
    return check_filesystem(*mount)


def mount_of(path: Path, mountinfo: str) -> tuple[str, str, str] | None:
    """(type, mount point, options) of the mount holding *path*, from /proc/self/mountinfo."""
    target = str(path.resolve())
    best: tuple[str, str, str] | None = None
    for line in mountinfo.splitlines():
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 6 or len(tail) < 3:
            continue
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), fields[4])
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) >= len(best[1])):
            best = (tail[0], point, f"{fields[5]},{tail[2]}")
    return best


def _clock(now_ms: int, db: Path) -> Result:
    try:
        return check_clock(now_ms, newest_record_ms(db))
    except sqlite3.Error as exc:
        return Result("clock", Status.WARN, f"cannot read the newest record of {db}: {exc}")


def newest_record_ms(db: Path) -> int | None:
    """The newest row time in meta.db (opened read-only), or None without one."""
    if not db.is_file():
        return None
    uri = db.resolve().as_uri() + "?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=5)) as conn:
        newest = conn.execute(NEWEST_ROW_SQL).fetchone()[0]
    return int(newest) if newest is not None else None


def _open_file_limit() -> int:
    """The limit the server will run with: it lifts its soft limit to the hard one
    (selfdrive/http/server.py, raise_open_file_limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if hard == resource.RLIM_INFINITY else hard


def _has_files(folder: Path) -> bool:
    return any(files for _, _, files in os.walk(folder))
