"""`DiskGuard`: keep a reserve of free space on the data dir's disk.

New content is refused with DiskFull (507) once writing it would leave less
than the reserve free, so the disk never fills: SQLite always has room for
its journal and for the transactions that free space (deleting, emptying the
trash), and reads go on.  Checked before an upload reads its body and before
each new block is written.
"""

from __future__ import annotations

import os
from pathlib import Path

from selfdrive.core.errors import DiskFull


class DiskGuard:
    def __init__(self, path: Path, reserve_bytes: int) -> None:
        self.path = path
        self.reserve_bytes = reserve_bytes

    def free_bytes(self) -> int:
        st = os.statvfs(self.path)
        return st.f_bavail * st.f_frsize

    def check(self, more: int = 0) -> None:
        """DiskFull unless *more* bytes can be written and the reserve kept."""
        if self.reserve_bytes <= 0:
            return
        free = self.free_bytes()
        if free - more < self.reserve_bytes:
            raise DiskFull(
                f"the server's disk is nearly full ({free} bytes free, {self.reserve_bytes}"
                " kept in reserve): new files are refused until space is freed",
                free_bytes=free,
            )
