"""The sync planner (selfdrive/sync/planner.py), CanopyCheck-style.

Three kinds of tests, all against the engine model in planner_model.py (the
trees in memory, each operation run as engine._dispatch runs it):

- named scenarios from the planner's rule table;
- the bugs these tests found, each as the smallest case, now fixed;
- properties over seeded random triples (a base, and local and remote each
  changed from it independently): data safety always, and convergence with
  the trees agreeing.  A failure prints the seed, the three trees and every
  round; ``replay(seed)`` tells the same story, ``shrink(seed)`` finds the
  smallest triple that fails the same way.
"""

from __future__ import annotations

import pytest

from selfdrive.core.conflicts import conflict_name, is_conflict_copy
from selfdrive.sync.planner import (
    ConflictCopy,
    DeleteLocal,
    DeleteRemote,
    Download,
    MkdirLocal,
    MkdirRemote,
    MoveLocal,
    MoveRemote,
    Record,
    Upload,
)
from selfdrive.sync.tree import name
from tests.sync.planner_model import (
    DEVICE,
    NOW_MS,
    Crash,
    DataLost,
    Side,
    World,
    check,
    check_world,
    contents,
    generate,
)

# ---- named scenarios ----------------------------------------------------------------


def test_a_local_edit_beats_a_remote_delete() -> None:
    w = World.agreed({"notes": None, "notes/a.txt": "c1"})
    w.write("local", "notes/a.txt", "mine")
    w.remove("remote", "notes/a.txt")
    assert w.plan() == [Upload("notes/a.txt", w.local["notes/a.txt"], 0)]
    check_world(w)
    assert w.remote["notes/a.txt"].content_hash == "mine"


def test_a_remote_edit_beats_a_local_delete() -> None:
    w = World.agreed({"notes": None, "notes/a.txt": "c1"})
    w.remove("local", "notes/a.txt")
    w.write("remote", "notes/a.txt", "theirs")
    assert w.plan() == [Download("notes/a.txt", w.remote["notes/a.txt"], None)]
    check_world(w)
    assert w.local["notes/a.txt"].content_hash == "theirs"


def test_a_folder_deleted_remotely_keeps_the_file_edited_locally_inside() -> None:
    w = World.agreed({"d": None, "d/a.txt": "c1", "d/b.txt": "c2"})
    w.write("local", "d/a.txt", "mine")
    w.remove("remote", "d")
    assert w.plan() == [
        MkdirRemote("d", w.local["d"]),
        Upload("d/a.txt", w.local["d/a.txt"], 0),
        DeleteLocal("d/b.txt", w.local["d/b.txt"]),
    ]
    check_world(w)
    assert sorted(w.remote) == ["d", "d/a.txt"]
    assert w.remote["d/a.txt"].content_hash == "mine"
    assert w.local_trash == ["c2"]  # the unedited file went, to the trash


def test_a_folder_deleted_locally_keeps_the_file_edited_remotely_inside() -> None:
    w = World.agreed({"d": None, "d/a.txt": "c1", "d/b.txt": "c2"})
    w.write("remote", "d/a.txt", "theirs")
    w.remove("local", "d")
    assert w.plan() == [
        MkdirLocal("d", w.remote["d"]),
        Download("d/a.txt", w.remote["d/a.txt"], None),
        DeleteRemote("d/b.txt", "file", w.remote["d/b.txt"].rev),
    ]
    check_world(w)
    assert sorted(w.local) == ["d", "d/a.txt"]
    assert w.local["d/a.txt"].content_hash == "theirs"


def test_both_sides_editing_a_file_make_a_conflict_copy_of_the_local_one() -> None:
    w = World.agreed({"notes": None, "notes/r.txt": "c1"})
    w.write("local", "notes/r.txt", "mine")
    w.write("remote", "notes/r.txt", "theirs")
    copy = "notes/" + conflict_name("r.txt", device=DEVICE, when_ms=NOW_MS)
    assert is_conflict_copy(name(copy))
    assert w.plan() == [
        ConflictCopy("notes/r.txt", copy, w.local["notes/r.txt"], w.remote["notes/r.txt"]),
    ]
    check_world(w)
    assert w.local["notes/r.txt"].content_hash == "theirs"
    assert w.local[copy].content_hash == w.remote[copy].content_hash == "mine"


def test_a_conflict_copy_edited_on_both_sides_does_not_conflict_again() -> None:
    key = conflict_name("r.txt", device="phone", when_ms=0)
    w = World.agreed({key: "c1"})
    w.write("local", key, "mine")
    w.write("remote", key, "theirs")
    assert w.plan() == [Upload(key, w.local[key], w.remote[key].rev)]
    check_world(w)
    assert sorted(w.local) == [key]
    assert w.remote[key].content_hash == "mine"
    assert "theirs" in w.history  # kept as an older revision


def test_a_first_sync_of_identical_trees_only_records() -> None:
    spec = {"d": None, "d/a.txt": "c1", "b.sh": "c2+x"}
    w = World.first_sync(spec, spec)
    ops = w.plan()
    assert sorted(op.key for op in ops if isinstance(op, Record)) == sorted(spec)
    assert len(ops) == len(spec)
    check_world(w)
    assert len(w.rounds) == 1


def test_a_first_sync_uploads_and_downloads_what_one_side_lacks() -> None:
    w = World.first_sync({"a.txt": "c1", "both.txt": "c3"}, {"b.txt": "c2", "both.txt": "c3"})
    check_world(w)
    assert sorted(w.local) == sorted(w.remote) == ["a.txt", "b.txt", "both.txt"]
    assert not w.local_trash


def test_a_local_rename_is_one_remote_move() -> None:
    w = World.agreed({"docs": None, "docs/a.txt": "c1"})
    was = w.remote["docs/a.txt"].id
    w.move("local", "docs/a.txt", "docs/b.txt")
    assert w.plan() == [MoveRemote("docs/a.txt", "docs/b.txt")]
    check_world(w)
    assert w.remote["docs/b.txt"].id == was


def test_a_case_only_rename_is_one_move() -> None:
    w = World.agreed({"readme.md": "c1"})
    w.move("remote", "readme.md", "README.md")
    assert w.plan() == [MoveLocal("readme.md", "README.md")]
    check_world(w)


def test_a_remote_folder_rename_is_one_local_move() -> None:
    w = World.agreed({"photos": None, "photos/1.jpg": "c1", "photos/2.jpg": "c2"})
    inos = {k: v.ino for k, v in w.local.items()}
    w.move("remote", "photos", "pictures")
    assert w.plan() == [MoveLocal("photos", "pictures")]
    check_world(w)
    assert {k: v.ino for k, v in w.local.items()} == {
        k.replace("photos", "pictures"): ino for k, ino in inos.items()}


def test_an_unsettled_file_is_left_alone_until_it_settles() -> None:
    w = World.agreed({"a.txt": "c1"})
    w.write("local", "a.txt", "mine")
    w.unsettled.add("a.txt")
    w.remove("remote", "a.txt")
    assert w.plan() == []
    check_world(w)  # settled after the first round: then the edit beats the delete
    assert w.rounds[1] == [Upload("a.txt", w.local["a.txt"], 0)]


# ---- the model's own judgement --------------------------------------------------------


def test_the_model_calls_replacing_a_file_the_server_never_held_data_loss() -> None:
    w = World.agreed({"a.txt": "c1"})
    w.write("local", "a.txt", "mine")
    with pytest.raises(DataLost):
        w.apply(Download("a.txt", w.remote["a.txt"], w.local["a.txt"]))


def test_the_model_calls_a_mkdir_under_a_local_file_a_crash() -> None:
    w = World.agreed({"a": "c1"})
    w.remove("remote", "a")
    w.mkdir("remote", "a/b")
    with pytest.raises(Crash):
        w.apply(MkdirLocal("a/b", w.remote["a/b"]))


# ---- known bugs in planner.py (the smallest cases found) ----------------------------


def test_the_same_move_on_both_sides_is_recorded() -> None:
    w = World.agreed({"a.txt": "c1"})
    w.move("local", "a.txt", "b.txt")
    w.move("remote", "a.txt", "b.txt")
    check_world(w)  # fails: the base still holds a.txt
    w.write("local", "b.txt", "mine")
    assert w.plan() == [Upload("b.txt", w.local["b.txt"], 1)]


def test_the_same_folder_move_with_a_file_deleted_inside_converges() -> None:
    w = World.agreed({"d": None, "d/x": "c1"})
    sides: tuple[Side, ...] = ("local", "remote")
    for side in sides:
        w.move(side, "d", "e")
        w.remove(side, "e/x")
    check_world(w)


def test_different_moves_on_both_sides_end_in_the_servers_place() -> None:
    w = World.agreed({"a.txt": "c1"})
    w.move("local", "a.txt", "b.txt")
    w.move("remote", "a.txt", "c.txt")
    check_world(w)
    assert sorted(w.base) == ["c.txt"]


def test_a_remote_file_replaced_by_a_folder_of_files() -> None:
    w = World.agreed({"a": "c1"})
    w.remove("remote", "a")
    w.write("remote", "a/b.txt", "c2")
    check_world(w)


def test_a_local_file_facing_a_remote_folder_of_folders() -> None:
    w = World.first_sync({"a": "c1"}, {"a": None, "a/D": None})
    check_world(w)


@pytest.mark.parametrize("adder", ["local", "remote"])
def test_a_folder_replaced_by_a_file_while_the_other_side_adds_into_it(adder: Side) -> None:
    w = World.agreed({"d": None})
    replacer: Side = "remote" if adder == "local" else "local"
    w.write(adder, "d/x.txt", "c2")
    w.remove(replacer, "d")
    w.write(replacer, "d", "c3")
    check_world(w)


@pytest.mark.parametrize("mover", ["local", "remote"])
def test_a_file_moved_into_a_new_folder_of_its_own_name(mover: Side) -> None:
    w = World.agreed({"x": "c1"})
    w.move(mover, "x", "tmp")
    w.mkdir(mover, "x")
    w.move(mover, "tmp", "x/y")
    check_world(w)


def test_crossed_folder_moves() -> None:
    w = World.agreed({"a": None, "b": None})
    w.move("local", "a", "b/a")
    w.move("remote", "b", "a/b")
    check_world(w)


def test_a_remote_move_of_an_unsettled_file_waits() -> None:
    w = World.agreed({"a.txt": "c1"})
    w.unsettled.add("a.txt")
    w.move("remote", "a.txt", "b.txt")
    assert w.plan() == []


def test_a_file_moved_into_a_renamed_folder_follows_the_rename() -> None:
    w = World.agreed({"b": "c1", "c": None})
    w.move("remote", "c", "a")
    w.move("remote", "b", "a/d")
    check_world(w)


def test_a_local_file_replaced_by_a_folder_of_files_in_one_round() -> None:
    w = World.agreed({"d": "c1"})
    w.remove("local", "d")
    w.write("local", "d/x", "c2")
    check_world(w)


# ---- properties over random triples --------------------------------------------------

QUICK = 3_000
SLOW = 100_000
#: a failing run reports this many seeds, then stops
MAX_FAILURES = 20

seeds = pytest.mark.parametrize("count", [
    pytest.param(QUICK, id="3k"),
    pytest.param(SLOW, id="100k", marks=pytest.mark.slow),
])


def _run(count: int, *, strict: bool) -> None:
    failing: list[int] = []
    first = ""
    for seed in range(count):
        try:
            check(seed, strict=strict)
        except AssertionError as exc:
            failing.append(seed)
            first = first or str(exc)
            if len(failing) == MAX_FAILURES:
                break
    assert not failing, f"failing seeds: {failing}\n\nthe first:\n{first}"


def test_random_triples_lose_no_data() -> None:
    """(c) no content lost, (d) no edit lost to a delete, (e) a lone move stays a
    move, even where a round crashes or never converges (the strict test below
    checks these too, over many more seeds, and fails on any crash)."""
    _run(QUICK, strict=False)


@seeds
def test_random_triples_converge_and_agree(count: int) -> None:
    """Every property of planner_model, (a) to (f)."""
    _run(count, strict=True)


def test_random_triples_cover_what_they_promise() -> None:
    """All three modes, unsettled files, content only the disk holds (so a
    loss would show), and every kind of operation."""
    modes: set[str] = set()
    ops: set[str] = set()
    unsettled = only_on_disk = 0
    for seed in range(300):
        start = generate(seed)
        modes.add(start.mode)
        unsettled += bool(start.world.unsettled)
        only_on_disk += bool(contents(start.world.local.values()) - start.world.history)
        ops |= {type(op).__name__ for plan in check(seed, strict=False).world.rounds
                for op in plan}
    assert modes == {"edits", "first-sync", "move"}
    assert unsettled > 0
    assert only_on_disk > 100
    assert {"ConflictCopy", "MoveLocal", "MoveRemote", "Upload", "Download", "DeleteLocal",
            "DeleteRemote", "MkdirLocal", "MkdirRemote", "Record", "Forget"} <= ops
