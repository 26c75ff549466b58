"""The `selfdrive` command: serve, user add, user list, gc, fsck, config check,
config show, doctor, admin backup-db, backup status/now/verify, restore, key
export, login, logout, app-password, sync.

Each subcommand is a small function; they share the config loading and the
runtime opening, and print errors in one sentence (exit code 2 for usage and
for a bad config, 1 for a failure).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import getpass
import logging
import os
import socket
import sqlite3
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from selfdrive import __version__, doctor, logs
from selfdrive.config import (
    Config,
    ConfigError,
    Secrets,
    changed_settings,
    check_data_dir,
    load,
    parse_size,
    to_toml,
)
from selfdrive.core.clock import SystemClock
from selfdrive.core.errors import BucketUnavailable, SelfdriveError, StorageError
from selfdrive.services.admin import CONSOLE, UserChange
from selfdrive.services.runtime import Runtime, ensure_admin, open_runtime
from selfdrive.store.keys import KeyringError
from selfdrive.sync.errors import ClientError

if TYPE_CHECKING:
    from selfdrive.services.backup import BackupService
    from selfdrive.services.backup_targets import Status as BackupStatus
    from selfdrive.store.meta.coldtier import Usage as ColdUsage


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="a TOML config file (see config.example.toml)")
    p.add_argument("--data", type=Path, help="the data dir (default ~/.local/share/selfdrive)")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="selfdrive", description="A self-hosted file sync server.")
    top.add_argument("--version", action="version", version=f"selfdrive {__version__}")
    sub = top.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the server")
    _common(serve)
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8080)")

    users = sub.add_parser("user", help="manage users")
    user = users.add_subparsers(dest="user_cmd", required=True)
    add = user.add_parser("add", help="create a user")
    add.add_argument("name")
    add.add_argument("--admin", action="store_true", help="make the user an administrator")
    add.add_argument("--quota", help="storage quota, e.g. 10GB or 500GiB (default from config)")
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from standard input instead of asking")
    _common(add)
    ls = user.add_parser("list", help="list users")
    _common(ls)
    change = user.add_parser("set", help="change a user's quota, admin rights, or disable them")
    change.add_argument("name")
    change.add_argument("--quota", help="new storage quota, e.g. 50GB")
    role = change.add_mutually_exclusive_group()
    role.add_argument("--admin", dest="is_admin", action="store_const", const=True,
                      help="make the user an administrator")
    role.add_argument("--no-admin", dest="is_admin", action="store_const", const=False,
                      help="take the user's admin rights")
    state = change.add_mutually_exclusive_group()
    state.add_argument("--disable", dest="disabled", action="store_const", const=True,
                       help="end the user's devices and sessions and refuse sign-in;"
                            " their files and shares stay")
    state.add_argument("--enable", dest="disabled", action="store_const", const=False,
                       help="let a disabled user sign in again")
    _common(change)
    passwd = user.add_parser("password", help="set a user's password (e.g. a forgotten one)")
    passwd.add_argument("name")
    passwd.add_argument("--password-stdin", action="store_true",
                        help="read the password from standard input instead of asking")
    _common(passwd)

    gc = sub.add_parser("gc", help="expire the trash, thin revisions, free unreferenced blocks")
    _common(gc)

    fsck = sub.add_parser(
        "fsck", help="check every block and every revision; exit 0 only if the store is whole"
    )
    fsck.add_argument("--remote", action="store_true",
                      help="check that the backup buckets hold every block of the cold tier"
                           " (HEAD requests; docs/backup.md)")
    fsck.add_argument("--repair", action="store_true",
                      help="mark the revisions that cannot be read whole as broken"
                           " (nothing is deleted)")
    _common(fsck)

    configs = sub.add_parser("config", help="check or show the config without starting")
    config = configs.add_subparsers(dest="config_cmd", required=True)
    check = config.add_parser("check", help="validate the config file and environment; print"
                                            " the settings that differ from the defaults")
    _common(check)
    show = config.add_parser("show", help="print the config in force as TOML (secrets masked)")
    _common(show)
    doc = sub.add_parser("doctor", help="check this machine and the data dir; say what to fix")
    _common(doc)
    admins = sub.add_parser("admin", help="administration of the data dir")
    admin = admins.add_subparsers(dest="admin_cmd", required=True)
    backup = admin.add_parser(
        "backup-db", help="copy the metadata database consistently to FILE (works while the"
                          " server runs)")
    backup.add_argument("file", type=Path, help="where to write the copy")
    _common(backup)

    backups = sub.add_parser("backup", help="the copy of blocks and metadata in the S3 bucket"
                                            " of [backup] (docs/backup.md)")
    backup_cmd = backups.add_subparsers(dest="backup_cmd", required=True)
    b_status = backup_cmd.add_parser("status", help="what is still to copy, the last snapshot,"
                                                    " the last error")
    _common(b_status)
    b_now = backup_cmd.add_parser("now", help="copy every queued block and upload a snapshot now")
    _common(b_now)
    b_verify = backup_cmd.add_parser(
        "verify", help="check that every block the newest snapshot needs is in the bucket")
    b_verify.add_argument("--snapshot", help="check this snapshot instead of the newest")
    b_verify.add_argument("--download", action="store_true",
                          help="download every block and hash it too (a HEAD cannot see damage"
                               " inside the bucket; this reads the whole backup)")
    _common(b_verify)

    rest = sub.add_parser("restore", help="rebuild a data dir from the backup bucket alone")
    rest.add_argument("--from-backup", action="store_true", required=True,
                      help="from the bucket of [backup] (the only source there is)")
    rest.add_argument("--snapshot", help="restore this snapshot instead of the newest")
    rest.add_argument("--list", action="store_true", help="list the snapshots and stop")
    rest.add_argument("--key-file", type=Path,
                      help="the key's recovery copy (selfdrive key export); not needed if"
                           " the new data dir already has the old keys/ folder")
    rest.add_argument("--passphrase-stdin", action="store_true",
                      help="read the key file's passphrase from standard input")
    _common(rest)

    keys = sub.add_parser("key", help="the encryption key")
    key_cmd = keys.add_subparsers(dest="key_cmd", required=True)
    export = key_cmd.add_parser(
        "export", help="write a recovery copy of the key, wrapped by a passphrase (Argon2id)")
    export.add_argument("--out", type=Path, required=True, help="the file to write (new)")
    export.add_argument("--passphrase-stdin", action="store_true",
                        help="read the new passphrase from standard input instead of asking")
    _common(export)

    login = sub.add_parser("login", help="log this device in to a server (stores a token)")
    login.add_argument("--server", required=True,
                       help="the server's URL, e.g. https://drive.example.com")
    login.add_argument("--username", help="the user to log in as (default: ask)")
    login.add_argument("--password-stdin", action="store_true",
                       help="read the password from standard input instead of asking")
    login.add_argument("--device-name", help="how this device is listed (default: the hostname)")
    app = sub.add_parser(
        "app-password",
        help="make a device token to use as the password of a WebDAV client (shown once)")
    app.add_argument("--server", required=True,
                     help="the server's URL, e.g. https://drive.example.com")
    app.add_argument("--username", help="your username (default: ask)")
    app.add_argument("--password-stdin", action="store_true",
                     help="read your password from standard input instead of asking")
    app.add_argument("--name", required=True,
                     help="how it is listed among your devices, e.g. 'Finder on my Mac'")
    logout = sub.add_parser("logout", help="revoke this device's token and forget it")
    logout.add_argument("--server", help="the server to log out of (default: the last login)")

    sync = sub.add_parser("sync", help="keep a local folder and a server folder in two-way sync")
    sync.add_argument("dir", help="the local folder")
    sync.add_argument("--remote", default="/", help="the server folder (default: /)")
    sync.add_argument("--server", help="the server (default: the last login)")
    sync.add_argument("--once", action="store_true",
                      help="sync both ways, then exit: 0 in sync, non-zero with the reason")
    sync.add_argument("--status", action="store_true",
                      help="say what is pending, what failed and why, then exit")
    sync.add_argument("--confirm-deletes", action="store_true",
                      help="let a remote change move more than half the local files to the trash")
    return top


def _load(args: argparse.Namespace, **overrides: object) -> tuple[Config, Secrets]:
    return load(args.config, data_dir=args.data, **overrides)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def _runtime(config: Config, secrets_: Secrets) -> AsyncIterator[Runtime]:
    """The services of a data dir, for a one-off command (works beside a running server)."""
    _check_data_dir(config, secrets_)
    runtime = await open_runtime(config, secrets_)
    try:
        yield runtime
    finally:
        await runtime.close()


async def _serve(args: argparse.Namespace, config: Config, secrets_: Secrets) -> int:
    from selfdrive.http.server import hypercorn_config, serve

    logs.setup(config.log)  # [log]: level, text or JSON lines, to standard error
    try:
        # Hypercorn binds only after the app has started, and then fails with
        # a traceback; a trial bind first says what is wrong in one line.
        bound = hypercorn_config(config).create_sockets()
        for sock in (*bound.secure_sockets, *bound.insecure_sockets, *bound.quic_sockets):
            sock.close()
    except OSError as exc:
        raise _bind_error(config, exc) from None
    _check_data_dir(config, secrets_)
    first_key = not list((config.data_path / "keys").glob("key-*.json"))
    runtime = await open_runtime(config, secrets_)
    password = await ensure_admin(runtime, secrets_)
    if password is not None:
        print(f"Created user 'admin' with password: {password}\n"
              "(shown once; set SELFDRIVE_ADMIN_PASSWORD to choose it)", flush=True)
    scheme = "https" if config.server.tls_cert_file else "http"
    print(f"selfdrive {__version__} serving {scheme}://{config.server.host}:{config.server.port}"
          f" with data in {config.data_path}", flush=True)
    if first_key:  # a log record, so that JSON logs stay JSON
        logging.getLogger("selfdrive").warning(
            "A new encryption key is in %s: without it no block and no backup can be read."
            " Keep a recovery copy away from this machine: selfdrive key export --data %s"
            " --out selfdrive-key.json", config.data_path / "keys", config.data_path)
    await serve(runtime)
    return 0


async def _admin(args: argparse.Namespace) -> int:
    """`admin backup-db FILE`: SQLite's online backup of meta.db, consistent
    whatever the running server writes meanwhile.  The blocks are not in it:
    back up the data dir's blocks/ and keys/ too (docs/install.md)."""
    from selfdrive.store.meta.db import backup_file

    config, _ = _load(args)
    source = config.data_path / "meta.db"
    if not source.is_file():
        raise SelfdriveError(f"there is no database at {source}")
    target = args.file.expanduser()
    if target.resolve() == source.resolve():
        raise SelfdriveError("the copy cannot replace the database itself")
    try:
        backup_file(source, target)
    except (OSError, sqlite3.Error) as exc:
        raise SelfdriveError(f"cannot copy {source} to {target}: {exc}") from None
    print(f"copied {source} to {target} ({target.stat().st_size} bytes)")
    return 0


def _progress(verb: str) -> Callable[[int, int, int], None] | None:
    """A one-line progress report on a terminal (standard error); None elsewhere."""
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int, nbytes: int) -> None:
        print(f"\r{verb} {done}/{total} blocks, {_human(nbytes)}   ", end="", file=sys.stderr,
              flush=True)

    return show


def _end_progress() -> None:
    if sys.stderr.isatty():
        print(file=sys.stderr)


def _ago(ms: int | None, now_ms: int) -> str:
    if ms is None:
        return "never"
    seconds = max(0, (now_ms - ms) // 1000)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


async def _backup(args: argparse.Namespace) -> int:
    config, secrets_ = _load(args)
    if not (config.data_path / "meta.db").is_file():
        raise SelfdriveError(f"there is no selfdrive store in {config.data_path}")
    async with _runtime(config, secrets_) as runtime:
        backup = runtime.backup
        if args.backup_cmd == "status":
            _print_status(await backup.status(), runtime.clock.now_ms())
            _print_tiers(await runtime.cold.usage(), await runtime.bucket_gc.pending(),
                         runtime.config.backup.cold_after_days)
            return 0
        if args.backup_cmd == "now":
            return await _backup_now(backup)
        report_v = await backup.verify(args.snapshot, download=args.download)
        for check in report_v.targets:
            for bad in check.bad:
                print(f"{check.name}: block {bad.block_id.hex()}: {bad.problem}")
            if check.error is not None:
                print(f"{check.name} ({check.where}): not checked: {check.error}")
                continue
            how = "downloaded and hashed" if args.download else "HEAD: size and SHA-256"
            print(f"{check.name} ({check.where}): snapshot {check.snapshot_id}: checked"
                  f" {check.checked} blocks ({how}; {check.checksummed} SHA-256 compared with"
                  f" the local copy), {len(check.bad)} missing or wrong"
                  + ("; they are queued to be sent again" if check.bad else ""))
        return 0 if report_v.whole else 1


def _print_tiers(usage: ColdUsage, garbage: tuple[int, int], cold_after_days: float) -> None:
    print(f"local disk: {usage.local_blocks} blocks ({_human(usage.local_bytes)})")
    print(f"cold tier: {usage.cold_blocks} blocks ({_human(usage.cold_bytes)}) only in the"
          " buckets" + ("" if cold_after_days else " (cold_after_days is 0: nothing more"
                                                   " moves)"))
    print(f"bucket garbage: {garbage[0]} blocks ({_human(garbage[1])}) to delete from the"
          " buckets after bucket_gc_grace_days")


def _print_status(status: BackupStatus, now: int) -> None:
    st = status.state
    for t in status.targets:
        p, ts = t.pending, t.state
        print(f"{t.name}: {t.where}")
        print(f"  pending: {p.blocks} blocks ({_human(p.bytes)})"
              + (f", oldest queued {_ago(p.oldest_ms, now)}" if p.oldest_ms else ""))
        if ts is None:
            print("  not bound yet: the next pass queues every block for it")
            continue
        last = (f"{ts.snapshot_id}, {_ago(ts.snapshot_at, now)}"
                f" ({_human(ts.snapshot_bytes or 0)})" if ts.snapshot_id else "none yet")
        print(f"  last snapshot: {last}")
        print(f"  last success: {_ago(ts.last_success_at, now)}")
        print(f"  last error: {ts.last_error} ({_ago(ts.last_error_at, now)})"
              if ts.last_error else "  last error: none")
    print(f"newest snapshot: {st.snapshot_id}, {_ago(st.snapshot_at, now)}" if st.snapshot_id
          else "newest snapshot: none yet")


async def _backup_now(backup: BackupService) -> int:
    """Copy every queued block and upload a snapshot to every bucket that answers."""
    try:
        report = await backup.copy_pass(_progress("copied"))
    except BucketUnavailable as exc:
        _end_progress()
        raise StorageError(f"no backup bucket could be reached: {exc}") from None
    _end_progress()
    working = [t.name for t in backup.targets if t.name not in report.unavailable]
    snap = await backup.snapshot(_progress("copied"), only=working)
    _end_progress()
    status = await backup.status()
    print(f"copied {report.uploaded} blocks ({_human(report.bytes_sent)});"
          f" snapshot {snap.id} uploaded ({_human(snap.size)}) to {' and '.join(snap.targets)};"
          f" {status.pending_blocks} blocks pending")
    failures = {**report.unavailable, **snap.errors}
    for name, error in failures.items():
        print(f"error: {name}: {error}")
    for error in report.errors if not failures else []:
        print(f"error: {error}")
    return 0 if not report.failed and not failures else 1


async def _restore(args: argparse.Namespace) -> int:
    from selfdrive.services.backup_read import Source, catalogue
    from selfdrive.services.backup_targets import s3_targets
    from selfdrive.services.restore import restore
    from selfdrive.store.keys import import_keyring, install_keyring, load_keyring
    from selfdrive.store.s3 import S3Bucket

    config, secrets_ = _load(args)
    sources = [Source(name, S3Bucket(target)) for name, target in s3_targets(config.backup)]
    if not sources:
        raise ConfigError("restore --from-backup needs the bucket: set [backup] bucket"
                          " (and its endpoint and credentials) as on the old server")
    if args.list:
        found = await catalogue(sources)
        for source in sources:
            if source.name in found.errors:
                print(f"{source.name}: unreachable: {found.errors[source.name]}")
            for snap in found.snapshots.get(source.name, []):
                print(f"{snap.id}  {_human(snap.size)}  {source.name}")
        return 0 if found.snapshots else 1
    data = config.data_path
    if (data / "meta.db").exists():
        raise SelfdriveError(f"{data} already holds a database: restore into a new data dir")
    check_data_dir(data, create=True)
    keys = data / "keys"
    if args.key_file is not None:
        try:
            exported = args.key_file.expanduser().read_bytes()
        except OSError as exc:
            raise SelfdriveError(f"cannot read {args.key_file}: {exc.strerror}") from None
        passphrase = (sys.stdin.readline().rstrip("\r\n") if args.passphrase_stdin
                      else getpass.getpass("Passphrase of the key file: "))
        keyring = import_keyring(exported, passphrase)
        if list(keys.glob("key-*.json")):
            if load_keyring(keys, secrets_.key_passphrase).keys != keyring.keys:
                raise SelfdriveError(f"{keys} holds other keys than {args.key_file}")
        else:
            install_keyring(keys, keyring, secrets_.key_passphrase)
    elif list(keys.glob("key-*.json")):
        keyring = load_keyring(keys, secrets_.key_passphrase)
    else:
        raise SelfdriveError("restore needs the key: --key-file FILE (made by selfdrive key"
                             f" export), or the old keys/ folder copied to {keys}")
    report = await restore(sources, keyring, data, SystemClock(), snapshot_id=args.snapshot,
                           parallel=config.backup.parallel_uploads,
                           progress=_progress("fetched"))
    _end_progress()
    origin = ", ".join(f"{n} from the {name} bucket" for name, n in report.fetched_from.items())
    print(f"restored snapshot {report.snapshot_id} (from the {report.source} bucket) into"
          f" {data}: {report.blocks} blocks ({_human(report.fetched_bytes)}"
          + (f"; {origin}" if origin else "") + f"); dropped {report.uploads_dropped}"
          f" unfinished uploads. Check it with: selfdrive fsck --data {data}")
    return 0


async def _key(args: argparse.Namespace) -> int:
    from selfdrive.store.keys import export_keyring, load_keyring

    config, secrets_ = _load(args)
    keys = config.data_path / "keys"
    if not list(keys.glob("key-*.json")):
        raise SelfdriveError(f"there is no key in {keys}")
    keyring = load_keyring(keys, secrets_.key_passphrase)
    if args.passphrase_stdin:
        passphrase = sys.stdin.readline().rstrip("\r\n")
    else:
        passphrase = getpass.getpass("Passphrase for the recovery copy: ")
        if getpass.getpass("Again: ") != passphrase:
            raise SelfdriveError("the passphrases differ")
    data = export_keyring(keyring, passphrase)
    out = args.out.expanduser()
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise SelfdriveError(f"{out} exists: choose a new file") from None
    except OSError as exc:
        raise SelfdriveError(f"cannot write {out}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        os.fsync(f.fileno())
    print(f"wrote {len(keyring.keys)} keys to {out}, wrapped by your passphrase (Argon2id)."
          " Keep it, and the passphrase, away from this machine: restore needs both.")
    return 0


def _check_data_dir(config: Config, secrets_: Secrets) -> None:
    """Stop with one line, before the store is opened, if its data dir or keys would fail."""
    check_data_dir(config.data_path, create=True)
    keys = doctor.check_keys_present(config.data_path,
                                     passphrase_set=secrets_.key_passphrase is not None)
    if keys.status is doctor.Status.FAIL:
        raise KeyringError(keys.message)


def _bind_error(config: Config, exc: OSError) -> ConfigError:
    """Why the server cannot listen, in one line naming the setting."""
    where = f"server.port {config.server.port} on {config.server.host}"
    if isinstance(exc, socket.gaierror):
        return ConfigError(f"server.host {config.server.host}: cannot resolve it ({exc.strerror})")
    if exc.errno == errno.EADDRINUSE:
        return ConfigError(f"{where} is in use")
    if exc.errno == errno.EADDRNOTAVAIL:
        return ConfigError(f"server.host {config.server.host} is not an address of this machine")
    if exc.errno == errno.EACCES:
        return ConfigError(f"{where}: permission denied (ports below 1024 need root"
                           " or CAP_NET_BIND_SERVICE)")
    return ConfigError(f"{where}: cannot listen: {exc.strerror or exc}")


async def _config(args: argparse.Namespace) -> int:
    config, secrets_ = _load(args)
    if args.config_cmd == "show":
        print(to_toml(config), end="")
        return 0
    from selfdrive.http.server import hypercorn_config

    hypercorn_config(config)  # the server's own checks (TLS files), without listening
    check_data_dir(config.data_path, create=False)
    print("config OK")
    for line in changed_settings(config):
        print(f"  {line}")
    for name, secret in (("admin password", secrets_.admin_password),
                         ("key passphrase", secrets_.key_passphrase)):
        if secret is not None:
            print(f"  {name}: set")
    return 0


async def _doctor(args: argparse.Namespace) -> int:
    config, secrets_ = _load(args)
    results = doctor.run(config, now_ms=SystemClock().now_ms(),
                         passphrase_set=secrets_.key_passphrase is not None)
    for result in results:
        print(result.line())
    failed = sum(r.status is doctor.Status.FAIL for r in results)
    warned = sum(r.status is doctor.Status.WARN for r in results)
    print(f"selfdrive doctor: {len(results)} checks, {failed} failed, {warned} warnings")
    return 1 if failed else 0


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise SelfdriveError("the passwords differ")
    return first


async def _user_add(args: argparse.Namespace) -> int:
    config, secrets_ = _load(args)
    quota = parse_size(args.quota) if args.quota else config.limits.default_quota_bytes
    password = _read_password(args.password_stdin)
    async with _runtime(config, secrets_) as runtime:
        user = await runtime.auth.create_user(
            args.name, password, is_admin=args.admin, quota_bytes=quota
        )
    print(f"Created user {user.name!r} (quota {_human(user.quota_bytes)}"
          f"{', admin' if user.is_admin else ''})")
    return 0


async def _user_list(args: argparse.Namespace) -> int:
    async with _runtime(*_load(args)) as runtime:
        users = await runtime.auth.list_users()
    print(f"{'NAME':<24} {'ADMIN':<6} {'USED':>10} {'QUOTA':>10}  STATE")
    for u in users:
        print(f"{u.name:<24} {'yes' if u.is_admin else 'no':<6} {_human(u.used_bytes):>10}"
              f" {_human(u.quota_bytes):>10}  {'disabled' if u.disabled_at else 'active'}")
    return 0


async def _user_set(args: argparse.Namespace) -> int:
    change = UserChange(quota_bytes=parse_size(args.quota) if args.quota else None,
                        is_admin=args.is_admin, disabled=args.disabled)
    if change == UserChange():
        raise SelfdriveError("nothing to change: give --quota, --admin/--no-admin"
                             " or --disable/--enable")
    async with _runtime(*_load(args)) as runtime:
        user = await runtime.admin.user_named(CONSOLE, args.name)
        user = await runtime.admin.change_user(CONSOLE, user.id, change)
    print(f"User {user.name!r}: quota {_human(user.quota_bytes)}"
          f"{', admin' if user.is_admin else ''}{', disabled' if user.disabled_at else ''}")
    return 0


async def _user_password(args: argparse.Namespace) -> int:
    config, secrets_ = _load(args)
    password = _read_password(args.password_stdin)
    async with _runtime(config, secrets_) as runtime:
        user = await runtime.admin.user_named(CONSOLE, args.name)
        await runtime.admin.reset_password(CONSOLE, user.id, password)
    print(f"New password set for {user.name!r}; their signed-in devices stay signed in"
          " (`selfdrive user set --disable` ends them)")
    return 0


async def _gc(args: argparse.Namespace) -> int:
    async with _runtime(*_load(args)) as runtime:
        report = await runtime.maintenance.run_once()
    print(f"selfdrive gc: {report.summary()}")
    return 0


async def _fsck(args: argparse.Namespace) -> int:
    config, secrets_ = _load(args)
    if not (config.data_path / "meta.db").is_file():
        # Opening the runtime would make a fresh, empty (and "whole") store.
        raise SelfdriveError(f"there is no selfdrive store in {config.data_path}")
    async with _runtime(config, secrets_) as runtime:
        report = await runtime.fsck.check(repair=args.repair, remote=args.remote)
    for problem in report.problems:
        print(problem.describe())
    if args.repair:
        for problem in report.marked:
            print(f"marked broken: {problem.where}")
        already = f"; {report.already_marked} were already marked" if report.already_marked else ""
        print(f"repair: marked {len(report.marked)} revisions broken{already};"
              " nothing was deleted")
    if report.marked_but_whole:
        print(f"note: {report.marked_but_whole} revisions marked broken earlier now check whole")
    print(f"selfdrive fsck: {report.summary()}")
    return 0 if report.whole else 1


def _credentials(args: argparse.Namespace) -> tuple[str, str, str]:
    """(server, username, password) for login and app-password: the password
    from standard input or asked once (a typo just fails the sign-in)."""
    from selfdrive.sync import credentials

    server = credentials.normalise_server(args.server)
    if args.password_stdin and not args.username:
        raise SelfdriveError("--password-stdin needs --username")
    try:
        username = args.username or input("Username: ").strip()
        password = (_read_password(True) if args.password_stdin
                    else getpass.getpass("Password: "))
    except EOFError:
        raise SelfdriveError("no username or password given") from None
    return server, username, password


async def _login(args: argparse.Namespace) -> int:
    from selfdrive.sync import account, credentials

    server, username, password = _credentials(args)
    login = await account.login(server, username, password, args.device_name)
    path = credentials.save(login)  # the token only: the password is never stored
    print(f"Logged in to {login.server} as {login.username} (device {login.device_name!r});"
          f" token stored in {path}")
    return 0


async def _app_password(args: argparse.Namespace) -> int:
    """A device token for a WebDAV client: printed, never stored here."""
    from selfdrive.sync import account

    server, username, password = _credentials(args)
    made = await account.login(server, username, password, args.name)
    print(f"WebDAV address: {server}/dav/\nUsername: {made.username}\n"
          f"App password: {made.token}\n"
          f"It is shown only now. It is listed among your devices as {made.device_name!r}"
          f" (id {made.device_id}); revoking that device ends it.")
    return 0


async def _logout(args: argparse.Namespace) -> int:
    from selfdrive.sync import account, credentials

    login = credentials.load(args.server)
    await account.logout(login)
    print(f"Logged out of {login.server}: device {login.device_name!r} revoked,"
          f" token removed from {credentials.credentials_path()}")
    return 0


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    commands = {"gc": _gc, "fsck": _fsck, "login": _login, "logout": _logout,
                "app-password": _app_password, "config": _config, "doctor": _doctor,
                "admin": _admin, "backup": _backup, "restore": _restore, "key": _key}
    if args.command == "user":
        run = {"add": _user_add, "list": _user_list, "set": _user_set,
               "password": _user_password}[args.user_cmd]
    elif args.command == "sync":
        from selfdrive.sync import command

        try:
            return command.run(args)
        except ClientError as exc:
            print(f"selfdrive: {exc}", file=sys.stderr)
            return 1
    elif args.command != "serve":
        run = commands[args.command]
    try:
        if args.command == "serve":
            from selfdrive.http.server import loop_factory

            loaded = _load(args, host=args.host, port=args.port)
            with asyncio.Runner(loop_factory=loop_factory(loaded[0].server.event_loop)) as runner:
                return runner.run(_serve(args, *loaded))
        return asyncio.run(run(args))
    except ConfigError as exc:
        print(f"selfdrive: {exc}", file=sys.stderr)
        return 2
    except (KeyringError, SelfdriveError, ClientError) as exc:
        print(f"selfdrive: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
