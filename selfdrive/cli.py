"""The `selfdrive` command: serve, user add, user list, gc, fsck, login, logout,
app-password, sync.

Each subcommand is a small function; they share the config loading and the
runtime opening, and print errors in one sentence (exit code 2 for usage,
1 for a failure).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from selfdrive import __version__
from selfdrive.config import Config, ConfigError, Secrets, load, parse_size
from selfdrive.core.errors import SelfdriveError
from selfdrive.services.runtime import Runtime, ensure_admin, open_runtime
from selfdrive.store.keys import KeyringError
from selfdrive.sync.errors import ClientError


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

    gc = sub.add_parser("gc", help="expire the trash, thin revisions, free unreferenced blocks")
    _common(gc)

    fsck = sub.add_parser(
        "fsck", help="check every block and every revision; exit 0 only if the store is whole"
    )
    fsck.add_argument("--repair", action="store_true",
                      help="mark the revisions that cannot be read whole as broken"
                           " (nothing is deleted)")
    _common(fsck)

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
    runtime = await open_runtime(config, secrets_)
    try:
        yield runtime
    finally:
        await runtime.close()


async def _serve(args: argparse.Namespace) -> int:
    from selfdrive.http.server import serve

    config, secrets_ = _load(args, host=args.host, port=args.port)
    runtime = await open_runtime(config, secrets_)
    password = await ensure_admin(runtime, secrets_)
    if password is not None:
        print(f"Created user 'admin' with password: {password}\n"
              "(shown once; set SELFDRIVE_ADMIN_PASSWORD to choose it)", flush=True)
    print(f"selfdrive {__version__} serving http://{config.server.host}:{config.server.port}"
          f" with data in {config.data_path}", flush=True)
    await serve(runtime)
    return 0


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
    print(f"{'NAME':<24} {'ADMIN':<6} {'USED':>10} {'QUOTA':>10}")
    for u in users:
        print(f"{u.name:<24} {'yes' if u.is_admin else 'no':<6} {_human(u.used_bytes):>10}"
              f" {_human(u.quota_bytes):>10}")
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
        report = await runtime.fsck.check(repair=args.repair)
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


async def _login(args: argparse.Namespace) -> int:
    from selfdrive.sync import account, credentials

    server = credentials.normalise_server(args.server)
    if args.password_stdin and not args.username:
        raise SelfdriveError("--password-stdin needs --username")
    try:
        username = args.username or input("Username: ").strip()
        password = (_read_password(True) if args.password_stdin
                    else getpass.getpass("Password: "))  # asked once: a typo just fails
    except EOFError:
        raise SelfdriveError("no username or password given") from None
    login = await account.login(server, username, password, args.device_name)
    path = credentials.save(login)  # the token only: the password is never stored
    print(f"Logged in to {login.server} as {login.username} (device {login.device_name!r});"
          f" token stored in {path}")
    return 0


async def _app_password(args: argparse.Namespace) -> int:
    """A device token for a WebDAV client: printed, never stored here."""
    from selfdrive.sync import account, credentials

    server = credentials.normalise_server(args.server)
    if args.password_stdin and not args.username:
        raise SelfdriveError("--password-stdin needs --username")
    try:
        username = args.username or input("Username: ").strip()
        password = (_read_password(True) if args.password_stdin
                    else getpass.getpass("Password: "))
    except EOFError:
        raise SelfdriveError("no username or password given") from None
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
    commands = {"serve": _serve, "gc": _gc, "fsck": _fsck, "login": _login, "logout": _logout,
                "app-password": _app_password}
    if args.command == "user":
        run = _user_add if args.user_cmd == "add" else _user_list
    elif args.command == "sync":
        from selfdrive.sync import command

        try:
            return command.run(args)
        except ClientError as exc:
            print(f"selfdrive: {exc}", file=sys.stderr)
            return 1
    else:
        run = commands[args.command]
    try:
        return asyncio.run(run(args))
    except (ConfigError, KeyringError, SelfdriveError, ClientError) as exc:
        print(f"selfdrive: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
