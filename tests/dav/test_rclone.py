"""Debian's `rclone` as the WebDAV client of the real server.

A tree of 1,000 files (0 bytes to 4 MiB, nested folders, unicode and
punctuation in names) goes up with `rclone copy`, `rclone check` finds no
difference, and a fresh `rclone copy` down is byte-identical.  Then
`rclone moveto` of a file and of a folder, `rclone delete` and `rclone purge`;
the REST API tells that the moves were real moves (a moved file keeps its
revisions, nothing went to the trash) and that the deletes went to the trash.

rclone logs in with the user's device token as its app password.  The full
story (1,000 files and one of 1 GiB, written and compared in chunks) is the
slow test; the quick one tells the same story with 100 small files.
"""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.conftest import Server
from tests.dav.conftest import (
    DavUser,
    need_tool,
    new_dav_user,
    revisions,
    trash_paths,
    tree,
)

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB
FILES = 1000
# NFC names only: the server NFC-normalises, so an NFD name would come back changed.
NAMES = [
    "Fotos 2024", "日本語のフォルダ", "Ünïcødé", "emoji 🎉 party", "a+b&c=d", "100% done",
    "semi;colon", "#hash", "quote's", "brackets [1] {2}", "ümlaut", "question?", "tilde~",
    "comma,name", "trailing.", "back\\slash", "double  space", "dollar $HOME", "Ελληνικά",
    "Русский", "עברית", "plain",
]


class Rclone:
    """rclone with one remote, `sd:`, set up from environment variables only."""

    def __init__(self, exe: str, user: DavUser, password: str, workdir: Path,
                 timeout: float = 600) -> None:
        self.timeout = timeout
        config = workdir / "rclone.conf"
        config.touch()
        self.base = [exe, "--config", str(config)]
        obscured = self._run([exe, "obscure", password], {}).stdout.strip()
        self.env = {
            **os.environ,
            "RCLONE_CONFIG_SD_TYPE": "webdav",
            "RCLONE_CONFIG_SD_URL": user.url,
            "RCLONE_CONFIG_SD_VENDOR": "other",
            "RCLONE_CONFIG_SD_USER": user.name,
            "RCLONE_CONFIG_SD_PASS": obscured,
        }

    def __call__(self, *args: str) -> str:
        # One try each: a retry would hide a server error.
        flags = ["--retries", "1", "--low-level-retries", "1", "--transfers", "8",
                 "--checkers", "8", "--stats", "0"]
        return self._run([*self.base, *args, *flags], self.env, self.timeout).stderr

    @staticmethod
    def _run(cmd: list[str], env: dict[str, str],
             timeout: float = 60) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                                env=env or None)
        assert result.returncode == 0, (
            f"{' '.join(cmd[3:] if cmd[1] == '--config' else cmd)} exited "
            f"{result.returncode}:\n{result.stderr[-8000:]}")
        return result


def make_tree(root: Path, count: int = FILES, seed: int = 12) -> dict[str, int]:
    """`count` files of mixed sizes in nested folders; returns {relative path: size}."""
    rng = random.Random(seed)
    folders = [Path()]
    while len(folders) < 60:
        parent = rng.choice(folders)
        if len(parent.parts) < 4:
            folders.append(parent / rng.choice(NAMES))
    sizes: dict[str, int] = {}
    shared = rng.randbytes(64 * KIB)  # some files repeat it: equal blocks on the server
    for i in range(count):
        kind = rng.random()
        size = (0 if kind < 0.05 else rng.randint(1, 100) if kind < 0.4
                else rng.randint(101, 16 * KIB) if kind < 0.955
                else rng.randint(16 * KIB, MIB) if kind < 0.995 else rng.randint(MIB, 4 * MIB))
        data = (shared * (size // len(shared) + 1))[:size] if i % 17 == 0 else rng.randbytes(size)
        rel = rng.choice(folders) / f"{rng.choice(NAMES)} {i:04d}.bin"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
        sizes[rel.as_posix()] = size
    return sizes


def write_random_file(path: Path, size: int, chunk: int = 8 * MIB) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        for offset in range(0, size, chunk):
            f.write(os.urandom(min(chunk, size - offset)))


def digests(root: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under root, read in chunks."""
    found: dict[str, str] = {}
    for path in root.rglob("*"):
        if path.is_file():
            h = hashlib.sha256()
            with path.open("rb") as f:
                while block := f.read(MIB):
                    h.update(block)
            found[path.relative_to(root).as_posix()] = h.hexdigest()
    return found


def roundtrip(rclone: Rclone, local: Path, down: Path) -> None:
    """copy up, check, copy down into a fresh folder: byte-identical.

    `check` compares names and sizes (the server offers rclone no hash); the
    bytes are compared after the copy down, which reads every file anyway."""
    rclone("copy", str(local), "sd:tree")
    out = rclone("check", str(local), "sd:tree")
    assert "0 differences found" in out, out
    rclone("copy", "sd:tree", str(down))
    want, got = digests(local), digests(down)
    assert sorted(got) == sorted(want)
    assert [p for p in want if got[p] != want[p]] == []


def moves_and_deletes(rclone: Rclone, local: Path, rest: httpx.Client) -> None:
    """Moves keep revisions and skip the trash; deletes go to the trash."""
    # a second revision of two files, so that a move must carry history along
    for rel in ("moves/history.txt", "moves/folder/deep/inner.txt"):
        (local / rel).write_bytes(b"version two, longer than the first" * 10)
        rclone("copyto", str(local / rel), f"sd:tree/{rel}")
        assert len(revisions(rest, f"/tree/{rel}")) == 2
    file_history = revisions(rest, "/tree/moves/history.txt")
    inner_history = revisions(rest, "/tree/moves/folder/deep/inner.txt")
    folder_before = {p.removeprefix("/tree/moves/folder"): (e["id"], e["rev"])
                     for p, e in tree(rest, "/tree/moves/folder").items()}
    trash_before = trash_paths(rest)

    rclone("moveto", "sd:tree/moves/history.txt", "sd:tree/moved/renamed history.txt")
    rclone("moveto", "sd:tree/moves/folder", "sd:tree/moved/folder moved")
    assert rest.get("/files/metadata", params={"path": "/tree/moves/history.txt"}) \
        .status_code == 404
    assert rest.get("/files/metadata", params={"path": "/tree/moves/folder"}).status_code == 404
    assert revisions(rest, "/tree/moved/renamed history.txt") == file_history
    assert revisions(rest, "/tree/moved/folder moved/deep/inner.txt") == inner_history
    folder_after = {p.removeprefix("/tree/moved/folder moved"): (e["id"], e["rev"])
                    for p, e in tree(rest, "/tree/moved/folder moved").items()}
    assert folder_after == folder_before  # same node ids: moved, not copied
    assert trash_paths(rest) == trash_before

    doomed_files = {p for p, e in tree(rest, "/tree/deletes/files").items()
                    if e["kind"] == "file"}
    rclone("delete", "sd:tree/deletes/files")
    rclone("purge", "sd:tree/deletes/folder")
    assert [e for e in tree(rest, "/tree/deletes/files").values() if e["kind"] == "file"] == []
    assert rest.get("/files/metadata", params={"path": "/tree/deletes/folder"}).status_code == 404
    trashed = set(trash_paths(rest))
    assert doomed_files <= trashed, doomed_files - trashed
    assert "/tree/deletes/folder" in trashed


def make_move_and_delete_targets(local: Path) -> None:
    for rel in ("moves/history.txt", "moves/folder/deep/inner.txt", "moves/folder/a.txt",
                "moves/folder/b/c.txt", "deletes/files/one.txt", "deletes/files/sub/two.txt",
                "deletes/folder/three.txt", "deletes/folder/sub/four.txt"):
        (local / rel).parent.mkdir(parents=True, exist_ok=True)
        (local / rel).write_bytes(f"version one of {rel}".encode())


def run_rclone_story(server: Server, tmp_path: Path, files: int, big_file: int = 0) -> None:
    exe = need_tool("rclone", "rclone")
    user = new_dav_user(server)
    rclone = Rclone(exe, user, user.token, tmp_path, timeout=600 + big_file / MIB)
    local = tmp_path / "local"
    make_tree(local, count=files)
    make_move_and_delete_targets(local)
    if big_file:
        write_random_file(local / "big" / "one gib.bin", big_file)
    roundtrip(rclone, local, tmp_path / "down")
    with server.client(user.token) as rest:
        if big_file:
            meta = rest.get("/files/metadata", params={"path": "/tree/big/one gib.bin"}).json()
            assert meta["size"] == big_file
        moves_and_deletes(rclone, local, rest)


def test_rclone_copy_check_move_delete(server: Server, tmp_path: Path) -> None:
    run_rclone_story(server, tmp_path, files=100)


@pytest.mark.slow
def test_rclone_with_1000_files_and_one_of_1_gib(server: Server, tmp_path: Path) -> None:
    run_rclone_story(server, tmp_path, files=FILES, big_file=GIB)
