"""Crash harness, the long run: SIGKILL a real selfdrive server N times under mixed load.

    python benchmarks/crash.py [--kills 1000] [--seed N] [--workdir DIR] [--keep]

The same harness as tests/test_crash_harness.py (tests/crash_harness.py): one
data dir for the whole run; each cycle starts `selfdrive serve`, runs uploads,
overwrites, downloads, revision restores, deletes, trash restores, purges and
background `selfdrive gc` runs from several client threads for a random time,
then SIGKILLs the server with requests in flight.  At the end every
acknowledged revision is downloaded and compared byte for byte, the grace
period is waited out, `selfdrive gc` and `selfdrive fsck` run, and meta.db is
compared with the block files.  Prints the figures; exits 1 if anything was
lost or corrupt, or the store is not clean.  Run it with the project's Python.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from _server import machine  # noqa: E402  (benchmarks/ is on sys.path: run as a script)

from tests.crash_harness import run  # noqa: E402  (needs the repository root on sys.path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kills", type=int, default=1000, help="how many SIGKILLs (default 1000)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: from the clock)")
    p.add_argument("--threads", type=int, default=3, help="client threads, one user each")
    p.add_argument("--load-min", type=float, default=0.1, help="shortest load before a kill, s")
    p.add_argument("--load-max", type=float, default=1.0, help="longest load before a kill, s")
    p.add_argument("--gc-chance", type=float, default=0.3,
                   help="chance per cycle of starting `selfdrive gc` in the background")
    p.add_argument("--server-gc-interval", type=float, default=0.5,
                   help="the server's own maintenance interval, s")
    p.add_argument("--settle", choices=["wait", "age", "none"], default="wait",
                   help="before the final gc: wait the grace period out (default), age the"
                        " block files with utime, or neither")
    p.add_argument("--workdir", type=Path, help="where the data dir goes (default: a temp dir)")
    p.add_argument("--keep", action="store_true", help="keep the data dir and server log")
    args = p.parse_args(argv)
    seed = args.seed if args.seed is not None else int(time.time())
    print(f"# Crash harness: {args.kills} kills\n\n{machine()}\n", flush=True)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="selfdrive-crash-"))
    try:
        figures = run(workdir, kills=args.kills, seed=seed, threads=args.threads,
                      load_s=(args.load_min, args.load_max), gc_chance=args.gc_chance,
                      server_gc_interval_s=args.server_gc_interval, settle_grace=args.settle)
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    if not args.keep and args.workdir is None:
        figures.server_log += " (removed with the data dir: --keep keeps both)"
    print(figures.report())
    if args.keep or args.workdir is not None:
        print(f"  data dir and server log kept in {workdir}")
    return 0 if figures.ok else 1


if __name__ == "__main__":
    sys.exit(main())
