"""Queries for WebDAV dead properties (migration 0009)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import aiosqlite

#: (namespace, local name)
Key = tuple[str, str]


async def of_nodes(
    conn: aiosqlite.Connection, node_ids: Sequence[int]
) -> dict[int, dict[Key, bytes]]:
    """The dead properties of each node (nodes without any are left out)."""
    out: dict[int, dict[Key, bytes]] = {}
    for start in range(0, len(node_ids), 500):
        batch = node_ids[start:start + 500]
        marks = ",".join("?" * len(batch))
        async with conn.execute(
            f"SELECT node_id, ns, name, value FROM dead_props WHERE node_id IN ({marks})",
            tuple(batch),
        ) as cur:
            for node_id, ns, name, value in await cur.fetchall():
                out.setdefault(int(node_id), {})[(str(ns), str(name))] = bytes(value)
    return out


async def set_many(
    conn: aiosqlite.Connection, node_id: int, values: Iterable[tuple[Key, bytes]]
) -> None:
    await conn.executemany(
        "INSERT INTO dead_props (node_id, ns, name, value) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (node_id, ns, name) DO UPDATE SET value = excluded.value",
        [(node_id, ns, name, value) for (ns, name), value in values],
    )


async def remove_many(conn: aiosqlite.Connection, node_id: int, keys: Iterable[Key]) -> None:
    await conn.executemany(
        "DELETE FROM dead_props WHERE node_id = ? AND ns = ? AND name = ?",
        [(node_id, ns, name) for ns, name in keys],
    )


async def copy(conn: aiosqlite.Connection, pairs: Iterable[tuple[int, int]]) -> None:
    """Give each new node (second) the dead properties of its source (first)."""
    await conn.executemany(
        "INSERT INTO dead_props (node_id, ns, name, value)"
        " SELECT ?, ns, name, value FROM dead_props WHERE node_id = ?",
        [(new, old) for old, new in pairs],
    )
