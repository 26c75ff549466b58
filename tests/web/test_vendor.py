"""The vendored browser files match selfdrive/web/vendor/README.md, offline.

scripts/vendor-web.py writes the files and the README's tables from the npm
tarballs (and its --check compares them with the registry); this test needs
no network: every file in the tables is on disk with that SHA-256 and size,
every vendored package carries a LICENSE, and nothing else is in vendor/.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
VENDOR = ROOT / "selfdrive" / "web" / "vendor"
README = VENDOR / "README.md"
START = "<!-- vendor-table:start"
END = "<!-- vendor-table:end -->"
SHA256 = re.compile(r"^`([0-9a-f]{64})`$")


@dataclass(frozen=True)
class Listed:
    package: str
    rel: str  # path below vendor/
    size: int
    sha256: str
    licence: bool


def _size(cell: str) -> int:
    """'11,693 (11.4 KiB)' or '1,087' -> the byte count."""
    return int(cell.split(" ")[0].replace(",", ""))


def listed() -> list[Listed]:
    text = README.read_text(encoding="utf-8")
    start, end = text.index(START), text.index(END)
    out = []
    for line in text[start:end].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("| ") or not cells[-1] or set(cells[0]) <= {"-"}:
            continue
        if cells[0] == "Package":
            continue
        if len(cells) == 11:  # package, version, licence, file, source, loads as, imports,
            # size, gzipped, sha256, why
            package, rel, size, sha, licence = cells[0], cells[3], cells[7], cells[9], False
        elif len(cells) == 5:  # licence texts: package, file, source, size, sha256
            package, rel, size, sha, licence = cells[0], cells[1], cells[3], cells[4], True
        else:
            raise AssertionError(f"unexpected row in {README.name}: {line}")
        match = SHA256.match(sha)
        assert match, f"no SHA-256 in: {line}"
        assert rel.startswith("`") and rel.endswith("`"), line
        out.append(Listed(package, rel.strip("`"), _size(size), match.group(1), licence))
    return out


def on_disk() -> set[str]:
    return {p.relative_to(VENDOR).as_posix() for p in VENDOR.rglob("*") if p.is_file()} - {
        "README.md"}


def test_the_tables_list_files() -> None:
    rows = listed()
    assert any(not r.licence for r in rows)
    assert len({r.rel for r in rows}) == len(rows), "a file is listed twice"
    for r in rows:
        assert r.rel.split("/", 1)[0] == r.package, r
        assert ".." not in r.rel.split("/"), r


@pytest.mark.parametrize("row", listed(), ids=lambda r: r.rel)
def test_each_listed_file_matches(row: Listed) -> None:
    path = VENDOR / row.rel
    assert path.is_file(), f"listed in README.md but missing: {row.rel}"
    data = path.read_bytes()
    assert len(data) == row.size, f"{row.rel}: size {len(data)}, README says {row.size}"
    assert hashlib.sha256(data).hexdigest() == row.sha256, (
        f"{row.rel} differs from its npm tarball (run scripts/vendor-web.py --check)")


def test_every_package_has_a_licence() -> None:
    rows = listed()
    packages = {r.package for r in rows} | {rel.split("/", 1)[0] for rel in on_disk()}
    for package in sorted(packages):
        assert (VENDOR / package / "LICENSE").is_file(), f"{package}: no LICENSE"
        assert any(r.licence and r.rel == f"{package}/LICENSE" for r in rows), (
            f"{package}/LICENSE is not in README.md's licence table")


def test_nothing_unlisted() -> None:
    extra = on_disk() - {r.rel for r in listed()}
    assert not extra, f"in vendor/ but not in README.md: {sorted(extra)}"
