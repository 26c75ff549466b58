"""`SessionService`: a browser's sign-in (web sessions).

Terms: a *web session* is what a browser holds after signing in with its
user's password: a random secret (`SESSION_PREFIX` and 256 random bits) that
the HTTP layer keeps in an HttpOnly cookie (selfdrive/http/browser.py).  It is
a row of the devices table with kind "web", named after the browser
(`browser_name`), and only the SHA-256 of the secret is stored, as for device
tokens; so the account page lists and revokes sessions and device tokens
together, and an upload from the browser names it as its device.

A session ends `IDLE_MS` after it was last used (``last_seen_at``, updated
at most every `LAST_SEEN_EVERY_MS`) or `MAX_AGE_MS` after the sign-in,
whichever comes first; an ended session is refused and deleted (each sign-in
also deletes every ended session, so they do not pile up).

The *CSRF token* of a session is HMAC-SHA256 keyed by the session's secret
over a constant.  The page gets it in the sign-in answer and sends it back on
every unsafe request; another site can neither read it nor compute it, and it
needs no storage and dies with the session.

Sessions and device tokens never stand in for each other: a session's secret
is refused as a bearer token (another prefix, and the lookup is by kind), and
a device token is refused as a session.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from selfdrive.core.clock import Clock
from selfdrive.core.errors import BadRequest, Unauthenticated, WrongCredentials
from selfdrive.services.auth import (
    LAST_SEEN_EVERY_MS,
    MAX_DEVICE_NAME,
    AuthService,
    Principal,
    token_digest,
)
from selfdrive.store.meta import users as q
from selfdrive.store.meta.db import Database

SESSION_PREFIX = "sds_"
DAY_MS = 24 * 60 * 60 * 1000
#: a session unused for this long has ended
IDLE_MS = 30 * DAY_MS
#: and every session ends this long after its sign-in, used or not
MAX_AGE_MS = 90 * DAY_MS
#: what the CSRF token is the HMAC of (a new version would make a new label)
_CSRF_LABEL = b"selfdrive csrf v1"

#: (marker in the User-Agent, name): the first match names the browser.  The
#: order matters: every Chromium browser also says "Chrome" and "Safari".
_BROWSERS = (
    ("Edg/", "Edge"), ("EdgA/", "Edge"), ("EdgiOS/", "Edge"), ("OPR/", "Opera"),
    ("Vivaldi/", "Vivaldi"), ("SamsungBrowser/", "Samsung Internet"),
    ("Firefox/", "Firefox"), ("FxiOS/", "Firefox"), ("CriOS/", "Chrome"),
    ("Chromium/", "Chromium"), ("Chrome/", "Chrome"), ("Safari/", "Safari"),
)
#: the same for the system; iPhones and iPads also say "Mac OS X", Android "Linux"
_SYSTEMS = (
    ("iPhone", "iPhone"), ("iPad", "iPad"), ("Android", "Android"), ("CrOS", "ChromeOS"),
    ("Windows", "Windows"), ("Macintosh", "macOS"), ("Linux", "Linux"),
)


def browser_name(user_agent: str) -> str:
    """A session's device name from its User-Agent: "Chrome on Linux",
    "Safari on iPhone", "Firefox"; "Web browser" when nothing is known.  Only
    names from the tables above come out, never text from the header."""
    agent = user_agent[:1024]
    browser = next((name for marker, name in _BROWSERS if marker in agent), None)
    system = next((name for marker, name in _SYSTEMS if marker in agent), None)
    if browser and system:
        name = f"{browser} on {system}"
    elif browser or system:
        name = browser or f"Web browser on {system}"
    else:
        name = "Web browser"
    return name[:MAX_DEVICE_NAME]


def csrf_token(session_token: str) -> str:
    """The CSRF token of a session (hex)."""
    return hmac.new(session_token.encode(), _CSRF_LABEL, hashlib.sha256).hexdigest()


def csrf_matches(session_token: str, given: str) -> bool:
    """Whether *given* is the session's CSRF token, compared in constant time."""
    return hmac.compare_digest(csrf_token(session_token).encode(),
                               given.strip().encode("utf-8", "replace"))


class SessionService:
    def __init__(self, db: Database, clock: Clock, auth: AuthService) -> None:
        self.db = db
        self.clock = clock
        self.auth = auth

    async def sign_in(
        self, username: str, password: str, user_agent: str, *, replacing: str | None = None
    ) -> tuple[str, Principal]:
        """A new session for a user who proves their password: (its secret, who).

        Wrong passwords count towards the same per-username limit as device
        tokens (TooManyAttempts passes through); *replacing* is the session
        the browser held before, which ends now."""
        try:
            user = await self.auth.check_password(username, password)
        except Unauthenticated:
            raise WrongCredentials("wrong username or password") from None
        name = browser_name(user_agent)
        token = SESSION_PREFIX + secrets.token_urlsafe(32)
        now = self.clock.now_ms()
        async with self.db.write() as conn:
            await q.delete_ended_sessions(conn, now - IDLE_MS, now - MAX_AGE_MS)
            if replacing:
                await q.delete_session_by_token_hash(conn, token_digest(replacing))
            session_id = await q.insert_device(
                conn, user.id, name, token_digest(token), now, kind="web")
        return token, Principal(user_id=user.id, username=user.name, is_admin=user.is_admin,
                                device_id=session_id, device_name=name, kind="web")

    async def authenticate(self, token: str) -> Principal:
        """Who holds this session; Unauthenticated if it is unknown, revoked or
        ended (an ended one is deleted)."""
        if not token.startswith(SESSION_PREFIX) or len(token) > 200:
            raise Unauthenticated("the session is not valid; sign in again")
        digest = token_digest(token)
        async with self.db.read() as conn:
            found = await q.device_by_token_hash(conn, digest, kind="web")
        if found is None:
            raise Unauthenticated("the session has ended or was revoked; sign in again")
        session, user = found
        if user.disabled_at is not None:
            raise Unauthenticated("this account is disabled")
        now = self.clock.now_ms()
        if now - session.last_seen_at >= IDLE_MS or now - session.created_at >= MAX_AGE_MS:
            async with self.db.write() as conn:
                await q.delete_session_by_token_hash(conn, digest)
            raise Unauthenticated("the session has expired; sign in again")
        if now - session.last_seen_at > LAST_SEEN_EVERY_MS:
            async with self.db.write() as conn:
                await q.touch_device(conn, session.id, now)
        return Principal(user_id=user.id, username=user.name, is_admin=user.is_admin,
                         device_id=session.id, device_name=session.name, kind="web")

    async def sign_out(self, who: Principal) -> None:
        """End the session the caller signed in with."""
        if who.kind != "web" or who.device_id is None:
            raise BadRequest("sign-out ends a browser's session; revoke a device token"
                             " with DELETE /auth/tokens/{id}")
        async with self.db.write() as conn:
            await q.delete_device(conn, who.user_id, who.device_id)

    async def sign_out_everywhere(self, who: Principal, *, devices: bool) -> int:
        """End every session of the caller's user (the caller's too) and, with
        *devices*, revoke every device token as well; returns how many ended."""
        kinds = ("web", "device") if devices else ("web",)
        async with self.db.write() as conn:
            return await q.delete_devices_of(conn, who.user_id, kinds)
