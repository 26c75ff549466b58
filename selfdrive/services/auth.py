"""Users, passwords and device tokens.

Terms: a *principal* is who is asking (user and device).  A *device token*
is a random bearer secret given once to a device; the server keeps only its
SHA-256, so a stolen database reveals no usable token.  Passwords are hashed
with Argon2id (memory-hard), off the event loop.  Wrong passwords are
counted per username (services/attempts.py): after MAX_FAILURES in
FAILURE_WINDOW_S, sign-in answers 429 for that name until the window moves.
A *disabled* user (``users.disabled_at``, set by an administrator:
services/admin.py) is refused by every way in: the right password gets 403,
a token or session 401.
"""

from __future__ import annotations

import functools
import hashlib
import secrets

import anyio
import anyio.to_thread
import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from selfdrive.core.clock import Clock
from selfdrive.core.errors import AlreadyExists, BadRequest, Forbidden, NotFound, Unauthenticated
from selfdrive.services.attempts import Attempts
from selfdrive.store.meta import users as q
from selfdrive.store.meta.db import Database
from selfdrive.store.meta.records import Device, User

TOKEN_PREFIX = "sdt_"
#: update a device's last-seen time at most this often (ms), to spare writes
LAST_SEEN_EVERY_MS = 5 * 60 * 1000
MAX_USERNAME = 64
MAX_DEVICE_NAME = 128
MAX_PASSWORD = 1024
#: wrong passwords per username allowed in the window, before sign-in says 429
MAX_FAILURES = 10
FAILURE_WINDOW_S = 15 * 60

_hasher = PasswordHasher()  # Argon2id with the library's current recommended cost


@functools.cache
def _dummy_hash() -> str:
    """A real hash to verify against when the user does not exist, so a wrong
    username costs as much time as a wrong password (made on first use: it
    costs 150 ms, which every CLI run would pay at import)."""
    return _hasher.hash(secrets.token_hex(16))


class Principal(msgspec.Struct, frozen=True):
    user_id: int
    username: str
    is_admin: bool
    device_id: int | None
    device_name: str | None
    #: how the caller signed in: "device" (a bearer token, or WebDAV's
    #: password) or "web" (a browser's session cookie, services/sessions.py)
    kind: str = "device"


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def check_username(name: str) -> str:
    if not (1 <= len(name) <= MAX_USERNAME) or not all(
        c.isalnum() or c in "._-" for c in name
    ) or name[0] in ".-":
        raise BadRequest(
            "a username is 1-64 letters, digits, '.', '_' or '-', not starting with '.' or '-'"
        )
    return name


class AuthService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self._limiter = anyio.CapacityLimiter(2)
        self.attempts = Attempts(clock, MAX_FAILURES, FAILURE_WINDOW_S, "this account")

    async def hash_password(self, password: str) -> str:
        if len(password) < 8:
            raise BadRequest("a password needs at least 8 characters")
        if len(password) > MAX_PASSWORD:
            raise BadRequest(f"a password has at most {MAX_PASSWORD} characters")
        return await anyio.to_thread.run_sync(_hasher.hash, password, limiter=self._limiter)

    async def _verify(self, password_hash: str, password: str) -> bool:
        def verify() -> bool:
            try:
                return _hasher.verify(password_hash, password)
            except (VerificationError, InvalidHashError):
                return False

        return await anyio.to_thread.run_sync(verify, limiter=self._limiter)

    async def verify_password(self, password_hash: str, password: str) -> bool:
        """True if *password* matches an Argon2id hash made by `hash_password`
        (public links keep their passwords this way too)."""
        return await self._verify(password_hash, password)

    async def create_user(
        self, name: str, password: str, *, is_admin: bool = False, quota_bytes: int
    ) -> User:
        check_username(name)
        password_hash = await self.hash_password(password)
        async with self.db.write() as conn:
            if await q.user_by_name(conn, name) is not None:
                raise AlreadyExists(f"user {name!r} already exists")
            user_id = await q.insert_user(
                conn, name, password_hash, is_admin=is_admin, quota_bytes=quota_bytes,
                now=self.clock.now_ms(),
            )
            user = await q.user_by_id(conn, user_id)
        assert user is not None
        return user

    async def count_users(self) -> int:
        async with self.db.read() as conn:
            return await q.count_users(conn)

    async def list_users(self) -> list[User]:
        async with self.db.read() as conn:
            return await q.list_users(conn)

    async def user(self, user_id: int) -> User:
        async with self.db.read() as conn:
            user = await q.user_by_id(conn, user_id)
        if user is None:
            raise NotFound("no such user")
        return user

    async def check_password(self, username: str, password: str) -> User:
        """The user if the password is right; Unauthenticated otherwise (same answer
        for an unknown user, so names cannot be probed); TooManyAttempts after
        too many wrong ones for the name."""
        key = username.lower()
        stamp = self.attempts.begin(key)
        async with self.db.read() as conn:
            user = await q.user_by_name(conn, username)
        ok = len(password) <= MAX_PASSWORD and await self._verify(
            user.password_hash if user else _dummy_hash(), password)
        if user is None or not ok:
            raise Unauthenticated("wrong username or password")
        self.attempts.forgive(key, stamp)
        if user.disabled_at is not None:  # said only to who knows the password
            raise Forbidden("this account is disabled; ask an administrator")
        return user

    async def set_password(self, user_id: int, password: str) -> User:
        """Give a user a new password (hashed like any); NotFound if there is
        no such user."""
        password_hash = await self.hash_password(password)
        async with self.db.write() as conn:
            if await q.user_by_id(conn, user_id) is None:
                raise NotFound(f"there is no user {user_id}")
            await q.set_password_hash(conn, user_id, password_hash)
            user = await q.user_by_id(conn, user_id)
        assert user is not None
        return user

    async def create_token(
        self, username: str, password: str, device_name: str
    ) -> tuple[str, Device]:
        """A new device token for a user who proves their password."""
        device_name = device_name.strip()
        if not (1 <= len(device_name) <= MAX_DEVICE_NAME) or not device_name.isprintable():
            raise BadRequest("device_name must be 1-128 printable characters")
        user = await self.check_password(username, password)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self.clock.now_ms()
        async with self.db.write() as conn:
            device_id = await q.insert_device(conn, user.id, device_name, token_digest(token), now)
        return token, Device(id=device_id, user_id=user.id, name=device_name,
                             created_at=now, last_seen_at=now)

    async def authenticate(self, token: str) -> Principal:
        if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            raise Unauthenticated("the token is not valid")
        async with self.db.read() as conn:
            found = await q.device_by_token_hash(conn, token_digest(token))
        if found is None:
            raise Unauthenticated("the token is not valid or was revoked")
        device, user = found
        if user.disabled_at is not None:
            raise Unauthenticated("this account is disabled")
        now = self.clock.now_ms()
        if now - device.last_seen_at > LAST_SEEN_EVERY_MS:
            async with self.db.write() as conn:
                await q.touch_device(conn, device.id, now)
        return Principal(user_id=user.id, username=user.name, is_admin=user.is_admin,
                         device_id=device.id, device_name=device.name)

    async def list_devices(self, who: Principal) -> list[Device]:
        async with self.db.read() as conn:
            return await q.list_devices(conn, who.user_id)

    async def revoke_device(self, who: Principal, device_id: int) -> None:
        async with self.db.write() as conn:
            if not await q.delete_device(conn, who.user_id, device_id):
                raise NotFound(f"you have no device {device_id}")
