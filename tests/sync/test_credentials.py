"""Where logins are stored: config dirs, file mode, atomic replace, several servers."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from selfdrive.sync import credentials
from selfdrive.sync.credentials import (
    CredentialsError,
    Login,
    config_dir,
    load,
    normalise_server,
    remove,
    save,
)

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


def a_login(server: str = "https://drive.example.com", n: int = 1) -> Login:
    return Login(server=server, username="alice", device_id=n, device_name=f"laptop-{n}",
                 token=f"sd_token-{n}")


def test_config_dir_follows_xdg_then_the_platform(tmp_path: Path) -> None:
    home = {"HOME": "/home/al"}
    assert config_dir({**home, "XDG_CONFIG_HOME": str(tmp_path)}, "linux") == tmp_path / "selfdrive"
    assert config_dir(home, "linux") == Path("/home/al/.config/selfdrive")
    assert config_dir({**home, "XDG_CONFIG_HOME": "relative/x"}, "linux") == Path(
        "/home/al/.config/selfdrive")  # the XDG spec: a relative value is ignored
    assert config_dir(home, "darwin") == Path("/home/al/Library/Application Support/selfdrive")
    assert config_dir({**home, "APPDATA": "/roaming"}, "win32") == Path("/roaming/selfdrive")
    # XDG_CONFIG_HOME wins everywhere it is set.
    assert config_dir({**home, "XDG_CONFIG_HOME": str(tmp_path)}, "darwin") == (
        tmp_path / "selfdrive")


def test_config_dir_reads_this_process_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert config_dir() == tmp_path / "selfdrive"
    save(a_login())
    assert (tmp_path / "selfdrive" / "credentials.json").is_file()


@pytest.mark.parametrize(("given", "canonical"), [
    ("https://drive.example.com", "https://drive.example.com"),
    ("https://drive.example.com/", "https://drive.example.com"),
    ("  HTTPS://Drive.Example.COM:8443/  ", "https://drive.example.com:8443"),
    ("http://nas:8080/selfdrive/", "http://nas:8080/selfdrive"),
    ("http://127.0.0.1:9000", "http://127.0.0.1:9000"),
    ("http://[::1]:9000/", "http://[::1]:9000"),
])
def test_normalise_server(given: str, canonical: str) -> None:
    assert normalise_server(given) == canonical


@pytest.mark.parametrize("bad", [
    "drive.example.com", "ftp://x", "https://", "https://x/?a=1", "https://u:p@x", "",
    "http://exa mple.com", "http://host:99999", "http://[::1", "http://host:port",
])
def test_normalise_server_refuses_what_is_not_a_server_url(bad: str) -> None:
    with pytest.raises(CredentialsError, match="server URL"):
        normalise_server(bad)


@posix_only
def test_file_is_0600_in_a_0700_dir(tmp_path: Path) -> None:
    directory = tmp_path / "cfg" / "selfdrive"
    path = save(a_login(), directory=directory)
    assert path == directory / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700


@posix_only
def test_an_existing_open_dir_is_tightened(tmp_path: Path) -> None:
    directory = tmp_path / "selfdrive"
    directory.mkdir(mode=0o755)
    os.chmod(directory, 0o755)
    save(a_login(), directory=directory)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700


def test_round_trip_and_the_format(tmp_path: Path) -> None:
    path = save(a_login("https://drive.example.com/"), directory=tmp_path)
    assert load(directory=tmp_path) == a_login()  # stored under the normalised URL
    on_disk = json.loads(path.read_text())
    assert on_disk == {"version": 1, "logins": [{
        "server": "https://drive.example.com", "username": "alice", "device_id": 1,
        "device_name": "laptop-1", "token": "sd_token-1"}]}


def test_several_servers_and_the_most_recent(tmp_path: Path) -> None:
    one, two = a_login("https://one.example", 1), a_login("http://two.example:81", 2)
    save(one, directory=tmp_path)
    save(two, directory=tmp_path)
    assert load(directory=tmp_path) == two
    assert load("https://ONE.example/", directory=tmp_path) == one
    assert load("http://two.example:81", directory=tmp_path) == two
    # Logging in again to a server replaces its login and makes it the most recent.
    again = a_login("https://one.example", 3)
    save(again, directory=tmp_path)
    assert load(directory=tmp_path) == again
    assert len(json.loads(credentials.credentials_path(tmp_path).read_text())["logins"]) == 2
    assert remove("https://one.example", directory=tmp_path)
    assert not remove("https://one.example", directory=tmp_path)
    assert load(directory=tmp_path) == two
    with pytest.raises(CredentialsError, match=re.escape("selfdrive login --server https://one.example")):
        load("https://one.example", directory=tmp_path)


def test_not_logged_in_names_the_command(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match=r"selfdrive login --server URL"):
        load(directory=tmp_path)
    assert not remove("https://x.example", directory=tmp_path)
    assert not (tmp_path / "credentials.json").exists()


def test_two_config_dirs_are_two_devices(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    save(a_login(n=1), directory=a)
    save(a_login(n=2), directory=b)
    assert load("https://drive.example.com", directory=a).device_id == 1
    assert load("https://drive.example.com", directory=b).device_id == 2


def test_replace_is_atomic_and_leaves_no_temp_files(tmp_path: Path) -> None:
    path = save(a_login(n=1), directory=tmp_path)
    before = path.stat().st_ino
    held = path.open("rb")  # a reader that opened the old file keeps reading it whole
    try:
        save(a_login(n=2), directory=tmp_path)
        assert json.loads(held.read())["logins"][0]["device_id"] == 1
    finally:
        held.close()
    assert path.stat().st_ino != before  # a new file renamed over, not rewritten in place
    assert load(directory=tmp_path).device_id == 2
    assert [p.name for p in tmp_path.iterdir()] == ["credentials.json"]


@pytest.mark.skipif(os.name != "posix", reason="RLIMIT_FSIZE")
def test_a_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    path = save(a_login(n=1), directory=tmp_path)
    # A process that may not write more than 10 bytes to a file (as on a full
    # disk, the write fails midway): the rename never happens.
    child = textwrap.dedent(f"""
        import resource, signal, sys
        from pathlib import Path
        from selfdrive.sync.credentials import CredentialsError, Login, save
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (10, 10))
        try:
            save(Login("https://drive.example.com", "alice", 2, "x", "sd_2"),
                 directory=Path({str(tmp_path)!r}))
        except CredentialsError as exc:
            sys.exit(str(exc))
    """)
    r = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 1 and "cannot write" in r.stderr, r.stderr
    assert load(directory=tmp_path).device_id == 1
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


@pytest.mark.parametrize(("content", "message"), [
    (b"{not json", "damaged"),
    (b'{"version": 1, "logins": [{"server": 1}]}', "not a selfdrive credentials file"),
    (b'{"version": 2, "logins": []}', "format version 2"),
])
def test_a_bad_file_is_a_clear_error(tmp_path: Path, content: bytes, message: str) -> None:
    (tmp_path / "credentials.json").write_bytes(content)
    with pytest.raises(CredentialsError, match=message):
        load(directory=tmp_path)


def test_an_unusable_config_dir_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(CredentialsError, match=r"cannot (read|write) .*a-file"):
        save(a_login(), directory=blocker / "selfdrive")
    with pytest.raises(CredentialsError, match="cannot read"):
        load(directory=blocker / "selfdrive")
