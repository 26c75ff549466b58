"""Where a device's login lives on this machine.

Terms:

*login*
    What ``selfdrive login`` got from one server: the server's URL, the user,
    and the device (id, name, bearer token).  The password is never stored.
*server URL*
    Normalised: ``http`` or ``https``, scheme and host in lower case, no
    trailing slash (``https://drive.example.com`` or ``http://nas:8080/drive``).
    It is the key: one login per server in a config dir.
*config dir*
    ``$XDG_CONFIG_HOME/selfdrive`` when that variable is set; otherwise the
    platform's place: ``~/.config/selfdrive``, on macOS
    ``~/Library/Application Support/selfdrive``, on Windows
    ``%APPDATA%\\selfdrive``.  Two config dirs are two devices, even on one
    machine (tests and multi-account setups rely on it).

The file is ``credentials.json`` in the config dir::

    {"version": 1, "logins": [{server, username, device_id, device_name, token}, ...]}

the most recent login last.  It is rewritten whole, atomically (temp file,
fsync, rename), mode 0600 in a 0700 dir: the token is as good as the password
for this device.  Two ``selfdrive login`` runs at the same instant may lose
one of the two logins; the other's server token is then simply unused.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import msgspec

from selfdrive.sync.errors import ClientError

FILE_NAME = "credentials.json"
FORMAT_VERSION = 1


class Login(msgspec.Struct, frozen=True):
    server: str
    username: str
    device_id: int
    device_name: str
    token: str


class _File(msgspec.Struct):
    version: int = FORMAT_VERSION
    logins: list[Login] = msgspec.field(default_factory=list)


class CredentialsError(ClientError):
    """No usable login: not logged in, a bad server URL, an unreadable file.

    Client-side only; it never crosses the wire.
    """

    code = "credentials"


def config_dir(env: Mapping[str, str] | None = None, platform: str | None = None) -> Path:
    """The config dir for *env* (default: this process's environment)."""
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    xdg = env.get("XDG_CONFIG_HOME", "")
    # The XDG spec says a relative value is invalid and must be ignored.
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "selfdrive"
    home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    if platform == "darwin":
        return home / "Library" / "Application Support" / "selfdrive"
    if platform == "win32":
        appdata = env.get("APPDATA")
        return (Path(appdata) if appdata else home / "AppData" / "Roaming") / "selfdrive"
    return home / ".config" / "selfdrive"


def credentials_path(directory: Path | None = None) -> Path:
    return (directory or config_dir()) / FILE_NAME


def normalise_server(url: str) -> str:
    """The canonical spelling of a server URL, or CredentialsError."""
    raw = url.strip()
    not_a_url = CredentialsError(
        f"{url!r} is not a server URL; give one like https://drive.example.com"
    )
    try:
        parts = urlsplit(raw)
        port = parts.port  # urllib checks the port only when asked
    except ValueError as exc:  # a bad port or IPv6 literal
        raise not_a_url from exc
    if (parts.scheme.lower() not in ("http", "https") or not parts.hostname
            or any(ch.isspace() or not ch.isprintable() for ch in raw)):
        raise not_a_url
    if parts.query or parts.fragment or parts.username or parts.password:
        raise CredentialsError(f"{url!r}: give the server URL alone, without ?, # or user@")
    netloc = parts.hostname.lower()
    if ":" in netloc:  # an IPv6 literal
        netloc = f"[{netloc}]"
    if port is not None:
        netloc += f":{port}"
    return urlunsplit((parts.scheme.lower(), netloc, parts.path.rstrip("/"), "", ""))


def save(login: Login, *, directory: Path | None = None) -> Path:
    """Store *login* (replacing any for its server) as the most recent; the file's path."""
    path = credentials_path(directory)
    login = msgspec.structs.replace(login, server=normalise_server(login.server))
    current = _read(path)
    kept = [old for old in current.logins if old.server != login.server]
    _write(path, _File(logins=[*kept, login]))
    return path


def load(server: str | None = None, *, directory: Path | None = None) -> Login:
    """The login for *server*, or with None the most recent one."""
    path = credentials_path(directory)
    logins = _read(path).logins
    if server is None:
        if not logins:
            raise CredentialsError("not logged in: run `selfdrive login --server URL` first")
        return logins[-1]
    wanted = normalise_server(server)
    for login in logins:
        if login.server == wanted:
            return login
    raise CredentialsError(
        f"not logged in to {wanted}: run `selfdrive login --server {wanted}` first"
    )


def remove(server: str, *, directory: Path | None = None) -> bool:
    """Forget the login for *server*; whether there was one."""
    path = credentials_path(directory)
    wanted = normalise_server(server)
    current = _read(path)
    kept = [login for login in current.logins if login.server != wanted]
    if len(kept) == len(current.logins):
        return False
    _write(path, _File(logins=kept))
    return True


def _read(path: Path) -> _File:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return _File()
    except OSError as exc:
        raise CredentialsError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        found = msgspec.json.decode(data, type=_File)
    except msgspec.ValidationError as exc:
        raise CredentialsError(f"{path} is not a selfdrive credentials file ({exc})") from exc
    except msgspec.DecodeError as exc:
        raise CredentialsError(f"{path} is damaged ({exc}); log in again") from exc
    if found.version != FORMAT_VERSION:
        raise CredentialsError(
            f"{path} has format version {found.version}; this selfdrive reads"
            f" {FORMAT_VERSION} (written by a newer selfdrive?)"
        )
    return found


def _write(path: Path, content: _File) -> None:
    """Replace the file atomically: a reader sees the old or the new, whole."""
    directory = path.parent
    tmp = directory / f".{path.name}.{secrets.token_hex(6)}.tmp"
    data = msgspec.json.format(msgspec.json.encode(content), indent=2) + b"\n"
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if os.name == "posix":
            # mkdir's mode does not apply to a dir that was there before.
            os.chmod(directory, 0o700)
        # Created 0600 from the start: the token is never readable by others,
        # not even for a moment before a chmod.
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        fd = os.open(tmp, flags, 0o600)
        with open(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise CredentialsError(f"cannot write {path}: {exc.strerror}") from exc
    _fsync_dir(directory)


def _fsync_dir(directory: Path) -> None:
    # The rename is durable only once the dir is; Windows cannot open a dir.
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
