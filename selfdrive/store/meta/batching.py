"""`in_batches`: split a long id list for `WHERE x IN (?, ?, ...)` queries.

SQLite limits the number of parameters of one statement; every query that
takes a caller's list of ids goes through this, 500 at a time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")
BATCH = 500


def in_batches(items: Sequence[T], size: int = BATCH) -> Iterator[tuple[list[T], str]]:
    """(batch, "?,?,...") pairs covering *items* in order."""
    for start in range(0, len(items), size):
        batch = list(items[start : start + size])
        yield batch, ",".join("?" * len(batch))
