"""`selfdrive doctor`: the whole command on a fresh data dir, then each check
with the numbers, files and times that make it pass, warn or fail."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from selfdrive import doctor
from selfdrive.doctor import GB, Status
from selfdrive.store.keys import create_key
from selfdrive.store.meta.db import migrate

NOW = datetime(2026, 6, 1, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)


def _selfdrive(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SELFDRIVE_")}
    return subprocess.run([sys.executable, "-m", "selfdrive", *args], capture_output=True,
                          text=True, timeout=120, env=env)


def test_doctor_on_a_fresh_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert _selfdrive("user", "list", "--data", str(data)).returncode == 0  # makes the store
    r = _selfdrive("doctor", "--data", str(data))
    assert r.returncode == 0, r.stdout + r.stderr
    *checks, summary = r.stdout.splitlines()
    assert len(checks) == 11 and summary.startswith("selfdrive doctor: 11 checks, 0 failed")
    assert all(line.split()[0] in ("ok", "warn") for line in checks), r.stdout
    names = {line[6:].split(":")[0] for line in checks}
    assert {"file system", "free space", "fsync", "clock", "open files", "key file mode",
            "TLS certificate"} <= names


def test_doctor_fails_on_a_readable_key_and_says_how_to_fix_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert _selfdrive("user", "list", "--data", str(data)).returncode == 0
    key = next((data / "keys").glob("key-*.json"))
    key.chmod(0o644)
    r = _selfdrive("doctor", "--data", str(data))
    assert r.returncode == 1
    assert f"fail  key file mode: {key} is mode 0644: other users can read the keys;" \
           f" chmod 600 {key}" in r.stdout.splitlines()


def test_doctor_with_a_bad_config_says_so_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[limits]\nmax_waiters = 'many'\n")
    r = _selfdrive("doctor", "--config", str(bad), "--data", str(tmp_path))
    assert r.returncode == 2
    assert r.stderr == f"selfdrive: limits.max_waiters: expected int, got \"many\" (in {bad})\n"


def test_free_space() -> None:
    assert doctor.check_free_space(400 * GB, 1000 * GB, reserve_bytes=GB).status is Status.OK
    low_share = doctor.check_free_space(90 * GB, 1000 * GB, reserve_bytes=GB)
    assert low_share.status is Status.WARN and "(9%): under 10% or 5 GB" in low_share.message
    assert doctor.check_free_space(4 * GB, 16 * GB, reserve_bytes=GB).status is Status.WARN
    full = doctor.check_free_space(GB // 2, 16 * GB, reserve_bytes=GB)
    assert full.status is Status.FAIL and "new uploads are refused" in full.message


def test_free_inodes() -> None:
    assert doctor.check_free_inodes(5_000_000, 6_000_000).status is Status.OK
    assert doctor.check_free_inodes(50_000, 6_000_000).status is Status.WARN
    assert doctor.check_free_inodes(0, 0).status is Status.OK  # btrfs, zfs: no fixed count


def test_open_file_limit_against_long_polls() -> None:
    low = doctor.check_open_files(1024, max_waiters=20_000)
    assert low.status is Status.WARN
    assert "limits.max_waiters (20,000)" in low.message and "LimitNOFILE=" in low.message
    assert doctor.check_open_files(1_048_576, max_waiters=20_000).status is Status.OK


def test_fsync_round_trip(tmp_path: Path) -> None:
    result = doctor.check_fsync(tmp_path)
    assert result.status is not Status.FAIL and "write+fsync+rename works" in result.message
    assert list(tmp_path.iterdir()) == [], "the scratch file is removed"
    assert doctor.judge_fsync(0.002).status is Status.OK
    slow = doctor.judge_fsync(0.2)
    assert slow.status is Status.WARN and "200.00 ms" in slow.message
    fast = doctor.judge_fsync(0.000_001)
    assert fast.status is Status.WARN and "too fast for a disk" in fast.message


def test_fsync_where_nothing_can_be_written(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    result = doctor.check_fsync(tmp_path / "file")
    assert result.status is Status.FAIL
    assert result.message == f"write+fsync+rename failed in {tmp_path / 'file'}: Not a directory"


@pytest.mark.parametrize(("fstype", "options", "status", "words"), [
    ("ext4", "rw,relatime", Status.OK, "ext4 at /srv"),
    ("xfs", "rw", Status.OK, "xfs at /srv"),
    ("nfs4", "rw", Status.WARN, "network file system"),
    ("cifs", "rw", Status.WARN, "network file system"),
    ("vfat", "rw", Status.WARN, "no Unix permissions"),
    ("exfat", "rw", Status.WARN, "no Unix permissions"),
    ("tmpfs", "rw", Status.WARN, "lost at the next reboot"),
    ("overlay", "rw", Status.WARN, "mount a volume"),
    ("ext4", "rw,nobarrier", Status.WARN, "nobarrier"),
    ("ext4", "rw,barrier=0,data=ordered", Status.WARN, "nobarrier"),
])
def test_file_system_types(fstype: str, options: str, status: Status, words: str) -> None:
    result = doctor.check_filesystem(fstype, "/srv", options)
    assert result.status is status and words in result.message


def test_mount_of_picks_the_deepest_mount() -> None:
    mountinfo = (
        "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
        "40 22 0:35 / /mnt/usb\\040disk rw,nosuid - vfat /dev/sdb1 rw,fmask=0022\n"
        "41 22 0:36 / /mnt/usb rw - nfs4 server:/x rw\n"
    )
    assert doctor.mount_of(Path("/mnt/usb disk/selfdrive"), mountinfo) == (
        "vfat", "/mnt/usb disk", "rw,nosuid,rw,fmask=0022")
    nfs, root = (doctor.mount_of(Path(p), mountinfo) for p in ("/mnt/usb/x", "/mnt/usbx"))
    assert nfs is not None and nfs[:2] == ("nfs4", "/mnt/usb")
    assert root is not None and root[:2] == ("ext4", "/")


def test_clock() -> None:
    assert doctor.check_clock(NOW_MS, None).status is Status.OK
    assert doctor.check_clock(NOW_MS, NOW_MS - 60_000).status is Status.OK
    behind = doctor.check_clock(NOW_MS, NOW_MS + 3_600_000)
    assert behind.status is Status.FAIL and "before the newest record in meta.db" in behind.message
    unset = doctor.check_clock(0, None)
    assert unset.status is Status.FAIL and "never set" in unset.message


def test_newest_record_comes_from_meta_db_read_only(tmp_path: Path) -> None:
    db = tmp_path / "meta.db"
    assert doctor.newest_record_ms(db) is None
    migrate(db)
    assert doctor.newest_record_ms(db) is None
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO users (name, password_hash, quota_bytes, created_at)"
                     " VALUES ('a', 'x', 1, ?)", (NOW_MS,))
    assert doctor.newest_record_ms(db) == NOW_MS


def test_key_files_present(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert doctor.check_keys_present(data, passphrase_set=False).status is Status.OK
    shard = data / "blocks" / "ab" / "cd"
    shard.mkdir(parents=True)
    (shard / "abcd").write_bytes(b"x")
    lost = doctor.check_keys_present(data, passphrase_set=False)
    assert lost.status is Status.FAIL and "restore keys/ from your backup" in lost.message
    keys = data / "keys"
    keys.mkdir(mode=0o700)
    create_key(keys, 1, "a passphrase")
    locked = doctor.check_keys_present(data, passphrase_set=False)
    assert locked.status is Status.FAIL and "SELFDRIVE_KEY_PASSPHRASE_FILE" in locked.message
    assert doctor.check_keys_present(data, passphrase_set=True).status is Status.OK
    (keys / "key-0002.json").write_text("{not json")
    damaged = doctor.check_keys_present(data, passphrase_set=True)
    assert damaged.status is Status.FAIL
    assert damaged.message == f"{keys / 'key-0002.json'} is damaged: restore it from your backup"


def test_key_file_modes(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    assert doctor.check_key_modes(tmp_path).status is Status.OK
    keys.mkdir(mode=0o700)
    create_key(keys, 1, None)
    assert doctor.check_key_modes(tmp_path).status is Status.OK
    keys.chmod(0o755)
    wide = doctor.check_key_modes(tmp_path)
    assert wide.status is Status.FAIL and wide.message.endswith(f"chmod 700 {keys}")
    keys.chmod(0o700)
    (keys / "key-0001.json").chmod(0o640)
    assert doctor.check_key_modes(tmp_path).message.endswith(
        f"chmod 600 {keys / 'key-0001.json'}")


def test_data_dir_mode(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert doctor.check_data_dir_mode(data).status is Status.OK
    data.mkdir(mode=0o700)
    assert doctor.check_data_dir_mode(data).status is Status.OK
    data.chmod(0o755)
    loose = doctor.check_data_dir_mode(data)
    assert loose.status is Status.WARN and loose.message.endswith(f"chmod 700 {data}")


def test_data_dir_usable(tmp_path: Path) -> None:
    assert doctor.check_data_dir_usable(tmp_path).status is Status.OK
    assert doctor.check_data_dir_usable(tmp_path / "new").status is Status.WARN
    (tmp_path / "file").write_text("")
    assert doctor.check_data_dir_usable(tmp_path / "file").status is Status.FAIL


def _certificate(path: Path, not_after: datetime) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "selfdrive.test")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(not_after - timedelta(days=400)).not_valid_after(not_after)
            .sign(key, hashes.SHA256()))
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def test_tls_certificate_expiry(tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    assert doctor.check_tls_certificate("", NOW).status is Status.OK
    _certificate(cert, NOW + timedelta(days=90))
    good = doctor.check_tls_certificate(str(cert), NOW)
    assert good.status is Status.OK and "valid until 2026-08-30" in good.message
    _certificate(cert, NOW + timedelta(days=5))
    soon = doctor.check_tls_certificate(str(cert), NOW)
    assert soon.status is Status.WARN and "in 5 days: renew it" in soon.message
    _certificate(cert, NOW - timedelta(days=1))
    assert doctor.check_tls_certificate(str(cert), NOW).status is Status.FAIL
    cert.write_text("not a certificate")
    assert "is not a PEM certificate" in doctor.check_tls_certificate(str(cert), NOW).message
    missing = doctor.check_tls_certificate(str(tmp_path / "nope.pem"), NOW)
    assert missing.status is Status.FAIL and "No such file or directory" in missing.message
