"""Fixtures of the store's tests: a fresh metadata database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from selfdrive.store.meta.db import Database


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated meta.db in the test's own directory, closed after it."""
    database = Database(tmp_path / "meta.db")
    await database.open()
    try:
        yield database
    finally:
        await database.close()
