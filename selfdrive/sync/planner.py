"""The planner: what to do so that the disk and the server agree again.

`plan` is a pure function of the three trees (selfdrive/sync/tree.py): the
base (what both sides last agreed on), the local tree and the remote tree.  It
returns operations in the order they must run.  The engine runs them, records
each success in the base, scans and lists again, and plans again until a plan
is empty; a plan may need a second round (a file that must give way to a
folder is moved to the trash in one round, the folder made in the next).

Moves come first.  A local item is the same item when its inode is (and, for a
file, its content hash is unchanged: an inode reused by a new file is not a
move); a remote item when its server id is.  A move made on one side is made on
the other as a move, so nothing is sent again.  Then every key is decided on
its own by the table below, where "=" compares identities (tree.same):

=====================  =====================  ==================================
local vs base          remote vs base         operation
=====================  =====================  ==================================
local = remote         (either)               record the agreement (or forget)
unchanged              changed                download / mkdir here / trash here
changed                unchanged              upload / mkdir there / delete there
deleted                changed                download: an edit beats a delete
changed                deleted                upload: an edit beats a delete
both files, differ     both files, differ     conflict copy of the local file,
                                              then download (a conflict copy
                                              itself never conflicts again: its
                                              local version is uploaded over)
file vs folder         folder vs file         the file gives way: a local file
                                              is renamed to a conflict copy, a
                                              remote one is moved to one
=====================  =====================  ==================================

A folder is deleted on one side only when nothing under it stays on that side:
a folder deleted on one device while a file inside it was edited on another
keeps that file (and the folder is made again where it went missing).
Deletions never come from an error: only from a listing or the change feed
(the engine's job), and a file that is unsettled locally is left alone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar, cast

from selfdrive.core.conflicts import conflict_name, is_conflict_copy
from selfdrive.sync.names import fold
from selfdrive.sync.tree import Base, Local, Remote, name, parent, rebase, same, under

# ---- operations -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Record:
    """Both sides hold the same item: write it into the base."""
    key: str
    local: Local
    remote: Remote


@dataclass(frozen=True, slots=True)
class Forget:
    """Both sides lack the item: drop it from the base."""
    key: str


@dataclass(frozen=True, slots=True)
class Upload:
    key: str
    local: Local
    #: the revision the server must be at (0: no file there), else a conflict
    base_rev: int


@dataclass(frozen=True, slots=True)
class Download:
    key: str
    remote: Remote
    #: what the disk must still hold right before the rename (None: nothing)
    expect: Local | None


@dataclass(frozen=True, slots=True)
class MkdirLocal:
    key: str
    remote: Remote


@dataclass(frozen=True, slots=True)
class MkdirRemote:
    key: str
    local: Local


@dataclass(frozen=True, slots=True)
class DeleteLocal:
    """Move a local item to the client's trash (a folder only when empty).
    *make_way*: it goes so that an item of the other kind can take its place,
    which is why it runs before the folders are made."""
    key: str
    expect: Local
    make_way: bool = False


@dataclass(frozen=True, slots=True)
class DeleteRemote:
    """Delete on the server (to its trash); a file only at revision *rev*."""
    key: str
    kind: str
    rev: int
    make_way: bool = False


@dataclass(frozen=True, slots=True)
class MoveLocal:
    src: str
    dst: str
    #: the item's key in the base, when not *src* (both sides moved it)
    base_key: str | None = None


@dataclass(frozen=True, slots=True)
class MoveRemote:
    src: str
    dst: str
    base_key: str | None = None


@dataclass(frozen=True, slots=True)
class Rebase:
    """Both sides moved an item to the same place: move it in the base."""
    src: str
    dst: str


@dataclass(frozen=True, slots=True)
class ConflictCopy:
    """Both sides changed one file: the local one is renamed to *copy* and
    uploaded there; the remote one is then downloaded to *key*."""
    key: str
    copy: str
    local: Local
    remote: Remote


@dataclass(frozen=True, slots=True)
class Problem:
    """Something the client will not do, reported and left alone."""
    key: str
    reason: str


Op = (Record | Forget | Upload | Download | MkdirLocal | MkdirRemote | DeleteLocal
      | DeleteRemote | MoveLocal | MoveRemote | Rebase | ConflictCopy | Problem)

T = TypeVar("T")

#: how many moves one plan follows (each rescans the trees: keep it bounded)
MAX_MOVES = 1000


@dataclass(frozen=True, slots=True)
class Options:
    device: str = ""
    now_ms: int = 0
    #: the local file system folds case: two keys that differ only in case are one file
    case_insensitive: bool = False


def plan(
    base: Mapping[str, Base], local: Mapping[str, Local], remote: Mapping[str, Remote],
    options: Options = Options(),
) -> list[Op]:
    """The operations that make the three trees agree, in the order to run them."""
    b, lo, re = dict(base), dict(local), dict(remote)
    moves: list[Op] = []
    held = _follow_moves(b, lo, re, moves, options)
    decided: dict[str, Op] = {}
    taken = set(lo) | set(re)
    # an unsettled file is left alone, and so is anything that would go under it
    held |= {k for k, v in lo.items() if v.kind == "file" and v.content_hash is None}
    for key in sorted(set(b) | set(lo) | set(re)):
        if key in held or (held and not _ancestors(key).isdisjoint(held)):
            continue
        op = _decide(key, b.get(key), lo.get(key), re.get(key), options, taken)
        if op is not None:
            decided[key] = op
    _keep_folders_with_survivors(decided, b, lo, re, options, taken)
    if options.case_insensitive:
        _resolve_case_clashes(decided, lo, options, taken)
    return moves + _order(decided)


# ---- moves -----------------------------------------------------------------


def _follow_moves(
    base: dict[str, Base], local: dict[str, Local], remote: dict[str, Remote],
    out: list[Op], options: Options,
) -> set[str]:
    """Find moves on either side, emit them for the other side, and apply them
    to the trees as if done.  Returns keys to leave alone this round."""
    broken: set[str] = set()
    held: set[str] = set()
    for _ in range(MAX_MOVES):
        lm, hold = _local_moves(base, local, broken)
        held |= hold
        rm = _remote_moves(base, remote, broken)
        sources = sorted(set(lm) | set(rm))
        if not sources:
            break
        # a move into a folder that another move brings comes after that one:
        # moves whose folder is there first, then the shallower destinations
        src = min(sources, key=lambda k: (
            not _parent_there(k, lm, rm, local, remote), (rm.get(k) or lm[k]).count("/"), k))
        ld, rd = lm.get(src), rm.get(src)
        if ld is not None and rd is not None:
            if ld == rd:
                out.append(Rebase(src, ld))
                _move(base, src, ld)
            elif _can_move(local, ld, rd, options):  # both moved it: the server's place wins
                out.append(MoveLocal(ld, rd, base_key=src))
                _move(local, ld, rd)
                _move(base, src, rd)
            else:
                broken.add(src)
        elif ld is not None:
            r = remote.get(src)
            if r is not None and r.id == base[src].remote_id and _can_move(remote, src, ld):
                out.append(MoveRemote(src, ld))
                _move(remote, src, ld)
                _move(base, src, ld)
            else:
                broken.add(src)
        else:
            assert rd is not None
            lsrc = local.get(src)
            if lsrc is not None and lsrc.kind == "file" and lsrc.content_hash is None:
                held.update((src, rd))  # being written: move it once it is stable
                broken.add(src)
            elif lsrc is not None and lsrc.ino == base[src].ino and _can_move(
                local, src, rd, options
            ):
                out.append(MoveLocal(src, rd))
                _move(local, src, rd)
                _move(base, src, rd)
            else:
                broken.add(src)
    return held


def _parent_there(src: str, lm: Mapping[str, str], rm: Mapping[str, str],
                  local: Mapping[str, Local], remote: Mapping[str, Remote]) -> bool:
    """Whether the folder a move goes into is already where it must be."""
    if src in rm:
        folder = parent(rm[src])
        return not folder or folder in local
    folder = parent(lm[src])
    return not folder or folder in remote


def _local_moves(
    base: Mapping[str, Base], local: Mapping[str, Local], broken: set[str]
) -> tuple[dict[str, str], set[str]]:
    by_ino = {item.ino: key for key, item in local.items()}
    found: dict[str, str] = {}
    held: set[str] = set()
    for key, b in base.items():
        here = local.get(key)
        if key in broken or (here is not None and here.ino == b.ino):
            continue
        dst = by_ino.get(b.ino)
        if dst is None or dst == key:
            continue
        item = local[dst]
        there = base.get(dst)
        if item.kind != b.kind or (there is not None and there.ino == b.ino):
            continue
        if item.kind == "file" and item.content_hash != b.content_hash:
            if item.content_hash is None:  # moved while being written: wait for it
                held.update((key, dst))
            continue
        found[key] = dst
    return _top_level(found), held


def _remote_moves(
    base: Mapping[str, Base], remote: Mapping[str, Remote], broken: set[str]
) -> dict[str, str]:
    by_id = {item.id: key for key, item in remote.items()}
    found: dict[str, str] = {}
    for key, b in base.items():
        here = remote.get(key)
        if key in broken or (here is not None and here.id == b.remote_id):
            continue
        dst = by_id.get(b.remote_id)
        if dst is None or dst == key:
            continue
        there = base.get(dst)
        if remote[dst].kind != b.kind or (there is not None and there.remote_id == b.remote_id):
            continue
        found[key] = dst
    return _top_level(found)


def _top_level(moves: dict[str, str]) -> dict[str, str]:
    """Drop the moves that their folder's move already makes."""
    return {
        src: dst for src, dst in moves.items()
        if not (parent(src) in moves and moves[parent(src)] == parent(dst)
                and name(src) == name(dst))
    }


def _can_move(tree: Mapping[str, Local] | Mapping[str, Remote], src: str, dst: str,
              options: Options | None = None) -> bool:
    """Whether *src* can be moved to *dst* in *tree*: not into itself, not
    onto something, not under a file (a case-only rename on a disk that
    folds case is fine)."""
    if dst in tree or under(dst, src):
        return False
    if any((a := tree.get(p)) is not None and a.kind != "folder" for p in _ancestors(dst)):
        return False
    if options is not None and options.case_insensitive:
        folded = fold(dst)
        return all(fold(k) != folded or k == src for k in tree)
    return True


def _move(tree: dict[str, T], src: str, dst: str) -> None:
    for key in [k for k in tree if under(k, src)]:
        item = tree.pop(key)
        if isinstance(item, Local) and item.disk is not None:
            item = cast(T, dataclasses.replace(item, disk=None))  # the move names it anew
        tree[rebase(key, src, dst)] = item


# ---- one key at a time -------------------------------------------------------


def _decide(
    key: str, b: Base | None, loc: Local | None, rem: Remote | None,
    options: Options, taken: set[str],
) -> Op | None:
    if loc is not None and loc.kind == "file" and loc.content_hash is None:
        return None  # unsettled: decide once it is stable
    if same(loc, rem):
        if loc is None or rem is None:
            return Forget(key) if b is not None else None
        if b is None or not _recorded(b, loc, rem):
            return Record(key, loc, rem)
        return None
    if same(loc, b):  # only the server changed
        return _take_remote(key, loc, rem)
    if same(rem, b):  # only the disk changed
        return _take_local(key, loc, rem)
    # both changed, differently
    if loc is None:
        return _take_remote(key, loc, rem)  # an edit beats a delete
    if rem is None:
        return _take_local(key, loc, rem)
    if loc.kind == "file" and rem.kind == "file":
        if is_conflict_copy(name(key)):
            # never a copy of a copy: ours goes over, theirs stays a revision
            return Upload(key, loc, rem.rev)
        return ConflictCopy(key, _copy_key(key, options, taken), loc, rem)
    if loc.kind == "file":  # the local file gives way to the remote folder
        return ConflictCopy(key, _copy_key(key, options, taken), loc, rem)
    return MoveRemote(key, _copy_key(key, options, taken))  # the remote file gives way


def _take_remote(key: str, loc: Local | None, rem: Remote | None) -> Op:
    if rem is None:
        assert loc is not None
        return DeleteLocal(key, loc)
    if loc is not None and loc.kind != rem.kind:
        return DeleteLocal(key, loc, make_way=True)  # made again next round
    if rem.kind == "folder":
        return MkdirLocal(key, rem)
    return Download(key, rem, loc)


def _take_local(key: str, loc: Local | None, rem: Remote | None) -> Op:
    if loc is None:
        assert rem is not None
        return DeleteRemote(key, rem.kind, rem.rev)
    if rem is not None and rem.kind != loc.kind:
        return DeleteRemote(key, rem.kind, rem.rev, make_way=True)
    if loc.kind == "folder":
        return MkdirRemote(key, loc)
    return Upload(key, loc, rem.rev if rem is not None else 0)


def _recorded(b: Base, loc: Local, rem: Remote) -> bool:
    return (b.ino, b.remote_id, b.rev, b.size, b.mtime_ns, b.content_hash, b.executable) == (
        loc.ino, rem.id, rem.rev, loc.size, loc.mtime_ns, loc.content_hash, loc.executable
    )


def _copy_key(key: str, options: Options, taken: set[str]) -> str:
    folder, label = parent(key), name(key)
    for attempt in range(1, 1000):
        copy = conflict_name(label, device=options.device, when_ms=options.now_ms,
                             attempt=attempt)
        copy_key = f"{folder}/{copy}" if folder else copy
        if copy_key not in taken:
            taken.add(copy_key)
            return copy_key
    raise RuntimeError(f"no free conflict name beside {key}")


# ---- folders and order ------------------------------------------------------------


def _keep_folders_with_survivors(
    decided: dict[str, Op], base: Mapping[str, Base], local: Mapping[str, Local],
    remote: Mapping[str, Remote], options: Options, taken: set[str],
) -> None:
    """A folder is deleted on a side only when nothing under it stays there;
    otherwise it is made again on the side that lost it.  Deepest first, so a
    kept file keeps every folder above it."""
    stays_local: set[str] = set()
    stays_remote: set[str] = set()
    for key in sorted(set(base) | set(local) | set(remote), reverse=True):
        op = decided.get(key)
        if isinstance(op, DeleteLocal) and op.expect.kind == "folder" and _any_under(
            stays_local, key
        ):
            rem = remote.get(key)
            if rem is None:
                op = _replace(decided, key, MkdirRemote(key, op.expect))
            else:  # the server put a file where our folder is: the file gives way
                op = _replace(decided, key, MoveRemote(key, _copy_key(key, options, taken)))
        if isinstance(op, DeleteRemote) and op.kind == "folder" and _any_under(
            stays_remote, key
        ):
            loc = local.get(key)
            if loc is None:
                op = _replace(decided, key, MkdirLocal(key, remote[key]))
            else:  # we put a file where the server's folder is: ours gives way
                op = _replace(decided, key, ConflictCopy(
                    key, _copy_key(key, options, taken), loc, remote[key]))
        if _stays(op, key in local, (Upload, MkdirRemote, Download, MkdirLocal, Record,
                                     ConflictCopy), DeleteLocal):
            stays_local.add(key)
        if _stays(op, key in remote, (Upload, MkdirRemote, Download, MkdirLocal, Record,
                                      ConflictCopy, MoveRemote), DeleteRemote):
            stays_remote.add(key)


def _resolve_case_clashes(decided: dict[str, Op], local: Mapping[str, Local],
                          options: Options, taken: set[str]) -> None:
    """On a disk that folds case, a server name that differs only in case from
    one already there (or made earlier in this plan) cannot be made: the
    server's item is renamed to a conflict copy instead, so that every
    device ends up with both, and neither overwrites the other."""
    there = {fold(k): k for k in local}
    moved: list[str] = []
    for key in sorted(decided):
        op = decided[key]
        if any(under(key, m) for m in moved[-1:]):
            del decided[key]  # it moves with its folder: next round, at the new name
            continue
        if not isinstance(op, Download | MkdirLocal) or key in local:
            continue
        if there.setdefault(fold(key), key) != key:
            copy = _copy_key(key, options, taken | set(there.values()))
            there[fold(copy)] = copy
            decided[key] = MoveRemote(key, copy)
            moved.append(key)


def _replace(decided: dict[str, Op], key: str, op: Op | None) -> Op | None:
    if op is None:
        decided.pop(key, None)
    else:
        decided[key] = op
    return op


def _stays(op: Op | None, present: bool, keeps: tuple[type, ...], deletes: type) -> bool:
    if op is None:
        return present
    if isinstance(op, Forget | deletes):
        return False
    return isinstance(op, keeps) or present


def _any_under(keys: set[str], folder: str) -> bool:
    prefix = folder + "/"
    return any(k.startswith(prefix) for k in keys)


def _order(decided: Mapping[str, Op]) -> list[Op]:
    """Items that give way to an item of the other kind first (conflict copies,
    make-way deletions), then folders made parents first, then transfers, then
    deletions children first, so every operation finds its parent and a
    folder is empty when its turn to go comes.  Deletions of a remote folder
    cover what is under it."""
    first: list[Op] = []
    makes: list[Op] = []
    transfers: list[Op] = []
    deletes: list[Op] = []
    remote_gone: set[str] = set()
    for key in sorted(decided):
        op = decided[key]
        if (isinstance(op, DeleteLocal | DeleteRemote) and op.make_way) or isinstance(
            op, ConflictCopy | MoveRemote
        ):
            first.append(op)
        elif isinstance(op, MkdirLocal | MkdirRemote):
            makes.append(op)
        elif isinstance(op, DeleteRemote):
            if _ancestors(key) & remote_gone:
                continue  # the folder's deletion takes it along
            if op.kind == "folder":
                remote_gone.add(key)
            deletes.append(op)
        elif isinstance(op, DeleteLocal | Forget):
            deletes.append(op)
        else:
            transfers.append(op)
    deletes.sort(key=_delete_order, reverse=True)
    return [*first, *makes, *transfers, *deletes]


def _ancestors(key: str) -> set[str]:
    parts = key.split("/")
    return {"/".join(parts[:i]) for i in range(1, len(parts))}


def _delete_order(op: Op) -> str:
    return op.key if isinstance(op, DeleteLocal | DeleteRemote | Forget) else ""


def count_local_deletes(ops: Iterable[Op]) -> int:
    """How many local files a plan would move to the trash (the mass-delete guard)."""
    return sum(1 for op in ops if isinstance(op, DeleteLocal) and op.expect.kind == "file")
