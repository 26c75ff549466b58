"""The backup's buckets: which ones the config names ([backup] and
[backup.replica]), how each is reached, and how tries to reach it are going
(failures, backoff); the settings of the loop; what `selfdrive backup
status` and /metrics are told (services/backup.py does the copying)."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from selfdrive.config import BackupConfig, ReplicaConfig
from selfdrive.store.meta import backup as q
from selfdrive.store.s3 import S3Bucket, S3Target

#: the first wait after a failure (seconds), doubled up to max_backoff_s
FIRST_BACKOFF_S = 1.0


@dataclass(frozen=True)
class BackupSettings:
    snapshot_interval_s: float = 3600.0
    snapshot_after_changes: int = 1000
    keep_snapshots: int = 7
    parallel_uploads: int = 8
    max_backoff_s: float = 300.0


@dataclass(frozen=True)
class TargetStatus:
    name: str
    where: str
    pending: q.Pending
    state: q.TargetState | None


@dataclass(frozen=True)
class Status:
    configured: bool
    targets: list[TargetStatus]
    state: q.State

    @property
    def pending_blocks(self) -> int:
        return sum(t.pending.blocks for t in self.targets)


@dataclass
class Target:
    """A bucket blocks go to, and how tries to reach it are going (in this
    process: the figures of /metrics and the loop's backoff)."""

    name: str
    bucket: S3Bucket
    healthy: bool = True
    failures_in_a_row: int = 0
    #: time.monotonic() before which the loop leaves this target alone
    retry_at: float = 0.0
    uploaded_blocks: int = 0
    uploaded_bytes: int = 0
    failures: int = 0

    def failed(self, max_backoff_s: float) -> float:
        """Note a failure; returns the wait before the next try (with jitter:
        many servers do not retry in step)."""
        self.healthy = False
        self.failures_in_a_row += 1
        wait = min(max_backoff_s, FIRST_BACKOFF_S * 2.0 ** (self.failures_in_a_row - 1))
        wait *= random.uniform(0.5, 1.0)
        self.retry_at = time.monotonic() + wait
        return wait

    def worked(self) -> None:
        self.healthy = True
        self.failures_in_a_row = 0
        self.retry_at = 0.0


def _target(b: BackupConfig | ReplicaConfig, parallel: int, max_backoff_s: float) -> S3Target:
    return S3Target(
        bucket=b.bucket, endpoint_url=b.endpoint_url, region=b.region, prefix=b.prefix,
        access_key_id=b.access_key_id, secret_access_key=b.secret_access_key,
        max_in_flight=parallel,
        # one request's own retries (obstore) stop within the loop's longest wait
        retry_timeout_s=min(60.0, max(2.0, max_backoff_s)),
    )


def s3_targets(b: BackupConfig) -> list[tuple[str, S3Target]]:
    """The buckets [backup] and [backup.replica] name, primary first; [] when
    backup is off (no bucket)."""
    if not b.bucket:
        return []
    out = [(q.PRIMARY, _target(b, b.parallel_uploads, b.max_backoff_s))]
    if b.replica.bucket:
        out.append((q.REPLICA, _target(b.replica, b.parallel_uploads, b.max_backoff_s)))
    return out


def backup_settings(b: BackupConfig) -> BackupSettings:
    return BackupSettings(
        snapshot_interval_s=b.snapshot_interval_s, snapshot_after_changes=b.snapshot_after_changes,
        keep_snapshots=b.keep_snapshots, parallel_uploads=b.parallel_uploads,
        max_backoff_s=b.max_backoff_s)
