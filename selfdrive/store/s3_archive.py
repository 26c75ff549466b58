"""The two S3 calls of the cold tier that obstore lacks: RestoreObject, and a
HEAD that reads ``x-amz-restore`` (is a restored copy of an archived object
ready, and until when).

Why not obstore or aiobotocore: obstore (Rust's object_store) uploads with a
storage class but has no RestoreObject and does not expose the
``x-amz-restore`` header; aiobotocore would add 50 MB of memory and a second
S3 client for two rare calls.  Instead botocore's own SigV4 signer (the one
every AWS SDK for Python uses, kept by AWS) signs a request that httpx (the
HTTP client selfdrive already has) sends.  botocore is imported only when an
archive class is configured (``pip install 'selfdrive[cold]'``).

Terms: an *archive class* is a storage class whose objects cannot be read
until restored (`ARCHIVE_CLASSES`); a *restore* makes a temporary readable
copy for ``days`` days, ready after minutes to hours depending on the *tier*
(Expedited, Standard, Bulk).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import httpx

from selfdrive.core.errors import StorageError
from selfdrive.store.s3 import S3Target

#: storage classes that need a RestoreObject before a GET (S3's names)
ARCHIVE_CLASSES = frozenset({"GLACIER", "DEEP_ARCHIVE"})
#: how long a restore takes at most, per (class, tier), in seconds (AWS's figures)
RESTORE_TIME_S = {
    ("GLACIER", "Expedited"): 5 * 60, ("GLACIER", "Standard"): 5 * 3600,
    ("GLACIER", "Bulk"): 12 * 3600, ("DEEP_ARCHIVE", "Standard"): 12 * 3600,
    ("DEEP_ARCHIVE", "Bulk"): 48 * 3600, ("DEEP_ARCHIVE", "Expedited"): 12 * 3600,
}
TIERS = ("Expedited", "Standard", "Bulk")


def restore_time_s(storage_class: str, tier: str) -> int:
    return RESTORE_TIME_S.get((storage_class, tier), 12 * 3600)


def signer_available() -> bool:
    try:
        import botocore.auth  # type: ignore[import-untyped]  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass(frozen=True)
class RestoreState:
    """What a HEAD tells of an object's restore."""

    storage_class: str
    #: True: under way; False: done (readable until `expiry_ms`); None: never asked
    ongoing: bool | None
    expiry_ms: int | None = None


class S3Archive:
    """RestoreObject and restore status for one bucket (an `S3Target`)."""

    def __init__(self, target: S3Target, client: httpx.AsyncClient | None = None) -> None:
        self.target = target
        self._client = client or httpx.AsyncClient(timeout=target.request_timeout_s)

    def _url(self, name: str) -> str:
        prefix = self.target.prefix.strip("/")
        key = quote(f"{prefix}/{name}" if prefix else name, safe="/-_.~")
        if self.target.endpoint_url:
            return f"{self.target.endpoint_url.rstrip('/')}/{self.target.bucket}/{key}"
        region = self.target.region or "us-east-1"
        return f"https://{self.target.bucket}.s3.{region}.amazonaws.com/{key}"

    async def _send(self, method: str, url: str, body: bytes = b"") -> httpx.Response:
        headers = _signed_headers(self.target, method, url, body)
        try:
            return await self._client.request(method, url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise StorageError(f"S3 {method} of {url} failed ({self.target.describe()}):"
                               f" {exc}") from None

    async def state(self, name: str) -> RestoreState | None:
        """The object's storage class and restore state; None if there is no such object."""
        response = await self._send("HEAD", self._url(name))
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise StorageError(f"S3 HEAD of {name} failed ({self.target.describe()}):"
                               f" status {response.status_code}")
        storage_class = response.headers.get("x-amz-storage-class", "STANDARD")
        header = response.headers.get("x-amz-restore")
        if header is None:
            return RestoreState(storage_class, None)
        if 'ongoing-request="true"' in header:
            return RestoreState(storage_class, True)
        expiry = re.search(r'expiry-date="([^"]+)"', header)
        expiry_ms = None
        if expiry:
            try:
                expiry_ms = int(parsedate_to_datetime(expiry[1]).timestamp() * 1000)
            except (TypeError, ValueError):
                expiry_ms = None
        return RestoreState(storage_class, False, expiry_ms)

    async def request_restore(self, name: str, days: int, tier: str) -> None:
        """Ask the bucket for a readable copy for *days* days (S3 RestoreObject).
        A restore already under way or done is not an error."""
        body = (f'<RestoreRequest xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Days>{days}'
                f"</Days><GlacierJobParameters><Tier>{tier}</Tier></GlacierJobParameters>"
                "</RestoreRequest>").encode()
        response = await self._send("POST", self._url(name) + "?restore", body)
        if response.status_code in (200, 202):
            return
        code = re.search(r"<Code>([^<]{1,64})</Code>", response.text)
        if code and code[1] == "RestoreAlreadyInProgress":
            return
        if response.status_code == 404:
            raise FileNotFoundError(name)
        raise StorageError(f"S3 RestoreObject of {name} failed ({self.target.describe()}):"
                           f" status {response.status_code} {code[1] if code else ''}".strip())

    async def close(self) -> None:
        await self._client.aclose()


def _signed_headers(target: S3Target, method: str, url: str, body: bytes) -> dict[str, str]:
    """SigV4 headers for one request (botocore's signer; credentials from the
    target, else the usual AWS environment and files, as obstore does)."""
    import botocore.auth
    import botocore.awsrequest  # type: ignore[import-untyped]
    import botocore.credentials  # type: ignore[import-untyped]
    import botocore.session  # type: ignore[import-untyped]

    credentials: Any
    if target.access_key_id:
        credentials = botocore.credentials.Credentials(target.access_key_id,
                                                       target.secret_access_key)
    else:
        credentials = botocore.session.get_session().get_credentials()
        if credentials is None:
            raise StorageError("no AWS credentials for the cold tier's restore requests")
    request = botocore.awsrequest.AWSRequest(method=method, url=url, data=body)
    botocore.auth.S3SigV4Auth(credentials, "s3", target.region or "us-east-1").add_auth(request)
    return {k: str(v) for k, v in request.headers.items()}
