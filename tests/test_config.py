"""The config: config.example.toml documents every setting; the environment, the
file and flags in their order; every mistake as one line naming the setting."""

from __future__ import annotations

import os
import re
import socket
import stat
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any, get_origin

import msgspec
import pytest

from selfdrive.config import (
    ALIASES,
    OTHER_VARIABLES,
    Config,
    ConfigError,
    Setting,
    changed_settings,
    check_data_dir,
    environment_settings,
    load,
    settings,
    to_toml,
    value_from_text,
)
from tests.conftest import free_port

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"


def _keys(value: Any, prefix: str = "") -> set[str]:
    out = set()
    for k, v in value.items():
        if isinstance(v, dict):
            out |= _keys(v, prefix + k + ".")
        else:
            out.add(prefix + k)
    return out


def test_example_documents_every_key() -> None:
    documented = _keys(tomllib.loads(EXAMPLE.read_text()))
    defaults = _keys(msgspec.to_builtins(Config()))
    assert documented == defaults


def test_the_docs_name_only_variables_that_exist() -> None:
    known = {s.variable for s in settings()} | set(ALIASES) | OTHER_VARIABLES
    typo = {"SELFDRIVE_SERVER_PROT"}  # the example of a refused variable
    for doc in (EXAMPLE, EXAMPLE.parent / "docs" / "configuration.md"):
        named = set(re.findall(r"SELFDRIVE_[A-Z0-9_]*[A-Z0-9]", doc.read_text()))
        assert named - known - typo == set(), doc.name


def test_example_values_are_the_defaults(tmp_path: Path) -> None:
    config, _ = load(EXAMPLE, env={"HOME": str(tmp_path)})
    default, _ = load(None, env={"HOME": str(tmp_path)})
    config.data_dir = default.data_dir
    assert msgspec.to_builtins(config) == msgspec.to_builtins(default)


def test_environment_overrides(tmp_path: Path) -> None:
    config, secrets = load(None, env={
        "HOME": str(tmp_path), "SELFDRIVE_DATA": "/srv/sd", "SELFDRIVE_PORT": "9000",
        "SELFDRIVE_ADMIN_PASSWORD": "pw-from-env", "SELFDRIVE_KEY_PASSPHRASE": "pp",
    })
    assert config.data_dir == "/srv/sd" and config.server.port == 9000
    assert secrets.admin_password == "pw-from-env" and secrets.key_passphrase == "pp"
    config, _ = load(None, data_dir=Path("/flag"), port=1234, env={"SELFDRIVE_DATA": "/env"})
    assert config.data_dir == "/flag" and config.server.port == 1234


# --- settings from environment variables --------------------------------------------------

def _sample(setting: Setting) -> tuple[str, Any]:
    """A variable's text for *setting* and the value it must give."""
    if setting.path[-1].endswith("_bytes"):
        return "3MiB", 3 * 1024 * 1024
    if setting.type is bool:
        return "true", True
    if setting.type is int:
        return "61", 61
    if setting.type is float:
        return "61.5", 61.5
    if get_origin(setting.type) is list:
        return "a, b", ["a", "b"]
    return "some-text", "some-text"


def test_every_setting_has_a_variable_derived_from_the_struct() -> None:
    names = {s.name for s in settings()}
    assert names == _keys(msgspec.to_builtins(Config()))
    variables = [s.variable for s in settings()]
    assert len(set(variables)) == len(variables)
    assert not set(variables) & OTHER_VARIABLES, "a setting must not hide among the others"
    assert {"SELFDRIVE_DATA_DIR", "SELFDRIVE_SERVER_PORT", "SELFDRIVE_WEBDAV_JUNK"} <= {
        *variables}
    for setting in settings():
        text, expected = _sample(setting)
        found = environment_settings({setting.variable: text})
        assert found == {setting.name: (setting.variable, expected)}, setting.name


def test_environment_sets_a_key_of_every_section_and_type(tmp_path: Path) -> None:
    config, _ = load(None, env={
        "HOME": str(tmp_path),
        "SELFDRIVE_DATA_DIR": "/srv/selfdrive",
        "SELFDRIVE_SERVER_PORT": "9000",
        "SELFDRIVE_SERVER_READ_TIMEOUT_S": "200.5",
        "SELFDRIVE_SERVER_HSTS": "1",
        "SELFDRIVE_STORAGE_CIPHER": "chacha20-poly1305",
        "SELFDRIVE_LIMITS_MAX_FILE_BYTES": "20GiB",
        "SELFDRIVE_LIMITS_MAX_WAITERS": "500",
        "SELFDRIVE_MAINTENANCE_INTERVAL_S": "60",
        "SELFDRIVE_RETENTION_MAX_REVISIONS": "5",
        "SELFDRIVE_WEBDAV_JUNK": '["._*", "Thumbs.db"]',
        "SELFDRIVE_WEBDAV_MAX_JUNK_FILE_BYTES": "2048",
    })
    assert config.data_dir == "/srv/selfdrive"
    assert config.server.port == 9000 and config.server.read_timeout_s == 200.5
    assert config.server.hsts is True
    assert config.storage.cipher == "chacha20-poly1305"
    assert config.limits.max_file_bytes == 20 * 1024**3 and config.limits.max_waiters == 500
    assert config.maintenance.interval_s == 60.0
    assert config.retention.max_revisions == 5
    assert config.webdav.junk == ["._*", "Thumbs.db"] and config.webdav.max_junk_file_bytes == 2048


@pytest.mark.parametrize(("text", "value"), [
    ("true", True), ("false", False), ("1", True), ("0", False)])
def test_booleans_from_the_environment(text: str, value: bool) -> None:
    hsts = Setting(("server", "hsts"), bool)
    assert value_from_text(text, hsts, "SELFDRIVE_SERVER_HSTS") is value


def test_lists_from_the_environment_as_json_or_commas() -> None:
    junk = Setting(("webdav", "junk"), list[str])
    assert value_from_text('["a,b", "c"]', junk, "V") == ["a,b", "c"]
    assert value_from_text("._*, .DS_Store ,", junk, "V") == ["._*", ".DS_Store"]
    assert value_from_text("[]", junk, "V") == []
    with pytest.raises(ConfigError, match=r"webdav.junk: not a JSON list: .*\(from V\)"):
        value_from_text('["a"', junk, "V")


def test_an_empty_variable_counts_as_unset(tmp_path: Path) -> None:
    config, _ = load(None, env={"HOME": str(tmp_path), "SELFDRIVE_SERVER_PORT": "",
                                "SELFDRIVE_WEBDAV_JUNK": ""})
    assert config.server.port == 8080 and config.webdav.junk == Config().webdav.junk


def test_precedence_defaults_file_environment_flags(tmp_path: Path) -> None:
    file = tmp_path / "selfdrive.toml"
    file.write_text('data_dir = "/from/file"\n[server]\nport = 1001\n')
    env = {"HOME": str(tmp_path)}
    assert load(None, env=env)[0].server.port == 8080
    assert load(file, env=env)[0].server.port == 1001
    env |= {"SELFDRIVE_SERVER_PORT": "1002", "SELFDRIVE_DATA": "/from/env"}
    config, _ = load(file, env=env)
    assert config.server.port == 1002 and config.data_dir == "/from/env"
    config, _ = load(file, env=env, port=1003, data_dir=Path("/from/flag"))
    assert config.server.port == 1003 and config.data_dir == "/from/flag"
    env["SELFDRIVE_CONFIG"] = str(file)
    assert load(None, env={**env, "SELFDRIVE_SERVER_PORT": ""})[0].server.port == 1001


def test_the_short_names_are_aliases_and_the_long_ones_win(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "SELFDRIVE_PORT": "9000", "SELFDRIVE_HOST": "0.0.0.0",
           "SELFDRIVE_DATA": "/data"}
    config, _ = load(None, env=env)
    assert config.server.port == 9000 and config.server.host == "0.0.0.0"
    assert config.data_dir == "/data"
    # The Docker image sets the short names; `docker run -e` the long ones.
    config, _ = load(None, env={**env, "SELFDRIVE_SERVER_PORT": "9001",
                                "SELFDRIVE_DATA_DIR": "/elsewhere"})
    assert config.server.port == 9001 and config.data_dir == "/elsewhere"


def test_unknown_variable_of_a_section_is_refused_with_a_suggestion() -> None:
    with pytest.raises(ConfigError) as info:
        environment_settings({"SELFDRIVE_SERVER_PROT": "1"})
    assert str(info.value) == ('unknown variable SELFDRIVE_SERVER_PROT: [server] has no key'
                               ' "prot", did you mean SELFDRIVE_SERVER_PORT?')
    with pytest.raises(ConfigError, match="did you mean SELFDRIVE_LIMITS_MAX_FILE_BYTES"):
        environment_settings({"SELFDRIVE_LIMITS_MAX_FILE_BYTE": "1GB"})
    with pytest.raises(ConfigError, match=r'\[webdav\] has no key "zzz"$'):
        environment_settings({"SELFDRIVE_WEBDAV_ZZZ": "1"})


def test_variables_that_are_not_settings_are_left_alone() -> None:
    env = {name: "1" for name in OTHER_VARIABLES - {"SELFDRIVE_CONFIG"}}
    env |= {"SELFDRIVE_SOMETHING_ELSE": "x", "PATH": "/bin", "SELFDRIVE_SERVER": "x"}
    assert environment_settings(env) == {}


# --- mistakes: one line that names the setting --------------------------------------------

@pytest.mark.parametrize(("toml", "message"), [
    ("[server]\nprot = 1\n", 'unknown key "prot" in [server], did you mean "port"?'),
    ("[sever]\nport = 1\n", 'unknown key "sever" at the top level, did you mean "server"?'),
    ("port = 1\n", 'unknown key "port" at the top level, it belongs under [server]'),
    ('[server]\ndata_dir = "/x"\n',
     'unknown key "data_dir" in [server], it belongs at the top, before any [section]'),
    ('[server]\nport = "abc"\n', 'server.port: expected int, got "abc"'),
    ("[server]\nread_timeout_s = true\n", "server.read_timeout_s: expected float, got true"),
    ("[webdav]\njunk = \"._*\"\n", 'webdav.junk: expected array, got "._*"'),
    ('[limits]\nmax_file_bytes = "lots"\n',
     'limits.max_file_bytes: expected a size such as "10GB" or "512MiB", got "lots"'),
    ("server = 1\n", "server: expected a table [server], got 1"),
])
def test_file_mistakes(tmp_path: Path, toml: str, message: str) -> None:
    file = tmp_path / "bad.toml"
    file.write_text(toml)
    with pytest.raises(ConfigError) as info:
        load(file, env={"HOME": str(tmp_path)})
    assert str(info.value) == f"{message} (in {file})"


@pytest.mark.parametrize(("variable", "text", "message"), [
    ("SELFDRIVE_SERVER_PORT", "abc", 'server.port: expected int, got "abc"'),
    ("SELFDRIVE_PORT", "abc", 'server.port: expected int, got "abc"'),
    ("SELFDRIVE_SERVER_HSTS", "yes", 'server.hsts: expected bool, got "yes"'),
    ("SELFDRIVE_STORAGE_RESERVE_BYTES", "1 lot",
     'storage.reserve_bytes: expected a size such as "10GB" or "512MiB", got "1 lot"'),
])
def test_environment_mistakes(tmp_path: Path, variable: str, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(None, env={"HOME": str(tmp_path), variable: text})
    assert str(info.value) == f"{message} (from {variable})"


def test_values_the_types_allow_but_the_server_does_not(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path)}
    with pytest.raises(ConfigError, match=r"^server\.port: expected 1 to 65535, got 70000$"):
        load(None, env={**env, "SELFDRIVE_SERVER_PORT": "70000"})
    with pytest.raises(ConfigError, match=r"^storage\.cipher: unknown cipher 'rot13'$"):
        load(None, env={**env, "SELFDRIVE_STORAGE_CIPHER": "rot13"})
    with pytest.raises(ConfigError, match=r"^server\.event_loop: expected one of asyncio, uvloop,"
                                          r" got 'trio'$"):
        load(None, env={**env, "SELFDRIVE_SERVER_EVENT_LOOP": "trio"})


def test_the_event_loop_choice() -> None:
    import asyncio

    import uvloop

    from selfdrive.http.server import loop_factory

    assert loop_factory("uvloop") is uvloop.new_event_loop
    assert loop_factory("asyncio") is asyncio.new_event_loop


def test_the_server_runs_on_uvloop_too(tmp_path: Path) -> None:
    """The whole suite serves on asyncio's loop (the default); this one server
    runs on uvloop, and answers an upload and a long poll."""
    from tests.conftest import Server

    server = Server(data_dir=tmp_path / "data", env={"SELFDRIVE_SERVER_EVENT_LOOP": "uvloop"})
    server.start()
    try:
        with server.client(server.token()) as client:
            cursor = client.get("/changes/latest").json()["cursor"]
            put = client.put("/files/content", params={"path": "/a.txt"}, content=b"abc")
            assert put.status_code == 201, put.text
            wait = client.get("/changes/wait", params={"cursor": cursor, "timeout": 5})
            assert wait.json()["changes"] is True
            assert client.get("/files/content", params={"path": "/a.txt"}).content == b"abc"
    finally:
        server.stop()


def test_unreadable_or_broken_config_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    with pytest.raises(ConfigError) as info:
        load(None, env={"HOME": str(tmp_path), "SELFDRIVE_CONFIG": str(missing)})
    assert str(info.value) == (f"cannot read config file {missing} (given by SELFDRIVE_CONFIG):"
                               " No such file or directory")
    broken = tmp_path / "broken.toml"
    broken.write_text("[server\n")
    with pytest.raises(ConfigError, match=f"^config file {broken} is not valid TOML: .*line 1"):
        load(broken, env={"HOME": str(tmp_path)})


# --- secrets ------------------------------------------------------------------------------

def test_secrets_from_files(tmp_path: Path) -> None:
    password, passphrase = tmp_path / "password", tmp_path / "passphrase"
    password.write_text("from a file\n")
    passphrase.write_text("two lines\n\n")
    _, secrets = load(None, env={
        "HOME": str(tmp_path), "SELFDRIVE_ADMIN_PASSWORD_FILE": str(password),
        "SELFDRIVE_KEY_PASSPHRASE_FILE": str(passphrase)})
    assert secrets.admin_password == "from a file"
    assert secrets.key_passphrase == "two lines\n", "only one trailing newline goes"


def test_secret_file_mistakes(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "SELFDRIVE_ADMIN_PASSWORD_FILE": str(tmp_path / "nope")}
    with pytest.raises(ConfigError) as info:
        load(None, env=env)
    assert str(info.value) == (f"SELFDRIVE_ADMIN_PASSWORD_FILE: cannot read {tmp_path / 'nope'}:"
                               " No such file or directory")
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ConfigError, match=r"^SELFDRIVE_KEY_PASSPHRASE_FILE: .* is empty$"):
        load(None, env={"HOME": str(tmp_path),
                        "SELFDRIVE_KEY_PASSPHRASE_FILE": str(tmp_path / "empty")})
    with pytest.raises(ConfigError) as info:
        load(None, env={**env, "SELFDRIVE_ADMIN_PASSWORD": "pw"})
    assert str(info.value) == ("both SELFDRIVE_ADMIN_PASSWORD and SELFDRIVE_ADMIN_PASSWORD_FILE"
                               " are set: keep one")


# --- the data dir -------------------------------------------------------------------------

def test_data_dir_checks(tmp_path: Path) -> None:
    data = tmp_path / "a" / "data"
    check_data_dir(data, create=False)
    assert not data.exists(), "looking creates nothing"
    check_data_dir(data, create=True)
    assert data.is_dir() and stat.S_IMODE(data.stat().st_mode) == 0o700
    assert list(data.iterdir()) == [], "the scratch file is gone"
    blocker = tmp_path / "file"
    blocker.write_text("")
    for create in (False, True):
        with pytest.raises(ConfigError, match=f"^data_dir {blocker}: a file is in the way"):
            check_data_dir(blocker, create=create)
        with pytest.raises(ConfigError,
                           match=f"^data_dir {blocker}/sub: cannot be created,"
                                 f" {blocker} is a file$"):
            check_data_dir(blocker / "sub", create=create)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_data_dir_without_write_permission(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        with pytest.raises(ConfigError, match="cannot write in it"):
            check_data_dir(locked, create=False)
        with pytest.raises(ConfigError, match="cannot write in it: Permission denied"):
            check_data_dir(locked, create=True)
    finally:
        locked.chmod(0o700)


# --- showing the config -------------------------------------------------------------------

def test_changed_settings_and_toml(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "SELFDRIVE_SERVER_PORT": "9000"}
    config, _ = load(None, env=env, host="0.0.0.0")
    assert changed_settings(config, env) == [
        'server.host = "0.0.0.0"', "server.port = 9000  # from SELFDRIVE_SERVER_PORT"]
    again = msgspec.convert(tomllib.loads(to_toml(config)), Config)
    assert again == config
    assert Setting(("server", "metrics_token"), str).secret
    assert not Setting(("server", "tls_key_file"), str).secret


# --- the command line ---------------------------------------------------------------------

def _selfdrive(*args: str, env: dict[str, str] | None = None,
               timeout: float = 60) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SELFDRIVE_")}
    return subprocess.run([sys.executable, "-m", "selfdrive", *args], capture_output=True,
                          text=True, timeout=timeout, env={**clean, **(env or {})})


def test_config_check(tmp_path: Path) -> None:
    data = tmp_path / "data"
    file = tmp_path / "selfdrive.toml"
    file.write_text('[limits]\nmax_file_bytes = "20GiB"\n')
    r = _selfdrive("config", "check", "--config", str(file), "--data", str(data),
                   env={"SELFDRIVE_SERVER_PORT": "9000",
                        "SELFDRIVE_ADMIN_PASSWORD": "do-not-print-me"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "config OK",
        f'  data_dir = "{data}"',
        "  server.port = 9000  # from SELFDRIVE_SERVER_PORT",
        "  limits.max_file_bytes = 21474836480",
        "  admin password: set",
    ]
    assert "do-not-print-me" not in r.stdout + r.stderr
    assert not data.exists(), "config check creates nothing"
    r = _selfdrive("config", "show", "--data", str(data))
    assert r.returncode == 0 and tomllib.loads(r.stdout)["server"]["port"] == 8080


@pytest.mark.parametrize(("args", "env", "line"), [
    ([], {"SELFDRIVE_SERVER_PORT": "abc"},
     'server.port: expected int, got "abc" (from SELFDRIVE_SERVER_PORT)'),
    ([], {"SELFDRIVE_LIMITS_MAX_FILE_BYTE": "1GB"},
     "unknown variable SELFDRIVE_LIMITS_MAX_FILE_BYTE: [limits] has no key \"max_file_byte\","
     " did you mean SELFDRIVE_LIMITS_MAX_FILE_BYTES?"),
    (["--config", "/nonexistent.toml"], {},
     "cannot read config file /nonexistent.toml (given by --config): No such file or directory"),
])
def test_config_check_errors(tmp_path: Path, args: list[str], env: dict[str, str],
                             line: str) -> None:
    r = _selfdrive("config", "check", "--data", str(tmp_path / "data"), *args, env=env)
    assert r.returncode == 2
    assert r.stdout == "" and r.stderr == f"selfdrive: {line}\n"


def test_config_check_runs_the_servers_own_checks(tmp_path: Path) -> None:
    r = _selfdrive("config", "check", "--data", str(tmp_path),
                   env={"SELFDRIVE_SERVER_TLS_CERT_FILE": str(tmp_path / "cert.pem")})
    assert r.returncode == 2 and r.stderr.startswith("selfdrive: server.tls_cert_file")
    assert len(r.stderr.splitlines()) == 1


def test_serve_refuses_a_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = _selfdrive("serve", "--data", str(tmp_path / "data"), "--port", str(port))
    assert r.returncode == 2
    assert r.stderr == f"selfdrive: server.port {port} on 127.0.0.1 is in use\n"
    assert not (tmp_path / "data").exists(), "nothing is made before the port is known free"


def test_serve_refuses_a_file_where_the_data_dir_should_be(tmp_path: Path) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("not a folder")
    r = _selfdrive("serve", "--data", str(blocker), "--port", str(free_port()))
    assert r.returncode == 2
    assert r.stderr == (f"selfdrive: data_dir {blocker}: a file is in the way"
                        " (a folder is needed there)\n")


def test_a_store_without_its_keys_does_not_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shard = data / "blocks" / "ab" / "cd"
    shard.mkdir(parents=True)
    (shard / "abcd00").write_bytes(b"sealed")
    r = _selfdrive("user", "list", "--data", str(data))
    assert r.returncode == 1
    assert r.stderr == (f"selfdrive: no key file in {data / 'keys'}, but {data}/blocks holds"
                        " blocks sealed with one: restore keys/ from your backup\n")
    assert not list((data / "keys").glob("key-*")), "no new key over old blocks"


def test_log_level_and_format_are_checked_at_load(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path)}
    with pytest.raises(ConfigError, match=r"log.level: expected one of debug, info"):
        load(None, env={**env, "SELFDRIVE_LOG_LEVEL": "loud"})
    with pytest.raises(ConfigError, match=r"log.format: expected one of text, json"):
        load(None, env={**env, "SELFDRIVE_LOG_FORMAT": "xml"})
    config, _ = load(None, env={**env, "SELFDRIVE_LOG_LEVEL": "DEBUG"})
    assert config.log.level == "DEBUG"


# --- [backup.replica] ---------------------------------------------------------------------

def test_a_replica_is_checked_against_the_primary(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "SELFDRIVE_BACKUP_REPLICA_BUCKET": "far-copy"}
    with pytest.raises(ConfigError, match="a replica needs a primary bucket"):
        load(None, env=env)
    env["SELFDRIVE_BACKUP_BUCKET"] = "far-copy"
    with pytest.raises(ConfigError, match="same bucket and prefix"):
        load(None, env=env)
    env["SELFDRIVE_BACKUP_REPLICA_PREFIX"] = "other"
    config, _ = load(None, env={**env, "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"})
    assert (config.backup.replica.bucket, config.backup.replica.access_key_id) == ("far-copy", "k")
    with pytest.raises(ConfigError, match=r"backup\.replica\.bucket: 'No' is not an S3 bucket"):
        load(None, env={**env, "SELFDRIVE_BACKUP_REPLICA_BUCKET": "No"})
    with pytest.raises(ConfigError, match=r"\[backup\.replica\] has no key \"bukket\""):
        load(None, env={**env, "SELFDRIVE_BACKUP_REPLICA_BUKKET": "x"})
