"""Configuration: the one place that reads the environment and the config file.

Precedence, lowest first: built-in defaults, the TOML file (``--config`` or
SELFDRIVE_CONFIG), environment variables, command-line flags.  Every key
carries its unit in its name (``_s``, ``_bytes``); sizes in the file may also
be written as strings such as ``"10GB"`` or ``"512MiB"``.  config.example.toml
documents every key (a test keeps the two in step).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

GB = 1000**3
#: the shortest GC grace period allowed (see MaintenanceConfig.gc_grace_s)
MIN_GC_GRACE_S = 60
GIB = 1024**3


class ServerConfig(msgspec.Struct, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: int = 8080
    #: a connection that sends nothing for this long is closed (slowloris guard);
    #: keep it above 120 s, the longest long poll (GET /changes/wait)
    read_timeout_s: float = 130.0
    #: an idle keep-alive connection is closed after this long.  Keep it short:
    #: Hypercorn 0.18 holds a connection the client has closed until this
    #: timer ends (docs/architecture.md, "Known gaps of the stack")
    keep_alive_timeout_s: float = 5.0
    #: largest request header block
    max_header_bytes: int = 64 * 1024
    #: seconds to let running requests finish on shutdown
    shutdown_timeout_s: float = 10.0


class StorageConfig(msgspec.Struct, forbid_unknown_fields=True):
    #: "auto" (AES-256-GCM where the CPU has AES instructions, else ChaCha20-Poly1305),
    #: "aes-256-gcm" or "chacha20-poly1305"; only new blocks use a changed setting
    cipher: str = "auto"
    #: zstd level for blocks (1 fastest .. 19 smallest); incompressible blocks are stored raw
    compression_level: int = 3
    #: threads for hashing, compression and encryption (0: one per core)
    cpu_threads: int = 0
    #: threads for block file I/O (several fsyncs in flight let the disk batch them)
    io_threads: int = 8


class LimitsConfig(msgspec.Struct, forbid_unknown_fields=True):
    #: largest file one upload may make
    max_file_bytes: int = 10 * GIB
    #: quota of a new user unless `selfdrive user add --quota` says otherwise
    default_quota_bytes: int = 10 * GB
    #: largest JSON request body
    max_json_bytes: int = 8 * 1024 * 1024
    #: long-poll waiters one server holds at once; past it waits answer at once
    #: with a backoff hint
    max_waiters: int = 20_000
    #: unfinished resumable uploads one user may have at once
    max_open_uploads: int = 20
    #: staged tails (bytes after the last block boundary) one user's unfinished uploads may hold
    max_staging_bytes: int = 256 * 1024 * 1024


class MaintenanceConfig(msgspec.Struct, forbid_unknown_fields=True):
    #: how often the background task expires the trash, thins revisions and collects garbage
    interval_s: float = 3600.0
    #: a block is deleted only after staying unreferenced (and untouched) this long
    gc_grace_s: int = 3600
    #: trash entries older than this are purged
    trash_retention_s: int = 30 * 24 * 3600
    #: an upload that never finished releases its blocks after this long
    upload_expiry_s: int = 24 * 3600
    #: a block sent with PUT /blocks and never committed is kept this long
    uploaded_block_ttl_s: int = 7 * 24 * 3600
    #: the change journal keeps this much history; a device offline longer relists
    journal_retention_s: int = 30 * 24 * 3600


class RetentionConfig(msgspec.Struct, forbid_unknown_fields=True):
    #: keep every revision younger than this
    keep_all_s: int = 24 * 3600
    #: then the newest revision of each hour, up to this age
    hourly_s: int = 7 * 24 * 3600
    #: then the newest of each day, up to this age; older: the newest of each week
    daily_s: int = 30 * 24 * 3600
    #: and at most this many revisions per file (pinned ones not counted)
    max_revisions: int = 100


class WebDAVConfig(msgspec.Struct, forbid_unknown_fields=True):
    #: names (glob patterns, case-insensitive) of clients' side files, kept out
    #: of revisions, notifications and sync; [] stores them as ordinary files
    junk: list[str] = msgspec.field(default_factory=lambda: [
        "._*", ".DS_Store", "~$*", "desktop.ini", "Thumbs.db"])
    #: the largest side file kept
    max_junk_file_bytes: int = 1024 * 1024


class Config(msgspec.Struct, forbid_unknown_fields=True):
    #: where the database, blocks and keys live
    data_dir: str = ""
    server: ServerConfig = msgspec.field(default_factory=ServerConfig)
    storage: StorageConfig = msgspec.field(default_factory=StorageConfig)
    limits: LimitsConfig = msgspec.field(default_factory=LimitsConfig)
    maintenance: MaintenanceConfig = msgspec.field(default_factory=MaintenanceConfig)
    retention: RetentionConfig = msgspec.field(default_factory=RetentionConfig)
    webdav: WebDAVConfig = msgspec.field(default_factory=WebDAVConfig)

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser()


class Secrets(msgspec.Struct):
    """Values read from the environment that must never be written to a file."""

    admin_password: str | None = None
    key_passphrase: str | None = None


class ConfigError(Exception):
    pass


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGTP]?i?B?)?\s*$", re.IGNORECASE)


def parse_size(text: str | int) -> int:
    """``"10GB"`` -> 10_000_000_000, ``"512MiB"`` -> 536_870_912, ``123`` -> 123."""
    if isinstance(text, int):
        return text
    m = _SIZE.match(text)
    if not m:
        raise ConfigError(f"not a size: {text!r} (try '10GB' or '512MiB')")
    number, unit = float(m.group(1)), (m.group(2) or "").upper().removesuffix("B")
    base = 1024 if unit.endswith("I") else 1000
    power = "KMGTP".find(unit[:1]) + 1 if unit else 0
    return int(number * base**power)


def default_data_dir(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "selfdrive"


def _sizes_to_ints(table: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, dict):
            out[key] = _sizes_to_ints(value)
        elif key.endswith("_bytes") and isinstance(value, str):
            out[key] = parse_size(value)
        else:
            out[key] = value
    return out


def load(
    config_file: Path | None = None,
    *,
    data_dir: Path | None = None,
    host: str | None = None,
    port: int | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[Config, Secrets]:
    env = os.environ if env is None else env
    raw: dict[str, Any] = {}
    path = config_file or (Path(env["SELFDRIVE_CONFIG"]) if env.get("SELFDRIVE_CONFIG") else None)
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text("utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config {path}: {exc}") from exc
    try:
        config = msgspec.convert(_sizes_to_ints(raw), Config)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"config {path}: {exc}") from exc
    if env.get("SELFDRIVE_DATA"):
        config.data_dir = env["SELFDRIVE_DATA"]
    if env.get("SELFDRIVE_HOST"):
        config.server.host = env["SELFDRIVE_HOST"]
    if env.get("SELFDRIVE_PORT"):
        config.server.port = int(env["SELFDRIVE_PORT"])
    if data_dir is not None:
        config.data_dir = str(data_dir)
    if host is not None:
        config.server.host = host
    if port is not None:
        config.server.port = port
    if not config.data_dir:
        config.data_dir = str(default_data_dir(env))
    if config.maintenance.gc_grace_s < MIN_GC_GRACE_S:
        raise ConfigError(
            f"maintenance.gc_grace_s must be at least {MIN_GC_GRACE_S} s: an upload pins its"
            " blocks within that time, and the grace period is what protects them until then"
            " (docs/storage.md, Garbage collection)"
        )
    if config.storage.cipher not in ("auto", "aes-256-gcm", "chacha20-poly1305"):
        raise ConfigError(f"storage.cipher: unknown cipher {config.storage.cipher!r}")
    secrets = Secrets(
        admin_password=env.get("SELFDRIVE_ADMIN_PASSWORD") or None,
        key_passphrase=env.get("SELFDRIVE_KEY_PASSPHRASE") or None,
    )
    return config, secrets
