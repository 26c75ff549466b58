"""An S3 bucket as a block store, and the bucket's few other objects.

`S3Bucket` is a bucket (under an optional prefix) reached through obstore: it
puts, gets, lists, copies and deletes named objects, maps the library's
exceptions into selfdrive's tree (`StorageError`, `BlockNotFound`) and checks
content both ways: every put sends ``x-amz-checksum-sha256`` (the server
refuses a body that does not match it) and records the SHA-256 as the
object's metadata ``x-amz-meta-sha256``; every get of a whole object
recomputes it and refuses a mismatch.

`S3BlockStore` keeps sealed blocks at ``blocks/ab/cd/<hex id>`` of a bucket
and implements the BlockStore Protocol (selfdrive/store/blockstore.py), so it
passes the same conformance suite as the local directory.  What differs:

- ``mtime`` is the object's LastModified, which S3 keeps to the second
  (`MTIME_RESOLUTION_S`); `collect` rounds it up, so a block touched in the
  same second as *idle_since* is kept.
- `touch` copies the object aside and back on the server (S3 refuses to copy
  an object onto itself unchanged); no byte goes through this process.  A
  crash between the two copies leaves a ``.touch-`` object that `scan` skips
  and `remove_leftovers` deletes.
- `collect` reads LastModified and then deletes: a touch in the one round
  trip between the two is not seen.  Nothing deletes from a backup bucket in
  this version (docs/backup.md); keep it in mind before using this store as
  the primary one behind a garbage collector.

Why obstore (measured on this project's machine against moto's server, 64
blocks of 1 MiB, 8 at a time; docs/backup.md): puts at 31-44 MB/s against
aiobotocore's 17-29, gets at 33-65 against 15-19 (moto itself is the
ceiling); 10 MB of resident memory for the client against 50 MB for
aiobotocore with botocore (idle selfdrive is 56 MB on a Raspberry Pi);
import in no time against 0.9 s; request signing, SHA-256 and multipart run
in Rust threads, off the event loop; retries with exponential backoff and
jitter on throttling (503 SlowDown, 429), on 5xx and on broken connections
are built in (`RetryConfig`); typed stubs for mypy --strict.  It sets an
object's storage class on upload (the ``Storage-Class`` attribute: the cold
tier's GLACIER or DEEP_ARCHIVE), but cannot send RestoreObject nor read the
``x-amz-restore`` header: store/s3_archive.py does those two calls.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
import obstore
from obstore.exceptions import BaseError
from obstore.store import S3Store

from selfdrive.core.errors import BlockNotFound, ObjectArchived, StorageError
from selfdrive.store.blockstore import StoredBlock

if TYPE_CHECKING:
    from obstore import Attributes

#: S3 keeps LastModified to the second
MTIME_RESOLUTION_S = 1.0
BLOCKS = "blocks/"
TOUCH_MARK = ".touch-"
SHA256_META = "sha256"
#: hashing a body smaller than this stays on the event loop (it takes microseconds)
THREAD_HASH_BYTES = 256 * 1024


@dataclass(frozen=True)
class S3Target:
    """Where a bucket is and how to sign in to it ([backup] in the config)."""

    bucket: str
    endpoint_url: str = ""
    region: str = ""
    prefix: str = ""
    access_key_id: str = ""
    secret_access_key: str = ""
    #: requests in flight at once through one `S3Bucket`
    max_in_flight: int = 8
    #: tries of one request after the first, with backoff and jitter (obstore)
    max_retries: int = 5
    #: the whole of one request's tries stops after this long
    retry_timeout_s: float = 60.0
    connect_timeout_s: float = 5.0
    request_timeout_s: float = 60.0

    def describe(self) -> str:
        where = self.endpoint_url or "AWS S3"
        return f"s3://{self.bucket}/{self.prefix.strip('/')} at {where}".replace("/ at", " at")

    @property
    def location(self) -> str:
        """What names the bucket and the folder in it (not how we sign in):
        the backup queue's progress belongs to it (store/meta/backup.py)."""
        return f"{self.endpoint_url or 'aws'}/{self.bucket}/{self.prefix.strip('/')}"


@dataclass(frozen=True)
class ObjectInfo:
    name: str
    size: int
    #: LastModified, seconds since the epoch
    mtime: float


@dataclass(frozen=True)
class ObjectStat:
    """What a HEAD request tells of an object."""

    size: int
    #: the SHA-256 recorded as the object's metadata at upload (hex), None if none was
    sha256: str | None


class S3Bucket:
    def __init__(self, target: S3Target) -> None:
        self.target = target
        self._limit = anyio.CapacityLimiter(target.max_in_flight)
        options: dict[str, Any] = {}
        if target.endpoint_url:
            # Self-hosted servers (MinIO, Garage, Ceph) answer path-style
            # requests; AWS wants virtual-hosted ones (obstore's default).
            options["endpoint"] = target.endpoint_url
            options["virtual_hosted_style_request"] = False
            options["allow_http"] = target.endpoint_url.startswith("http://")
        if target.access_key_id:
            options["access_key_id"] = target.access_key_id
            options["secret_access_key"] = target.secret_access_key
        self.store = S3Store(
            target.bucket,
            prefix=target.prefix.strip("/") or None,
            region=target.region or "us-east-1",
            checksum_algorithm="sha256",
            client_options={"connect_timeout": f"{target.connect_timeout_s}s",
                            "timeout": f"{target.request_timeout_s}s"},
            retry_config={
                "max_retries": target.max_retries,
                "backoff": {"init_backoff": timedelta(milliseconds=100),
                            "max_backoff": timedelta(seconds=15), "base": 2},
                "retry_timeout": timedelta(seconds=target.retry_timeout_s),
            },
            **options,
        )

    def _error(self, exc: Exception, what: str) -> StorageError:
        text = str(exc).split("\n\nDebug source", 1)[0].strip()
        code = re.search(r"<Code>([^<]{1,64})</Code>", text)
        status = re.search(r"status code: (\d{3}[^:<]*)", text)
        retries = re.search(r"after (\d+) retries", text)
        if "NoSuchBucket" in text:
            text = f"the bucket {self.target.bucket!r} does not exist"
        elif code or status:
            text = " ".join(filter(None, (status and status[1].strip(), code and code[1])))
            text += f" (after {retries[1]} retries)" if retries else ""
        elif len(text) > 300:
            text = text[:297] + "..."
        return StorageError(f"S3 {what} failed ({self.target.describe()}): {text}")

    async def put(self, name: str, data: bytes, storage_class: str = "") -> None:
        """Upload *data*; *storage_class* ('' the bucket's default) is S3's
        x-amz-storage-class (the cold tier's GLACIER, DEEP_ARCHIVE...)."""
        digest = await _sha256(data)
        attributes: Attributes = {SHA256_META: digest.hex()}
        if storage_class:
            attributes["Storage-Class"] = storage_class
        async with self._limit:
            try:
                await obstore.put_async(self.store, name, data, attributes=attributes)
            except (BaseError, OSError) as exc:
                raise self._error(exc, f"put of {name}") from None

    async def put_file(self, name: str, path: Path, sha256: bytes) -> None:
        """Upload a file (multipart when big: parts in parallel, a few MiB each
        in memory); *sha256* is its digest, recorded as the object's metadata."""
        attributes: Attributes = {SHA256_META: sha256.hex()}
        async with self._limit:
            try:
                await obstore.put_async(self.store, name, path, attributes=attributes,
                                        chunk_size=8 * 1024 * 1024, max_concurrency=4)
            except (BaseError, OSError) as exc:
                raise self._error(exc, f"upload of {name}") from None

    async def get(self, name: str) -> bytes:
        """The object's bytes, checked against its recorded SHA-256;
        FileNotFoundError if there is no such object, ObjectArchived if its
        storage class needs a restore first (GLACIER, DEEP_ARCHIVE)."""
        async with self._limit:
            try:
                result = await obstore.get_async(self.store, name)
                data = bytes(await result.bytes_async())
            except FileNotFoundError:
                if await self._bucket_missing():
                    raise StorageError(f"S3 get of {name} failed: the bucket"
                                       f" {self.target.bucket!r} does not exist") from None
                raise
            except (BaseError, OSError) as exc:
                if "<Code>InvalidObjectState</Code>" in str(exc):
                    raise ObjectArchived(f"{name} in {self.target.describe()} is archived"
                                         " and not restored") from None
                raise self._error(exc, f"get of {name}") from None
        expected = result.attributes.get(SHA256_META)
        if expected is not None and (await _sha256(data)).hex() != expected:
            raise StorageError(f"S3 object {name} does not match its SHA-256: damaged in the"
                               " bucket or on the way")
        return data

    async def get_to_file(self, name: str, path: Path) -> int:
        """Stream an object to *path* (a chunk at a time), checking its SHA-256;
        returns its size.  FileNotFoundError if there is no such object."""
        digest = hashlib.sha256()
        size = 0
        async with self._limit:
            try:
                result = await obstore.get_async(self.store, name)
                expected = result.attributes.get(SHA256_META)
                with path.open("wb") as out:
                    async for chunk in result:
                        view = memoryview(chunk)
                        digest.update(view)
                        out.write(view)
                        size += len(view)
            except FileNotFoundError:
                raise
            except (BaseError, OSError) as exc:
                raise self._error(exc, f"download of {name}") from None
        if expected is not None and digest.hexdigest() != expected:
            raise StorageError(f"S3 object {name} does not match its SHA-256")
        return size

    async def head(self, name: str) -> ObjectInfo | None:
        async with self._limit:
            try:
                meta = await obstore.head_async(self.store, name)
            except FileNotFoundError:
                return None
            except (BaseError, OSError) as exc:
                raise self._error(exc, f"head of {name}") from None
        return ObjectInfo(name, meta["size"], meta["last_modified"].timestamp())

    async def stat(self, name: str) -> ObjectStat | None:
        """Size and recorded SHA-256 of an object from one HEAD request (no
        body is sent); None if there is no such object."""
        async with self._limit:
            try:
                result = await obstore.get_async(self.store, name, options={"head": True})
            except FileNotFoundError:
                return None
            except (BaseError, OSError) as exc:
                raise self._error(exc, f"head of {name}") from None
        sha = result.attributes.get(SHA256_META)
        return ObjectStat(result.meta["size"], sha if isinstance(sha, str) else None)

    async def copy(self, source: str, target: str) -> None:
        async with self._limit:
            try:
                await obstore.copy_async(self.store, source, target)
            except (BaseError, OSError) as exc:
                raise self._error(exc, f"copy of {source}") from None

    async def delete(self, name: str) -> None:
        async with self._limit:
            try:
                await obstore.delete_async(self.store, name)
            except FileNotFoundError:
                return
            except (BaseError, OSError) as exc:
                raise self._error(exc, f"delete of {name}") from None

    async def listing(self, prefix: str) -> AsyncIterator[ObjectInfo]:
        """Every object whose name starts with *prefix*, a page at a time."""
        try:
            async for page in obstore.list(self.store, prefix, chunk_size=1000):
                for meta in page:
                    yield ObjectInfo(meta["path"], meta["size"],
                                     meta["last_modified"].timestamp())
        except FileNotFoundError:
            raise StorageError(f"S3 listing failed: the bucket {self.target.bucket!r}"
                               " does not exist") from None
        except (BaseError, OSError) as exc:
            raise self._error(exc, f"listing of {prefix}") from None

    async def _bucket_missing(self) -> bool:
        try:
            await obstore.list_with_delimiter_async(self.store, "blocks/")
        except FileNotFoundError:
            return True
        except (BaseError, OSError):
            return False
        return False

    async def check(self) -> None:
        """Raise StorageError unless the bucket answers a listing."""
        try:
            await obstore.list_with_delimiter_async(self.store, "snapshots/")
        except FileNotFoundError:
            raise StorageError(f"the bucket {self.target.bucket!r} does not exist"
                               f" ({self.target.describe()})") from None
        except (BaseError, OSError) as exc:
            raise self._error(exc, "listing") from None


def block_name(block_id: bytes) -> str:
    h = block_id.hex()
    return f"{BLOCKS}{h[0:2]}/{h[2:4]}/{h}"


def _block_id(name: str) -> bytes | None:
    leaf = name.rsplit("/", 1)[-1]
    if len(leaf) != 64:
        return None  # .touch- leftovers and anything else a person put there
    try:
        return bytes.fromhex(leaf)
    except ValueError:
        return None


class S3BlockStore:
    """Sealed blocks in an S3 bucket; see the module docstring."""

    mtime_resolution_s = MTIME_RESOLUTION_S

    def __init__(self, bucket: S3Bucket) -> None:
        self.bucket = bucket

    async def put(self, block_id: bytes, sealed: bytes | bytearray) -> None:
        # A copy: the caller may reuse its buffer while the upload is retried.
        await self.bucket.put(block_name(block_id), bytes(sealed))

    async def get(self, block_id: bytes) -> bytes:
        try:
            return await self.bucket.get(block_name(block_id))
        except FileNotFoundError:
            raise BlockNotFound(f"block {block_id.hex()} is not in the bucket") from None

    async def exists(self, block_id: bytes) -> bool:
        return await self.bucket.head(block_name(block_id)) is not None

    async def touch(self, block_id: bytes) -> int | None:
        name = block_name(block_id)
        found = await self.bucket.head(name)
        if found is None:
            return None
        aside = name + TOUCH_MARK + secrets.token_hex(4)
        try:
            await self.bucket.copy(name, aside)
        except StorageError:
            if await self.bucket.head(name) is None:
                return None  # deleted meanwhile
            raise
        await self.bucket.copy(aside, name)  # a new LastModified, same bytes and metadata
        await self.bucket.delete(aside)
        return found.size

    async def delete(self, block_id: bytes) -> None:
        await self.bucket.delete(block_name(block_id))

    async def collect(self, block_id: bytes, idle_since: float) -> bool:
        found = await self.bucket.head(block_name(block_id))
        if found is None:
            return True
        if found.mtime + MTIME_RESOLUTION_S >= idle_since:
            return False
        await self.bucket.delete(block_name(block_id))
        return True

    async def scan(self) -> AsyncIterator[StoredBlock]:
        async for info in self.bucket.listing(BLOCKS):
            block_id = _block_id(info.name)
            if block_id is not None:
                yield StoredBlock(id=block_id, stored_size=info.size, mtime=info.mtime)

    async def remove_leftovers(self, idle_since: float) -> int:
        stray = [info.name async for info in self.bucket.listing(BLOCKS)
                 if TOUCH_MARK in info.name and info.mtime < idle_since]
        for name in stray:
            await self.bucket.delete(name)
        return len(stray)

    async def close(self) -> None:
        return None


async def _sha256(data: bytes) -> bytes:
    if len(data) < THREAD_HASH_BYTES:
        return hashlib.sha256(data).digest()
    return await anyio.to_thread.run_sync(lambda: hashlib.sha256(data).digest())
