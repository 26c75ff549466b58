"""config.example.toml documents every setting, with its default."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import msgspec

from selfdrive.config import Config, load

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
