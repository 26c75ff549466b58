"""Configuration: the one place that reads the environment and the config file.

Precedence, lowest first: built-in defaults, the TOML file (``--config`` or
SELFDRIVE_CONFIG), environment variables, command-line flags.  Every key
carries its unit in its name (``_s``, ``_bytes``); sizes may also be written
as strings such as ``"10GB"`` or ``"512MiB"``.  config.example.toml documents
every key (a test keeps the two in step).

A *setting* is one key of the `Config` struct, named by its path
(``server.port``); its environment variable is ``SELFDRIVE_`` + the path
joined by ``_`` in upper case (``SELFDRIVE_SERVER_PORT``, ``SELFDRIVE_DATA_DIR``),
derived from the struct, never listed by hand.  Secrets come from
SELFDRIVE_ADMIN_PASSWORD and SELFDRIVE_KEY_PASSPHRASE, or from the files their
``_FILE`` variants name.  Every mistake is a `ConfigError` whose message is
one line naming the setting (docs/configuration.md).
"""

from __future__ import annotations

import difflib
import os
import re
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_origin

import msgspec

GB = 1000**3
#: the shortest GC grace period allowed (see MaintenanceConfig.gc_grace_s)
MIN_GC_GRACE_S = 60
GIB = 1024**3


EVENT_LOOPS = ("asyncio", "uvloop")


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
    #: serve HTTPS (and HTTP/2) with this certificate chain and key (PEM files);
    #: both empty: plain HTTP, for a reverse proxy in front
    tls_cert_file: str = ""
    tls_key_file: str = ""
    #: send Strict-Transport-Security (only on HTTPS, ours or a trusted proxy's)
    hsts: bool = False
    #: addresses or networks of reverse proxies whose X-Forwarded-For, -Proto
    #: and -Host are believed; from anyone else those headers are ignored
    trusted_proxies: list[str] = msgspec.field(default_factory=list)
    #: "asyncio" (Python's own loop) or "uvloop" (pip install 'selfdrive[uvloop]');
    #: measured side by side, uvloop did not wake 10,000 long polls more reliably
    #: (docs/benchmarks.md, "Long poll")
    event_loop: str = "asyncio"


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
    #: free space kept on the data dir's disk: new content is refused (507)
    #: before the disk is full, so the database always has room and reads go on
    reserve_bytes: int = 1 * GIB


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
    #: unfinished resumable uploads one user may have at once (and, apart, each file drop)
    max_open_uploads: int = 20
    #: staged tails (bytes after the last block boundary) one user's unfinished uploads may
    #: hold (and, apart, each file drop's)
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


class ThumbnailsConfig(msgspec.Struct, forbid_unknown_fields=True):
    #: the sealed thumbnail cache (<data>/thumbnails) stays under this; the
    #: least recently used go first; 0 caches nothing
    cache_bytes: int = 256 * 1024 * 1024
    #: larger pictures get no thumbnail (the source is read whole to decode it)
    max_source_bytes: int = 64 * 1024 * 1024
    #: pictures of more pixels get no thumbnail (decompression bombs)
    max_pixels: int = 50_000_000


class MetricsConfig(msgspec.Struct, forbid_unknown_fields=True):
    #: serve Prometheus metrics (docs/monitoring.md)
    enabled: bool = True
    #: 0: at /metrics on the main port, for admins only (Bearer token); N: on a
    #: listener of its own, metrics_host:N, plain HTTP and without auth
    port: int = 0
    #: the address of that listener (keep it private: it has no auth)
    metrics_host: str = "127.0.0.1"


class LogConfig(msgspec.Struct, forbid_unknown_fields=True):
    #: "debug", "info", "warning" or "error"
    level: str = "info"
    #: "text" (one line per record) or "json" (one JSON object per line)
    format: str = "text"
    #: one line per request (method, route, status, bytes, duration, user id)
    access: bool = True


class ReplicaConfig(msgspec.Struct, forbid_unknown_fields=True):
    """A second bucket, in another region or at another provider, that gets
    every object the primary one gets (docs/backup.md); empty `bucket`: none.
    Empty keys fall back to the same AWS variables as [backup]'s."""

    endpoint_url: str = ""
    region: str = ""
    bucket: str = ""
    prefix: str = ""
    access_key_id: str = ""
    secret_access_key: str = ""


class BackupConfig(msgspec.Struct, forbid_unknown_fields=True):
    """The S3 bucket that blocks and metadata snapshots are copied to
    (docs/backup.md); an empty `bucket` turns backup off."""

    #: the S3 API's address; empty: AWS itself (AWS_ENDPOINT_URL as fallback)
    endpoint_url: str = ""
    #: empty: AWS_REGION or AWS_DEFAULT_REGION, else us-east-1
    region: str = ""
    bucket: str = ""
    #: a folder of the bucket to keep everything under, e.g. "selfdrive/home"
    prefix: str = ""
    #: empty: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY
    access_key_id: str = ""
    secret_access_key: str = ""
    #: a metadata snapshot at least this often (while anything changed)
    snapshot_interval_s: float = 3600.0
    #: ...and sooner, once this many changes were made since the last one
    snapshot_after_changes: int = 1000
    #: snapshots kept in the bucket (the newest ones); restore picks any of them
    keep_snapshots: int = 7
    #: blocks copied to the bucket at once (each holds one block in memory)
    parallel_uploads: int = 8
    #: the longest wait between two tries while the bucket is unreachable
    max_backoff_s: float = 300.0
    #: cold tier: blocks only revisions replaced this long ago list leave the
    #: local disk for the buckets (0: off; docs/backup.md, "Cold tier")
    cold_after_days: float = 0.0
    #: the storage class they move to: "" the bucket's standard one, or e.g.
    #: "STANDARD_IA", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE" (the last two need a restore)
    cold_storage_class: str = ""
    #: an archived block's restore: how long the copy stays readable, and the tier
    cold_restore_days: int = 7
    cold_restore_tier: str = "Standard"
    #: how often the tiering loop looks, and how many blocks one batch moves
    cold_interval_s: float = 3600.0
    cold_batch_blocks: int = 200
    #: a block the local GC deleted leaves the buckets this long after (and
    #: only once no kept snapshot can reference it)
    bucket_gc_grace_days: float = 30.0
    bucket_gc_interval_s: float = 3600.0
    #: the second bucket ([backup.replica])
    replica: ReplicaConfig = msgspec.field(default_factory=ReplicaConfig)


class Config(msgspec.Struct, forbid_unknown_fields=True):
    #: where the database, blocks and keys live
    data_dir: str = ""
    server: ServerConfig = msgspec.field(default_factory=ServerConfig)
    storage: StorageConfig = msgspec.field(default_factory=StorageConfig)
    limits: LimitsConfig = msgspec.field(default_factory=LimitsConfig)
    maintenance: MaintenanceConfig = msgspec.field(default_factory=MaintenanceConfig)
    retention: RetentionConfig = msgspec.field(default_factory=RetentionConfig)
    webdav: WebDAVConfig = msgspec.field(default_factory=WebDAVConfig)
    thumbnails: ThumbnailsConfig = msgspec.field(default_factory=ThumbnailsConfig)
    metrics: MetricsConfig = msgspec.field(default_factory=MetricsConfig)
    log: LogConfig = msgspec.field(default_factory=LogConfig)
    backup: BackupConfig = msgspec.field(default_factory=BackupConfig)

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser()


class Secrets(msgspec.Struct):
    """Values read from the environment that must never be written to a file."""

    admin_password: str | None = None
    key_passphrase: str | None = None


#: the values of [log] level and format (selfdrive/logs.py uses them)
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "json")


class ConfigError(Exception):
    """A setting the server cannot run with; the message is one line that names it."""


#: SELFDRIVE_ variables that are not settings (secrets, the config file's
#: path, switches of the tests and benchmarks): never refused as unknown
OTHER_VARIABLES = frozenset({
    "SELFDRIVE_CONFIG",
    "SELFDRIVE_ADMIN_PASSWORD", "SELFDRIVE_ADMIN_PASSWORD_FILE",
    "SELFDRIVE_KEY_PASSPHRASE", "SELFDRIVE_KEY_PASSPHRASE_FILE",
    "SELFDRIVE_REQUIRE_EXTERNAL", "SELFDRIVE_CONVERGENCE_SEEDS",
    "SELFDRIVE_CRASH_SEED", "SELFDRIVE_CRASH_KILLS", "SELFDRIVE_DOCKER_ENV",
})

#: the short names from before the SELFDRIVE_<SECTION>_<KEY> rule, still honoured;
#: the long name wins when both are set (an image may set a short one as its default)
ALIASES = {
    "SELFDRIVE_DATA": "data_dir", "SELFDRIVE_HOST": "server.host", "SELFDRIVE_PORT": "server.port",
}

#: a setting whose key contains one of these is a secret: never printed
_SECRET_WORDS = ("password", "passphrase", "secret", "token")


@dataclass(frozen=True)
class Setting:
    """One key of the config, e.g. path ``("server", "port")`` of type ``int``."""

    path: tuple[str, ...]
    type: Any

    @property
    def name(self) -> str:
        """``server.port``: how messages and `selfdrive config check` name it."""
        return ".".join(self.path)

    @property
    def variable(self) -> str:
        """``SELFDRIVE_SERVER_PORT``: the environment variable that sets it."""
        return "SELFDRIVE_" + "_".join(self.path).upper()

    @property
    def secret(self) -> bool:
        return any(word in self.path[-1] for word in _SECRET_WORDS)


def settings(struct: type[msgspec.Struct] = Config, section: tuple[str, ...] = ()) -> list[Setting]:
    """Every key of *struct*, sections flattened, top-level keys first."""
    keys: list[Setting] = []
    tables: list[Setting] = []
    for field in msgspec.structs.fields(struct):
        path = (*section, field.name)
        if _is_table(field.type):
            tables += settings(field.type, path)
        else:
            keys.append(Setting(path, field.type))
    return keys + tables


def _is_table(type_: Any) -> bool:
    return isinstance(type_, type) and issubclass(type_, msgspec.Struct)


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


def load(
    config_file: Path | None = None,
    *,
    data_dir: Path | None = None,
    host: str | None = None,
    port: int | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[Config, Secrets]:
    """The config and secrets in force; ConfigError names the first bad setting."""
    env = os.environ if env is None else env
    raw: dict[str, Any] = {}
    path, origin = config_file, "--config"
    if path is None and env.get("SELFDRIVE_CONFIG"):
        path, origin = Path(env["SELFDRIVE_CONFIG"]), "SELFDRIVE_CONFIG"
    if path is not None:
        raw = _check_table(_read_toml(path, origin), Config, (), f"in {path}")
    for name, (_, value) in environment_settings(env).items():
        _put(raw, name, value)
    flags = {"data_dir": None if data_dir is None else str(data_dir),
             "server.host": host, "server.port": port}
    for name, flag in flags.items():
        if flag is not None:
            _put(raw, name, flag)
    try:
        config = msgspec.convert(raw, Config)
    except msgspec.ValidationError as exc:  # every value was checked above: not expected
        raise ConfigError(f"config: {exc}") from None
    if not config.data_dir:
        config.data_dir = str(default_data_dir(env))
    _backup_from_aws_environment(config.backup, env)
    _check_values(config)
    secrets = Secrets(
        admin_password=_secret(env, "SELFDRIVE_ADMIN_PASSWORD"),
        key_passphrase=_secret(env, "SELFDRIVE_KEY_PASSPHRASE"),
    )
    return config, secrets


def environment_settings(env: Mapping[str, str]) -> dict[str, tuple[str, Any]]:
    """The settings SELFDRIVE_ variables give: ``{"server.port": ("SELFDRIVE_SERVER_PORT", 9000)}``.

    The rule: ``SELFDRIVE_`` + the key's section and name joined by ``_``, in
    upper case; an empty variable counts as unset, and a long name wins over
    its short alias (`ALIASES`).  A variable that starts like a section
    (``SELFDRIVE_SERVER_...``) but names no key of it is refused, so that a
    typo cannot silently leave a default in force.
    """
    by_variable = {s.variable: s for s in settings()}
    by_name = {s.name: s for s in by_variable.values()}
    found: dict[str, tuple[str, Any]] = {}
    for variable in sorted(env):
        text = env[variable]
        if not variable.startswith("SELFDRIVE_") or not text:
            continue
        setting = by_name.get(ALIASES.get(variable, "")) or by_variable.get(variable)
        if setting is None:
            if variable not in OTHER_VARIABLES:
                _refuse_if_in_a_section(variable, list(by_variable))
            continue
        value = value_from_text(text, setting, variable)
        if setting.name not in found or found[setting.name][0] in ALIASES:
            found[setting.name] = (variable, value)
    return found


def _refuse_if_in_a_section(variable: str, known: list[str]) -> None:
    # the longest section first: SELFDRIVE_BACKUP_REPLICA_X is of [backup.replica]
    for section in sorted({s.path[:-1] for s in settings() if len(s.path) > 1},
                          key=len, reverse=True):
        prefix = "SELFDRIVE_" + "_".join(section).upper() + "_"
        if variable.startswith(prefix):
            keys = [v.removeprefix(prefix) for v in known if v.startswith(prefix)]
            close = difflib.get_close_matches(variable.removeprefix(prefix), keys, n=1)
            hint = f", did you mean {prefix}{close[0]}?" if close else ""
            key = variable.removeprefix(prefix).lower()
            raise ConfigError(f"unknown variable {variable}: [{'.'.join(section)}]"
                              f' has no key "{key}"{hint}')


def value_from_text(text: str, setting: Setting, variable: str) -> Any:
    """An environment variable's text as the setting's type (numbers, true/false/1/0,
    sizes, lists as JSON or comma-separated)."""
    origin = f"from {variable}"
    value: Any = text
    if setting.path[-1].endswith("_bytes"):
        value = _size(text, setting.name, origin)
    elif get_origin(setting.type) in (list, tuple, set, frozenset):
        if text.lstrip().startswith("["):
            try:
                value = msgspec.json.decode(text)
            except msgspec.DecodeError as exc:
                raise ConfigError(f"{setting.name}: not a JSON list: {exc} ({origin})") from None
        else:
            value = [part.strip() for part in text.split(",") if part.strip()]
    return _convert(value, setting.type, setting.name, origin, strict=False)


def _read_toml(path: Path, origin: str) -> dict[str, Any]:
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path} (given by {origin}):"
                          f" {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def _check_table(table: Mapping[str, Any], struct: type[msgspec.Struct],
                 section: tuple[str, ...], origin: str) -> dict[str, Any]:
    """The file's *table* for *struct*, sizes made ints; refuses unknown keys and
    values of the wrong type with a message naming the key."""
    fields = {f.name: f.type for f in msgspec.structs.fields(struct)}
    out: dict[str, Any] = {}
    for key, value in table.items():
        name = ".".join((*section, key))
        if key not in fields:
            raise _unknown_key(key, section, list(fields), origin)
        type_ = fields[key]
        if _is_table(type_):
            if not isinstance(value, dict):
                raise ConfigError(f"{name}: expected a table [{name}],"
                                  f" got {_show(value)} ({origin})")
            out[key] = _check_table(value, type_, (*section, key), origin)
        elif key.endswith("_bytes") and isinstance(value, str):
            out[key] = _size(value, name, origin)
        else:
            out[key] = _convert(value, type_, name, origin)
    return out


def _unknown_key(key: str, section: tuple[str, ...], known: list[str], origin: str) -> ConfigError:
    place = f"in [{'.'.join(section)}]" if section else "at the top level"
    close = difflib.get_close_matches(key, known, n=1)
    homes = [s.path[:-1] for s in settings() if s.path[-1] == key and s.path[:-1] != section]
    if close:
        hint = f', did you mean "{close[0]}"?'
    elif homes:
        hint = (f", it belongs under [{'.'.join(homes[0])}]" if homes[0]
                else ", it belongs at the top, before any [section]")
    else:
        hint = ""
    return ConfigError(f'unknown key "{key}" {place}{hint} ({origin})')


def _size(text: str, name: str, origin: str) -> int:
    try:
        return parse_size(text)
    except ConfigError:
        raise ConfigError(f'{name}: expected a size such as "10GB" or "512MiB",'
                          f" got {_show(text)} ({origin})") from None


def _convert(value: Any, type_: Any, name: str, origin: str, *, strict: bool = True) -> Any:
    try:
        return msgspec.convert(value, type_, strict=strict)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{name}: {_expected(str(exc))}, got {_show(value)} ({origin})") from None


def _expected(message: str) -> str:
    """msgspec's "Expected `int`, got `str` - at `$[1]`" as "expected int at [1]"."""
    m = re.fullmatch(r"Expected `([^`]*)`, got `[^`]*`(?: - at `\$(.*)`)?", message)
    if m is None:
        return message[:1].lower() + message[1:]
    return f"expected {m[1]}" + (f" at {m[2]}" if m[2] else "")


def _show(value: Any) -> str:
    try:
        text = msgspec.json.encode(value).decode()
    except (TypeError, msgspec.EncodeError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _put(raw: dict[str, Any], name: str, value: Any) -> None:
    *section, key = name.split(".")
    for part in section:
        raw = raw.setdefault(part, {})
    raw[key] = value


#: [backup] keys that the usual AWS variables fill in when the config leaves them empty
AWS_FALLBACKS = {
    "endpoint_url": ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
    "region": ("AWS_REGION", "AWS_DEFAULT_REGION"),
    "access_key_id": ("AWS_ACCESS_KEY_ID",),
    "secret_access_key": ("AWS_SECRET_ACCESS_KEY",),
}


def _backup_from_aws_environment(backup: BackupConfig, env: Mapping[str, str]) -> None:
    for table in (backup, backup.replica):
        for key, variables in AWS_FALLBACKS.items():
            if getattr(table, key):
                continue
            value = next((env[v] for v in variables if env.get(v)), "")
            setattr(table, key, value)


def _check_values(config: Config) -> None:
    """Rules the types alone cannot state."""
    if not 0 < config.server.port < 65536:
        raise ConfigError(f"server.port: expected 1 to 65535, got {config.server.port}")
    if config.maintenance.gc_grace_s < MIN_GC_GRACE_S:
        raise ConfigError(
            f"maintenance.gc_grace_s must be at least {MIN_GC_GRACE_S} s: an upload pins its"
            " blocks within that time, and the grace period is what protects them until then"
            " (docs/storage.md, Garbage collection)"
        )
    if config.server.event_loop not in EVENT_LOOPS:
        raise ConfigError(f"server.event_loop: expected one of {', '.join(EVENT_LOOPS)},"
                          f" got {config.server.event_loop!r}")
    if config.storage.cipher not in ("auto", "aes-256-gcm", "chacha20-poly1305"):
        raise ConfigError(f"storage.cipher: unknown cipher {config.storage.cipher!r}")
    if config.log.level.lower() not in LOG_LEVELS:
        raise ConfigError(f"log.level: expected one of {', '.join(LOG_LEVELS)},"
                          f" got {config.log.level!r}")
    _check_backup(config.backup)
    if config.backup.bucket_gc_grace_days * 86400 <= config.maintenance.gc_grace_s:
        raise ConfigError(
            f"backup.bucket_gc_grace_days ({config.backup.bucket_gc_grace_days}) must be longer"
            f" than maintenance.gc_grace_s ({config.maintenance.gc_grace_s} s): the buckets"
            " keep a block longer than the local disk does")
    if config.log.format.lower() not in LOG_FORMATS:
        raise ConfigError(f"log.format: expected one of {', '.join(LOG_FORMATS)},"
                          f" got {config.log.format!r}")


def _check_bucket(b: BackupConfig | ReplicaConfig, table: str) -> None:
    if b.endpoint_url and not re.match(r"^https?://[^/\s]+", b.endpoint_url):
        raise ConfigError(f"{table}.endpoint_url: expected an http:// or https:// address,"
                          f" got {b.endpoint_url!r}")
    if b.bucket and not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", b.bucket):
        raise ConfigError(f"{table}.bucket: {b.bucket!r} is not an S3 bucket name"
                          " (3 to 63 of a-z, 0-9, '.', '-')")
    if b.bucket and bool(b.access_key_id) != bool(b.secret_access_key):
        raise ConfigError(f"{table}.access_key_id and {table}.secret_access_key go together:"
                          " set both, or neither (then AWS_ACCESS_KEY_ID and"
                          " AWS_SECRET_ACCESS_KEY are used)")


def _check_backup(b: BackupConfig) -> None:
    _check_bucket(b, "backup")
    r = b.replica
    _check_bucket(r, "backup.replica")
    if r.bucket and not b.bucket:
        raise ConfigError("backup.replica.bucket: a replica needs a primary bucket:"
                          " set backup.bucket too")
    if r.bucket and (r.endpoint_url, r.bucket, r.prefix.strip("/")) == (
            b.endpoint_url, b.bucket, b.prefix.strip("/")):
        raise ConfigError("backup.replica: it names the same bucket and prefix as [backup];"
                          " a replica must be another bucket (or at least another prefix)")
    for name, value in (("keep_snapshots", b.keep_snapshots),
                        ("parallel_uploads", b.parallel_uploads),
                        ("snapshot_after_changes", b.snapshot_after_changes)):
        if value < 1:
            raise ConfigError(f"backup.{name}: expected at least 1, got {value}")
    if b.snapshot_interval_s <= 0 or b.max_backoff_s <= 0:
        raise ConfigError("backup.snapshot_interval_s and backup.max_backoff_s must be positive")
    _check_cold_tier(b)


def _check_cold_tier(b: BackupConfig) -> None:
    if b.cold_after_days < 0:
        raise ConfigError(f"backup.cold_after_days: expected 0 (off) or more, got"
                          f" {b.cold_after_days}")
    if b.cold_after_days and not b.bucket:
        raise ConfigError("backup.cold_after_days: the cold tier needs a bucket: set"
                          " backup.bucket too")
    if b.cold_storage_class and not re.fullmatch(r"[A-Z][A-Z_]{1,30}", b.cold_storage_class):
        raise ConfigError(f"backup.cold_storage_class: {b.cold_storage_class!r} is not an S3"
                          " storage class (e.g. STANDARD_IA, GLACIER, DEEP_ARCHIVE)")
    if b.cold_restore_tier not in ("Expedited", "Standard", "Bulk"):
        raise ConfigError("backup.cold_restore_tier: expected Expedited, Standard or Bulk,"
                          f" got {b.cold_restore_tier!r}")
    for name, value in (("cold_restore_days", b.cold_restore_days),
                        ("cold_batch_blocks", b.cold_batch_blocks)):
        if value < 1:
            raise ConfigError(f"backup.{name}: expected at least 1, got {value}")
    if b.cold_interval_s <= 0 or b.bucket_gc_interval_s <= 0:
        raise ConfigError("backup.cold_interval_s and backup.bucket_gc_interval_s must be"
                          " positive")


def _secret(env: Mapping[str, str], variable: str) -> str | None:
    """*variable*'s value, or the content of the file *variable*_FILE names
    (Docker secrets) without its one trailing newline."""
    value = env.get(variable) or None
    file_variable = variable + "_FILE"
    path = env.get(file_variable)
    if not path:
        return value
    if value is not None:
        raise ConfigError(f"both {variable} and {file_variable} are set: keep one")
    try:
        text = Path(path).read_text("utf-8")
    except OSError as exc:
        raise ConfigError(f"{file_variable}: cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{file_variable}: {path} is not UTF-8 text") from None
    text = text[:-2] if text.endswith("\r\n") else text.removesuffix("\n")
    if not text:
        raise ConfigError(f"{file_variable}: {path} is empty")
    return text


def check_data_dir(path: Path, *, create: bool) -> None:
    """Refuse, in one line, a data dir the server could not use.

    With *create* (at startup), make it (mode 0700) and write a scratch file in
    it; without (`selfdrive config check`), only look.
    """
    where = f"data_dir {path}"
    blocker = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)
    if blocker == path:
        raise ConfigError(f"{where}: a file is in the way (a folder is needed there)")
    if blocker is not None:
        raise ConfigError(f"{where}: cannot be created, {blocker} is a file")
    if not create:
        existing = next(p for p in (path, *path.parents) if p.exists())
        if not os.access(existing, os.W_OK | os.X_OK):
            verb = "cannot write in it" if existing == path else f"cannot create it in {existing}"
            raise ConfigError(f"{where}: {verb}: permission denied for this user")
        return
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{where}: cannot create it: {exc.strerror or exc}") from None
    try:
        fd, scratch = tempfile.mkstemp(dir=path, prefix=".write-test-")
        os.close(fd)
        os.unlink(scratch)
    except OSError as exc:
        raise ConfigError(f"{where}: cannot write in it: {exc.strerror or exc}") from None


def changed_settings(config: Config, env: Mapping[str, str] | None = None) -> list[str]:
    """The settings of *config* that differ from the defaults, as TOML lines
    (secrets masked), each marked with the variable that set it, if one did."""
    env = os.environ if env is None else env
    now = _values(config)
    default = _values(Config(data_dir=str(default_data_dir(env))))
    from_env = environment_settings(env)
    lines = []
    for s in settings():
        if now[s.name] != default[s.name]:
            line = f"{s.name} = {_toml('********' if s.secret else now[s.name])}"
            variable, value = from_env.get(s.name, ("", None))
            lines.append(f"{line}  # from {variable}" if value == now[s.name] else line)
    return lines


def to_toml(config: Config) -> str:
    """*config* as a TOML file (secrets masked), for `selfdrive config show`."""
    values = _values(config)
    lines: list[str] = []
    section: tuple[str, ...] = ()
    for s in settings():
        if s.path[:-1] != section:
            section = s.path[:-1]
            lines += ["", f"[{'.'.join(section)}]"]
        masked = s.secret and values[s.name]  # an empty secret hides nothing
        lines.append(f"{s.path[-1]} = {_toml('********' if masked else values[s.name])}")
    return "\n".join(lines) + "\n"


def _toml(value: Any) -> str:
    """A setting's value as TOML (JSON's strings, numbers, booleans and arrays are TOML)."""
    return msgspec.json.encode(value).decode()


def _values(config: Config) -> dict[str, Any]:
    """Every setting's value by its dotted name."""
    builtins = msgspec.to_builtins(config)
    out: dict[str, Any] = {}
    for s in settings():
        value = builtins
        for part in s.path:
            value = value[part]
        out[s.name] = value
    return out
