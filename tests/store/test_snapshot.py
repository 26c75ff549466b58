"""selfdrive.store.snapshot: the sealed form of a metadata snapshot."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from selfdrive.core.errors import StorageError
from selfdrive.store import snapshot
from selfdrive.store.snapshot import HEADER, seal_file, unseal_file

KEY = bytes(range(32))


@pytest.mark.parametrize("size", [0, 1000, snapshot.FRAME_BYTES, snapshot.FRAME_BYTES * 2 + 7])
def test_seal_then_unseal_gives_the_file_back(tmp_path: Path, size: int) -> None:
    plain = os.urandom(size // 2) + b"\0" * (size - size // 2)  # half compressible
    (tmp_path / "db").write_bytes(plain)
    digest = seal_file(tmp_path / "db", tmp_path / "sealed", KEY, "20260101T000000000Z")
    sealed = (tmp_path / "sealed").read_bytes()
    assert len(digest) == 32 and sealed[:4] == b"SDSN"
    unseal_file(tmp_path / "sealed", tmp_path / "back", KEY, "20260101T000000000Z")
    assert (tmp_path / "back").read_bytes() == plain


def test_a_damaged_cut_moved_or_foreign_snapshot_does_not_open(tmp_path: Path) -> None:
    (tmp_path / "db").write_bytes(os.urandom(snapshot.FRAME_BYTES + 5000))
    seal_file(tmp_path / "db", tmp_path / "sealed", KEY, "one")
    sealed = (tmp_path / "sealed").read_bytes()
    first_len = struct.unpack(">I", sealed[HEADER.size:HEADER.size + 4])[0]
    cut_at_frame = HEADER.size + 4 + first_len  # a whole frame fewer
    flipped = bytearray(sealed)
    flipped[-10] ^= 1
    cases = {"flipped": bytes(flipped), "cut": sealed[:cut_at_frame],
             "short": sealed[:-3], "header": sealed[:10]}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(StorageError):
            unseal_file(tmp_path / name, tmp_path / "out", KEY, "one")
    with pytest.raises(StorageError, match="another key"):
        unseal_file(tmp_path / "sealed", tmp_path / "out", bytes(32), "one")
    with pytest.raises(StorageError):  # renamed: the id is bound in
        unseal_file(tmp_path / "sealed", tmp_path / "out", KEY, "two")
