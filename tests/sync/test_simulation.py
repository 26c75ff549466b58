"""Whole sync clients against the real server application in one process,
seeded (tests/sync/simulation.py): random edits on disks that may fold case
and keep 2 s mtimes, injected faults, killed clients, lost databases.  Every
seed must end with every device holding the same tree and nothing a sync
took off a disk lost.  A failure names its seed; replay it with
``python -m tests.sync.simulation SEED``."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime
import logging
import multiprocessing
import os
import tempfile
from pathlib import Path

import pytest

from tests.sync.simulation import run_seed, world

QUICK = 40
SLOW = 1000
#: The slow test's seeds: a different thousand each day (CI covers new
#: stories daily; a failure names its seed, and the seed replays it).
FIRST = 100_000 + (datetime.date.today().toordinal() % 500) * SLOW


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _seeds(tmp_path: Path, seeds: range) -> None:
    failures: list[str] = []
    with tempfile.TemporaryDirectory(dir=_scratch(tmp_path)) as tmp:
        await _run(Path(tmp), seeds, failures)
    assert not failures, "\n\n".join(failures)


def _scratch(fallback: Path | None = None) -> Path | None:
    """In memory where the machine has it: the simulation is about logic, not fsync."""
    shm = Path("/dev/shm")
    return shm if shm.is_dir() else fallback


async def _run(tmp_path: Path, seeds: range, failures: list[str]) -> None:
    async with world(tmp_path) as w:
        for seed in seeds:
            try:
                await run_seed(w, seed)
            except AssertionError as exc:
                failures.append(str(exc))
                if len(failures) >= 3:
                    break


@pytest.mark.anyio
async def test_a_few_seeds(tmp_path: Path) -> None:
    await _seeds(tmp_path, range(10_000, 10_000 + QUICK))


def _worker(first: int, stop: int, step: int) -> list[str]:
    """One process's share of the seeds (a fresh server of its own)."""
    failures: list[str] = []
    logging.getLogger("selfdrive.sync").setLevel(logging.ERROR)  # conflicts are the point here

    async def go() -> None:
        with tempfile.TemporaryDirectory(dir=_scratch()) as tmp:
            await _run(Path(tmp), range(first, stop, step), failures)

    asyncio.run(go())
    return failures


@pytest.mark.slow
def test_a_thousand_seeds() -> None:
    workers = max(1, min(4, os.cpu_count() or 1))
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        parts = pool.map(_worker, [FIRST + i for i in range(workers)], [FIRST + SLOW] * workers,
                         [workers] * workers)
        failures = [f for part in parts for f in part]
    assert not failures, "\n\n".join(failures[:3])
