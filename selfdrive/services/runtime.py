"""`Runtime`: every service of one server, built from the config and opened once.

First start creates the data dir (mode 0700), the keyring, the database, and,
when no user exists, the ``admin`` user (see `ensure_admin`).  Layout:
``<data>/meta.db``, ``<data>/blocks/``, ``<data>/keys/``, ``<data>/staging/``,
``<data>/thumbnails/`` (a sealed cache, store/thumbcache.py), ``<data>/backup-work/``
(snapshots on their way to the backup bucket, services/backup.py).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from selfdrive.config import Config, Secrets
from selfdrive.core.clock import Clock, SystemClock
from selfdrive.services import retention
from selfdrive.services.activity import ActivityService
from selfdrive.services.admin import AdminService
from selfdrive.services.auth import AuthService
from selfdrive.services.backup import SNAPSHOT_KEY_PURPOSE, BackupService
from selfdrive.services.backup_read import Source
from selfdrive.services.backup_targets import Target, backup_settings, s3_targets
from selfdrive.services.blocks import BlockService
from selfdrive.services.bucket_gc import BucketGc
from selfdrive.services.changes import ChangeFeed, FeedSettings
from selfdrive.services.coldtier import ColdTier, open_cold_tier
from selfdrive.services.files import FileService, Limits
from selfdrive.services.foldersize import FolderSizes
from selfdrive.services.fsck import FsckService
from selfdrive.services.junk import JunkService, JunkSettings
from selfdrive.services.links import LinkService
from selfdrive.services.listing import TreeLister
from selfdrive.services.locks import LockManager
from selfdrive.services.maintenance import Maintenance, Settings
from selfdrive.services.notifications import NotificationService
from selfdrive.services.props import PropService
from selfdrive.services.search import SearchService
from selfdrive.services.sessions import SessionService
from selfdrive.services.shares import ShareService
from selfdrive.services.thumbnails import ThumbnailService, ThumbnailSettings
from selfdrive.services.trash import TrashService
from selfdrive.services.uploads import UploadLimits, UploadService
from selfdrive.services.zips import ZipService
from selfdrive.store.blockstore import BlockStore
from selfdrive.store.codec import CIPHER_NAMES, BlockCodec
from selfdrive.store.content import ContentStore
from selfdrive.store.diskspace import DiskGuard
from selfdrive.store.keys import cpu_has_aes, derived_key, load_keyring
from selfdrive.store.local import LocalBlockStore
from selfdrive.store.meta.db import Database, migrate
from selfdrive.store.meta.stats import StoreStatsCache
from selfdrive.store.s3 import S3Bucket
from selfdrive.store.staging import Staging
from selfdrive.store.thumbcache import ThumbnailCache


@dataclass
class Runtime:
    config: Config
    clock: Clock
    db: Database
    blockstore: BlockStore
    content: ContentStore
    auth: AuthService
    sessions: SessionService
    files: FileService
    listing: TreeLister
    sizes: FolderSizes
    blocks: BlockService
    trash: TrashService
    maintenance: Maintenance
    fsck: FsckService
    uploads: UploadService
    changes: ChangeFeed
    shares: ShareService
    notifications: NotificationService
    activity: ActivityService
    links: LinkService
    props: PropService
    locks: LockManager
    junk: JunkService
    thumbnails: ThumbnailService
    search: SearchService
    zips: ZipService
    backup: BackupService
    cold: ColdTier
    bucket_gc: BucketGc
    admin: AdminService
    #: the store's totals, shared by the metrics and the admin page's status
    store_stats: StoreStatsCache

    async def close(self) -> None:
        await self.uploads.close()
        await self.cold.close()
        await self.db.close()
        await self.blockstore.close()


def prepare_data_dir(data: Path) -> None:
    """Create the data dir and its folders, private to this user."""
    data.mkdir(mode=0o700, parents=True, exist_ok=True)
    for sub in ("blocks", "staging", "keys"):
        (data / sub).mkdir(mode=0o700, exist_ok=True)
    migrate(data / "meta.db")


def cipher_id(config: Config) -> int:
    name = config.storage.cipher
    if name == "auto":
        name = "aes-256-gcm" if cpu_has_aes() else "chacha20-poly1305"
    return CIPHER_NAMES[name]


async def open_runtime(
    config: Config, secrets_: Secrets, *, clock: Clock | None = None,
    blockstore: BlockStore | None = None,
) -> Runtime:
    data = config.data_path
    prepare_data_dir(data)
    keyring = load_keyring(data / "keys", secrets_.key_passphrase)
    codec = BlockCodec(
        keyring.keys, keyring.current_id, cipher_id(config),
        compression_level=config.storage.compression_level,
    )
    store = blockstore or LocalBlockStore(data / "blocks", max_threads=config.storage.io_threads)
    content = ContentStore(store, codec, cpu_threads=config.storage.cpu_threads,
                           guard=DiskGuard(data, config.storage.reserve_bytes))
    db = Database(data / "meta.db")
    await db.open()
    clock = clock or SystemClock()
    m, r = config.maintenance, config.retention
    limits = Limits(
        max_file_bytes=config.limits.max_file_bytes, upload_expiry_ms=m.upload_expiry_s * 1000,
        pin_after_s=min(15.0, m.gc_grace_s / 4),
    )
    files = FileService(db, content, clock, limits)
    trash = TrashService(db, files, clock)
    staging = Staging(data / "staging", codec)
    changes = ChangeFeed(db, clock, FeedSettings(
        max_waiters=config.limits.max_waiters, retention_ms=m.journal_retention_s * 1000,
    ))
    await changes.start()
    uploads = UploadService(
        db, files, content, staging, clock,
        UploadLimits(
            expiry_ms=m.upload_expiry_s * 1000,
            max_open=config.limits.max_open_uploads,
            max_staging_bytes=config.limits.max_staging_bytes,
        ),
    )
    settings = Settings(
        interval_s=m.interval_s, gc_grace_ms=m.gc_grace_s * 1000,
        trash_retention_ms=m.trash_retention_s * 1000,
        uploaded_block_ttl_ms=m.uploaded_block_ttl_s * 1000,
        policy=retention.Policy(
            keep_all_ms=r.keep_all_s * 1000, hourly_ms=r.hourly_s * 1000,
            daily_ms=r.daily_s * 1000, max_revisions=r.max_revisions,
        ),
    )
    auth = AuthService(db, clock)
    links = LinkService(db, files, auth, clock, derived_key(keyring, "link grants"))
    search = SearchService(files)
    await search.fold_missing()  # rows from before migration 0011
    t = config.thumbnails
    thumbnails = ThumbnailService(
        files,
        ThumbnailCache(data / "thumbnails", derived_key(keyring, "thumbnail cache"),
                       derived_key(keyring, "thumbnail names"), max_bytes=t.cache_bytes,
                       guard=DiskGuard(data, config.storage.reserve_bytes)),
        ThumbnailSettings(max_source_bytes=t.max_source_bytes, max_pixels=t.max_pixels),
    )
    backup = BackupService(
        db, store, [Target(name, S3Bucket(target)) for name, target in s3_targets(config.backup)],
        derived_key(keyring, SNAPSHOT_KEY_PURPOSE), clock, backup_settings(config.backup),
        data / "backup-work", users_activity=lambda: content.blocks_received,
    )
    # the cold tier (docs/backup.md): reads of tiered blocks go through it
    sources = [Source(t.name, t.bucket) for t in backup.targets]
    cold = open_cold_tier(config.backup, db, store, content, sources, clock)
    bucket_gc = BucketGc(db, sources, clock,
                         grace_ms=int(config.backup.bucket_gc_grace_days * 86400 * 1000),
                         interval_s=config.backup.bucket_gc_interval_s)
    maintenance = Maintenance(db, store, trash, clock, settings, staging, changes)
    store_stats = StoreStatsCache(db, clock)
    admin = AdminService(db, auth, changes, maintenance, backup, clock, data, store_stats,
                         config.storage.reserve_bytes, config.limits.default_quota_bytes)
    return Runtime(
        config=config, clock=clock, db=db, blockstore=store, content=content,
        auth=auth, sessions=SessionService(db, clock, auth), links=links, files=files,
        listing=TreeLister(files), sizes=FolderSizes(files),
        blocks=BlockService(db, content, clock),
        trash=trash, maintenance=maintenance,
        fsck=FsckService(db, content, cold), uploads=uploads, changes=changes,
        shares=ShareService(db, files, clock), notifications=NotificationService(db, clock),
        activity=ActivityService(db, files),
        props=PropService(db, files), locks=LockManager(clock),
        junk=JunkService(db, files, clock, derived_key(keyring, "webdav side files"),
                         JunkSettings(patterns=config.webdav.junk,
                                      max_file_bytes=config.webdav.max_junk_file_bytes)),
        thumbnails=thumbnails, search=search, zips=ZipService(files), backup=backup,
        cold=cold, bucket_gc=bucket_gc,
        admin=admin, store_stats=store_stats,
    )


async def ensure_admin(runtime: Runtime, secrets_: Secrets) -> str | None:
    """Create ``admin`` if there is no user yet.

    Returns the generated password when SELFDRIVE_ADMIN_PASSWORD was not set
    (the caller prints it once), else None.
    """
    if await runtime.auth.count_users() > 0:
        return None
    password = secrets_.admin_password or secrets.token_urlsafe(12)
    await runtime.auth.create_user(
        "admin", password, is_admin=True, quota_bytes=runtime.config.limits.default_quota_bytes
    )
    return None if secrets_.admin_password else password

