"""Static checks run with the tests: layer contracts, lint, strict types."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_layer_contracts_hold() -> None:
    tool = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert tool, "import-linter is in the test extras"
    r = _run(tool)
    assert r.returncode == 0, r.stdout + r.stderr


def test_ruff_is_clean() -> None:
    r = _run(sys.executable, "-m", "ruff", "check", "selfdrive", "tests", "benchmarks")
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.slow
def test_mypy_strict_is_clean() -> None:
    r = _run(sys.executable, "-m", "mypy")
    assert r.returncode == 0, r.stdout + r.stderr


def test_every_web_string_key_is_defined_once() -> None:
    """strings.js is one object literal: a key written twice silently takes
    the later text everywhere (the share dialog once showed the share
    target's title), so each key must appear once."""
    import re
    from collections import Counter

    text = (ROOT / "selfdrive" / "web" / "static" / "strings.js").read_text()
    keys = re.findall(r"^  ([A-Za-z_$][\w$]*)\s*:", text, flags=re.MULTILINE)
    assert len(keys) > 100
    assert [k for k, n in Counter(keys).items() if n > 1] == []
