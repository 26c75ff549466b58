"""contrib/selfdrive.service is a valid unit, and its sandbox keeps the
service's exposure low (systemd-analyze, offline)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_external

UNIT = Path(__file__).resolve().parents[2] / "contrib" / "selfdrive.service"


def _analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        why = "systemd-analyze is not installed (apt-get install systemd)"
        if require_external():
            pytest.fail(why)
        pytest.skip(why)
    return found


def _unit_here(tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at this Python (verify checks that
    the program exists)."""
    text = re.sub(r"(?m)^ExecStart=.*$", f"ExecStart={sys.executable} -m selfdrive serve",
                  UNIT.read_text())
    copy = tmp_path / "selfdrive.service"
    copy.write_text(text)
    return copy


def test_the_unit_verifies(tmp_path: Path) -> None:
    done = subprocess.run([_analyze(), "verify", str(_unit_here(tmp_path))],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr


def test_the_sandbox_keeps_exposure_low(tmp_path: Path) -> None:
    done = subprocess.run([_analyze(), "security", "--offline=true", "--no-pager",
                           str(_unit_here(tmp_path))], capture_output=True, text=True,
                          timeout=60)
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", done.stdout)
    assert found, done.stdout + done.stderr
    assert float(found.group(1)) <= 2.0, done.stdout
