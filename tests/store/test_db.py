"""selfdrive.store.meta.db: migrations, the writer and the readers."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from selfdrive.core.errors import SchemaTooNew
from selfdrive.store.meta.db import READERS, Database, _statements, backup_file, migrate, migrations
from selfdrive.store.meta.users import count_users, insert_user, user_by_name

NOW = 1_700_000_000_000

SchemaRow = tuple[str, str, str, str | None]


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


def schema(path: Path) -> list[SchemaRow]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall()
    conn.close()
    return sorted(rows, key=lambda r: (r[0], r[1]))


def pragma(path: Path, name: str) -> object:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"PRAGMA {name}").fetchone()[0]
    finally:
        conn.close()


def build_by_hand(path: Path, upto: int) -> None:
    """Apply migration files 1..upto one at a time, without migrate()."""
    conn = sqlite3.connect(path)
    try:
        for number, _name, sql in migrations():
            if number > upto:
                break
            conn.executescript(sql)
            conn.execute(f"PRAGMA user_version = {number}")
    finally:
        conn.close()


# --- migrate() -------------------------------------------------------------------------


def test_migration_files_are_numbered_from_one() -> None:
    found = migrations()
    assert found, "no migration files were packaged"
    assert [n for n, _, _ in found] == list(range(1, len(found) + 1))
    for number, name, sql in found:
        assert name.startswith(f"{number:04d}_") and name.endswith(".sql")
        assert sql.strip()


def test_migrate_a_fresh_database(tmp_path: Path) -> None:
    path = tmp_path / "meta.db"
    version = migrate(path)
    assert version == len(migrations())
    assert pragma(path, "user_version") == version
    assert pragma(path, "journal_mode") == "wal"
    names = {name for kind, name, _, _ in schema(path) if kind == "table"}
    assert {"users", "devices", "nodes", "revisions", "blocks", "changes"} <= names


def test_migrate_again_is_a_no_op(tmp_path: Path) -> None:
    path = tmp_path / "meta.db"
    first = migrate(path)
    before = schema(path)
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO blocks (id, size, stored_size, created_at) VALUES (?, 1, 41, 0)",
                     (b"\x01" * 32,))
    conn.close()
    assert migrate(path) == first
    assert schema(path) == before
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM blocks").fetchone()[0] == 1
    conn.close()


def test_every_table_is_strict(tmp_path: Path) -> None:
    path = tmp_path / "meta.db"
    migrate(path)
    tables = [
        (name, sql) for kind, name, _, sql in schema(path)
        if kind == "table" and not name.startswith("sqlite_")
    ]
    assert tables
    for name, sql in tables:
        assert sql is not None and "STRICT" in sql.upper(), f"table {name} is not STRICT"
    # STRICT refuses a text where an integer goes
    with sqlite3.connect(path) as conn, pytest.raises(sqlite3.IntegrityError):
        conn.execute(
            "INSERT INTO blocks (id, size, stored_size, created_at) VALUES (?, 'big', 1, 0)",
            (b"\x02" * 32,),
        )
    conn.close()


def test_migrated_schema_equals_the_files_applied_one_by_one(tmp_path: Path) -> None:
    migrate(tmp_path / "migrated.db")
    build_by_hand(tmp_path / "by_hand.db", len(migrations()))
    assert schema(tmp_path / "migrated.db") == schema(tmp_path / "by_hand.db")


@pytest.mark.parametrize("start", range(len(migrations())))
def test_upgrade_from_every_older_version(tmp_path: Path, start: int) -> None:
    """A database left at any older version reaches the same schema as a fresh one."""
    old = tmp_path / "old.db"
    build_by_hand(old, start)
    assert pragma(old, "user_version") == start
    assert migrate(old) == len(migrations())
    migrate(tmp_path / "fresh.db")
    assert schema(old) == schema(tmp_path / "fresh.db")


def test_an_upgrade_keeps_a_copy_of_the_old_database_and_its_data(tmp_path: Path) -> None:
    """From the first released schema: the users survive, and a consistent
    copy at the old version waits in backups/."""
    path = tmp_path / "meta.db"
    build_by_hand(path, 1)
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO users (name, password_hash, is_admin, quota_bytes,"
                     " used_bytes, root_id, created_at) VALUES ('anna', 'x', 0, 10, 0, 1, 0)")
        conn.execute("INSERT INTO nodes (owner_id, parent_id, name, kind, created_at,"
                     " modified_at) VALUES (1, NULL, '', 'folder', 0, 0)")
    conn.close()
    assert migrate(path) == len(migrations())
    [copy] = (tmp_path / "backups").iterdir()
    assert copy.name.startswith("meta-schema1-") and copy.suffix == ".db"
    assert pragma(copy, "user_version") == 1
    for db in (path, copy):
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT name FROM users").fetchall() == [("anna",)]
        conn.close()
    assert migrate(path) == len(migrations())  # nothing to do: no second copy
    assert len(list((tmp_path / "backups").iterdir())) == 1


def test_a_database_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "meta.db"
    migrate(path)
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {len(migrations()) + 1}")
    conn.close()
    before = schema(path)
    with pytest.raises(SchemaTooNew, match="newer than this selfdrive knows"):
        migrate(path)
    assert schema(path) == before


def test_backup_file_copies_a_live_database(tmp_path: Path) -> None:
    path = tmp_path / "meta.db"
    migrate(path)
    writer = sqlite3.connect(path)
    writer.execute("PRAGMA journal_mode = WAL")
    writer.execute("INSERT INTO blocks (id, size, stored_size, created_at) VALUES (?, 1, 41, 0)",
                   (b"\x01" * 32,))
    writer.commit()  # in the WAL, not yet in the main file
    backup_file(path, tmp_path / "copy.db")
    writer.close()
    with sqlite3.connect(tmp_path / "copy.db") as conn:
        assert conn.execute("SELECT count(*) FROM blocks").fetchone()[0] == 1
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    backup_file(path, tmp_path / "copy.db")  # a stopped database, and over the old copy
    assert (tmp_path / "copy.db").stat().st_mode & 0o777 == 0o600


def test_a_failing_migration_leaves_the_database_untouched(tmp_path: Path) -> None:
    path = tmp_path / "meta.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE changes (x INTEGER)")  # 0001 fails after creating others
    conn.close()
    before = schema(path)
    with pytest.raises(sqlite3.OperationalError):
        migrate(path)
    assert pragma(path, "user_version") == 0
    assert schema(path) == before


def test_statements_splits_on_complete_statements() -> None:
    sql = (
        "-- a comment; with a semicolon\n"
        "CREATE TABLE a (x TEXT DEFAULT 'a;b');\n"
        "\n"
        "CREATE TRIGGER t AFTER INSERT ON a BEGIN\n"
        "  UPDATE a SET x = 'y';\n"
        "END;\n"
        "-- trailing comment\n"
    )
    parts = _statements(sql)
    assert len(parts) == 2
    assert "'a;b'" in parts[0]
    assert parts[1].strip().startswith("CREATE TRIGGER") and parts[1].strip().endswith("END;")
    with pytest.raises(RuntimeError):
        _statements("CREATE TABLE a (x TEXT);\nCREATE TABLE b (y")


# --- Database --------------------------------------------------------------------------


class Boom(Exception):
    pass


@pytest.mark.anyio
async def test_write_commits(db: Database) -> None:
    async with db.write() as conn:
        user_id = await insert_user(conn, "alice", "hash", is_admin=True, quota_bytes=10, now=NOW)
    async with db.read() as conn:
        user = await user_by_name(conn, "alice")
    assert user is not None
    assert user.id == user_id
    assert user.is_admin is True
    assert user.root_id is not None


@pytest.mark.anyio
async def test_write_rolls_back_on_exception(db: Database) -> None:
    with pytest.raises(Boom):
        async with db.write() as conn:
            await insert_user(conn, "bob", "hash", is_admin=False, quota_bytes=10, now=NOW)
            assert await user_by_name(conn, "bob") is not None  # visible inside
            raise Boom
    async with db.read() as conn:
        assert await user_by_name(conn, "bob") is None
        async with conn.execute("SELECT count(*) FROM nodes") as cur:
            row = await cur.fetchone()
        assert row is not None and row[0] == 0  # the root folder went too
    async with db.write() as conn:  # the writer is usable again
        assert await user_by_name(conn, "bob") is None
        await insert_user(conn, "bob", "hash", is_admin=False, quota_bytes=10, now=NOW)
    async with db.read() as conn:
        assert await count_users(conn) == 1


@pytest.mark.anyio
async def test_readers_see_committed_data_in_a_snapshot(db: Database) -> None:
    async with db.read() as reader:
        assert await count_users(reader) == 0
        async with db.write() as conn:
            await insert_user(conn, "carol", "h", is_admin=False, quota_bytes=1, now=NOW)
        assert await count_users(reader) == 0  # same snapshot until the read ends
    async with db.read() as reader:
        assert await count_users(reader) == 1


@pytest.mark.anyio
async def test_every_reader_sees_the_commit(db: Database) -> None:
    async with db.write() as conn:
        await insert_user(conn, "dave", "h", is_admin=False, quota_bytes=1, now=NOW)
    for _ in range(10):  # more reads than readers: each pooled connection is used
        async with db.read() as reader:
            assert await count_users(reader) == 1


@pytest.mark.anyio
async def test_readers_are_read_only(db: Database) -> None:
    async with db.read() as reader:
        with pytest.raises(sqlite3.OperationalError):
            await reader.execute(
                "INSERT INTO users (name, password_hash, quota_bytes, created_at)"
                " VALUES ('eve', 'h', 1, 0)"
            )


@pytest.mark.anyio
async def test_foreign_keys_are_on(db: Database) -> None:
    async with db.write() as conn:
        async with conn.execute("PRAGMA foreign_keys") as cur:
            row = await cur.fetchone()
        assert row is not None and row[0] == 1
        async with conn.execute("PRAGMA synchronous") as cur:
            row = await cur.fetchone()
        assert row is not None and row[0] == 2  # FULL
    with pytest.raises(sqlite3.IntegrityError):
        async with db.write() as conn:
            await conn.execute(
                "INSERT INTO devices (user_id, name, token_hash, created_at, last_seen_at)"
                " VALUES (999, 'phone', x'00', 0, 0)"
            )
    async with db.read() as reader:
        async with reader.execute("SELECT count(*) FROM devices") as cur:
            row = await cur.fetchone()
        assert row is not None and row[0] == 0


async def _cancelled_after(steps: int, work: Callable[[], Awaitable[None]]) -> None:
    """Run *work* as a task and cancel it after *steps* turns of the loop."""
    task = asyncio.ensure_future(work())
    for _ in range(steps):
        await asyncio.sleep(0)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


@pytest.mark.anyio
async def test_a_cancelled_transaction_never_leaves_a_connection_inside_it(
    db: Database,
) -> None:
    """A request cancelled at any point of a transaction (a client that goes
    away: BEGIN queued on SQLite's thread, a query, the COMMIT) gives its
    connection back with no transaction open: the next BEGIN on it must not
    fail with "cannot start a transaction within a transaction" (seen in CI:
    one cancelled long poll, then every request of that reader failed)."""
    async with db.write() as conn:
        await insert_user(conn, "erin", "h", is_admin=False, quota_bytes=1, now=NOW)

    async def read() -> None:
        async with db.read() as reader:
            await count_users(reader)

    async def write() -> None:
        async with db.write() as conn:
            await conn.execute("UPDATE users SET quota_bytes = quota_bytes + 1")

    for steps in range(40):
        for _ in range(3):
            await _cancelled_after(steps, read)
            await _cancelled_after(steps, write)
        for _ in range(READERS):  # every reader, and the writer, still work
            await read()
        await write()
