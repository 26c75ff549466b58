"""End-to-end: real `selfdrive sync` processes for two or three devices of one
user, each on its own folder, against the real server on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import stat
import unicodedata
from collections.abc import Callable

import httpx

from selfdrive.core.conflicts import is_conflict_copy
from tests.conftest import Server
from tests.sync.conftest import PASSWORD, Device

MakeDevice = Callable[..., Device]


def _pair(make_device: MakeDevice) -> tuple[Device, Device]:
    a = make_device(name="laptop")
    b = make_device(a.username, name="desktop")
    return a, b


def _api(server: Server, d: Device) -> httpx.Client:
    return server.client(server.token(d.username, PASSWORD))


def test_files_and_folders_reach_the_other_device(make_device: MakeDevice) -> None:
    a, b = _pair(make_device)
    a.write("notes.txt", "hello")
    a.write("Photos/2026/beach.jpg", os.urandom(300_000))
    (a.folder / "Empty" / "Deeper").mkdir(parents=True)
    a.sync()
    b.sync()
    assert b.tree() == a.tree()
    assert "Empty/Deeper" in b.tree(), "empty folders sync"


def test_an_edit_travels_back_and_becomes_a_revision(
    make_device: MakeDevice, server: Server
) -> None:
    a, b = _pair(make_device)
    a.write("doc.txt", "version 1")
    a.sync()
    b.sync()
    b.write("doc.txt", "version 2, from the desktop")
    b.sync()
    a.sync()
    assert a.read("doc.txt") == b"version 2, from the desktop"
    with _api(server, a) as api:
        revs = api.get("/files/list_revisions", params={"path": "/doc.txt"}).json()
    assert [r["rev"] for r in revs["revisions"]] == [2, 1]


def test_first_sync_merges_two_full_folders(make_device: MakeDevice) -> None:
    a, b = _pair(make_device)
    same = os.urandom(200_000)
    a.write("same.bin", same)
    a.write("only-a.txt", "a")
    a.write("differs.txt", "a's version")
    a.sync()
    b.write("same.bin", same)
    b.write("only-b.txt", "b")
    b.write("differs.txt", "b's version")
    r = b.sync()
    assert "1 uploaded" in r.stdout or "2 uploaded" in r.stdout, r.stdout  # not same.bin
    a.sync()
    assert a.tree() == b.tree()
    names = set(a.tree())
    assert {"same.bin", "only-a.txt", "only-b.txt", "differs.txt"} <= names
    copies = [n for n in names if is_conflict_copy(n)]
    assert len(copies) == 1 and "from desktop" in copies[0]
    assert a.read("differs.txt") == b"a's version"
    assert a.read(copies[0]) == b"b's version"


def test_a_rename_is_sent_as_a_move(make_device: MakeDevice, server: Server) -> None:
    a, b = _pair(make_device)
    a.write("Reports/q1.txt", "numbers")
    a.write("big.bin", os.urandom(2_000_000))
    a.sync()
    b.sync()
    ino_before = os.stat(b.folder / "Reports" / "q1.txt").st_ino
    (a.folder / "big.bin").rename(a.folder / "huge.bin")
    (a.folder / "Reports").rename(a.folder / "Archive")
    r = a.sync()
    assert "0 uploaded" in r.stdout and "2 moved" in r.stdout, r.stdout
    r = b.sync()
    assert "0 downloaded" in r.stdout and "2 moved" in r.stdout, r.stdout
    assert b.tree() == a.tree()
    assert os.stat(b.folder / "Archive" / "q1.txt").st_ino == ino_before, "moved, not fetched"
    with _api(server, a) as api:
        meta = api.get("/files/metadata", params={"path": "/huge.bin"}).json()
    assert meta["rev"] == 1, "a move makes no revision"


def test_both_edit_one_file_and_both_versions_survive(make_device: MakeDevice) -> None:
    a, b = _pair(make_device)
    a.write("plan.txt", "base")
    a.sync()
    b.sync()
    a.write("plan.txt", "laptop's edit")
    b.write("plan.txt", "desktop's edit!")
    a.sync()
    b.sync()
    a.sync()
    assert a.tree() == b.tree()
    copies = [n for n in a.tree() if is_conflict_copy(n)]
    assert len(copies) == 1, a.tree()
    assert copies[0].startswith("plan (conflicted copy from desktop ")
    assert a.read("plan.txt") == b"laptop's edit", "the first commit wins the name"
    assert a.read(copies[0]) == b"desktop's edit!"


def test_an_edit_beats_a_delete_both_ways(make_device: MakeDevice) -> None:
    a, b = _pair(make_device)
    a.write("x.txt", "x1")
    a.write("y.txt", "y1")
    a.sync()
    b.sync()
    (a.folder / "x.txt").unlink()  # deleted on a, edited on b; a first
    b.write("x.txt", "x2")
    b.write("y.txt", "y2")  # edited on b, deleted on a after b's sync
    a.sync()
    b.sync()
    (a.folder / "y.txt").unlink()
    a.sync()
    b.sync()
    a.sync()
    assert a.tree() == b.tree()
    assert a.read("x.txt") == b"x2"
    # y: b's edit reached the server first, then a deleted the file it had
    # seen edited (a plain delete, the edit was not lost: it is in the trash)


def test_a_deleted_folder_keeps_a_file_edited_inside_it(make_device: MakeDevice) -> None:
    a, b = _pair(make_device)
    a.write("Project/keep.txt", "v1")
    a.write("Project/other.txt", "o")
    a.sync()
    b.sync()
    shutil.rmtree(a.folder / "Project")
    b.write("Project/keep.txt", "v2, edited while a deleted the folder")
    b.sync()
    a.sync()
    b.sync()
    assert a.tree() == b.tree()
    assert a.read("Project/keep.txt") == b"v2, edited while a deleted the folder"


def test_remote_deletes_go_to_the_local_trash(make_device: MakeDevice) -> None:
    a, b = _pair(make_device)
    a.write("old.txt", "remember me")
    a.write("keep.txt", "k")
    a.write("keep2.txt", "k")
    a.sync()
    b.sync()
    (a.folder / "old.txt").unlink()
    a.sync()
    b.sync()
    assert not (b.folder / "old.txt").exists()
    trashed = list((b.folder / ".selfdrive" / "trash").rglob("old.txt"))
    assert trashed and trashed[0].read_bytes() == b"remember me"


def test_mass_delete_needs_confirmation(make_device: MakeDevice) -> None:
    a, b = _pair(make_device)
    for i in range(10):
        a.write(f"f{i}.txt", str(i))
    a.sync()
    b.sync()
    for i in range(8):
        (a.folder / f"f{i}.txt").unlink()
    a.sync()
    r = b.run("--once")
    assert r.returncode == 3 and "--confirm-deletes" in r.stderr, r.stderr
    assert len([p for p in b.tree() if p.startswith("f")]) == 10, "nothing deleted"
    status = b.run("--status")
    assert "delete 8 of 10" in status.stdout, status.stdout
    b.sync("--confirm-deletes")
    assert sorted(b.tree()) == ["f8.txt", "f9.txt"]


def test_a_folder_without_its_marker_is_refused(
    make_device: MakeDevice, server: Server
) -> None:
    a, _ = _pair(make_device)
    a.write("precious.txt", "p")
    a.sync()
    shutil.rmtree(a.folder)  # the drive is not mounted: an empty folder in its place
    a.folder.mkdir()
    r = a.run("--once")
    assert r.returncode == 3 and "marker" in r.stderr, r.stderr
    with _api(server, a) as api:
        assert api.get("/files/metadata", params={"path": "/precious.txt"}).status_code == 200


def test_ignored_names_stay_local(make_device: MakeDevice) -> None:
    a, b = _pair(make_device)
    a.write(".selfdriveignore", "*.log\nbuild/\n")
    a.write("app.log", "noise")
    a.write("build/out.o", "obj")
    a.write("~$report.docx", "lock")
    a.write(".DS_Store", "mac")
    a.write(".git/config", "kept: .git is not ignored by default")
    a.write("src/main.py", "print()")
    a.sync()
    b.sync()
    assert set(b.tree()) == {".selfdriveignore", ".git", ".git/config", "src", "src/main.py"}


def test_exec_bits_symlinks_and_unicode_names(make_device: MakeDevice) -> None:
    a, b = _pair(make_device)
    script = a.write("run.sh", "#!/bin/sh\necho hi\n")
    script.chmod(0o755)
    nfd = unicodedata.normalize("NFD", "Café.txt")
    a.write(nfd, "accent")
    os.symlink("/etc/passwd", a.folder / "link")
    r = a.sync()
    assert "link" not in r.stdout
    b.sync()
    assert os.stat(b.folder / "run.sh").st_mode & stat.S_IXUSR
    assert (b.folder / unicodedata.normalize("NFC", "Café.txt")).read_bytes() == b"accent"
    assert not (b.folder / "link").exists()
    status = a.run("--status").stdout
    assert "link: a symbolic link" in status, status
    b.write(unicodedata.normalize("NFC", "Café.txt"), "accent, edited on linux")
    b.sync()
    a.sync()
    assert (a.folder / nfd).read_bytes() == b"accent, edited on linux", "NFD and NFC: one file"
    assert len([n for n in a.tree() if n.startswith("Caf")]) == 1


def _amount(summary: str, which: str) -> float:
    """Bytes from the summary line's "(X sent, Y received)"."""
    part = summary.split("(")[-1].split(",")[0 if which == "sent" else 1].split()
    return float(part[0]) * {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}[part[1]]


def test_a_small_edit_travels_as_a_delta_both_ways(make_device: MakeDevice) -> None:
    a, b = _pair(make_device)
    words = [os.urandom(4).hex() for _ in range(5000)]
    rng = __import__("random").Random(7)
    text = " ".join(rng.choice(words) for _ in range(1_500_000)).encode()[:12 * 1024 * 1024]
    a.write("book.txt", text)
    a.sync()
    b.sync()
    middle = len(text) // 2
    a.write("book.txt", text[:middle] + b"X" + text[middle + 1:])
    up = a.sync().stdout
    down = b.sync().stdout
    assert b.read("book.txt") == a.read("book.txt")
    assert _amount(up, "sent") < 8192, up
    assert _amount(down, "received") < 8192, down


def test_an_editor_saving_by_rename_makes_an_edit(make_device: MakeDevice, server: Server) -> None:
    a, b = _pair(make_device)
    a.write("doc.txt", "draft")
    a.sync()
    b.sync()
    with _api(server, a) as api:
        before = api.get("/files/metadata", params={"path": "/doc.txt"}).json()
    a.write(".doc.txt.swp", "final text")  # vim, LibreOffice and others save like this
    os.replace(a.folder / ".doc.txt.swp", a.folder / "doc.txt")
    a.sync()
    b.sync()
    assert b.read("doc.txt") == b"final text"
    assert [n for n in b.tree() if is_conflict_copy(n)] == []
    with _api(server, a) as api:
        after = api.get("/files/metadata", params={"path": "/doc.txt"}).json()
    assert after["id"] == before["id"] and after["rev"] == 2, "one file, a new revision"
