"""WebDAV at /dav/: the user's tree as a network drive (RFC 4918 classes 1 and 2).

A face on the service layer like the REST API: every PUT is a revision,
every DELETE goes to the trash, every change is in the change feed, with
the same checks, quotas and shares (docs/webdav.md).  This module maps
methods to services; `xmlio` reads and writes the XML, `ifheader` the If
header, and locks are kept by services/locks.py.

Paths: the URL path after /dav is split on '/' *before* its segments are
percent-decoded, so an encoded '/' cannot make a new segment, and each
decoded name passes the core's path rules ('.', '..', control characters
and empty names are refused with 400).  The Destination header of COPY and
MOVE must name this server and lie under /dav/ (else 502).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from selfdrive.core import paths
from selfdrive.core.errors import (
    AlreadyExists,
    BadDestination,
    BadRequest,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    RevisionConflict,
    SelfdriveError,
    Unauthenticated,
    UnsupportedMediaType,
)
from selfdrive.http import download
from selfdrive.http.accesslog import note_user
from selfdrive.http.errors import error_response, from_exception, status_of
from selfdrive.http.webdav import ifheader, xmlio
from selfdrive.http.webdav.xmlio import Key, Raw
from selfdrive.services.auth import TOKEN_PREFIX, Principal
from selfdrive.services.files import Entry
from selfdrive.services.locks import DEFAULT_TIMEOUT_S, MAX_TIMEOUT_S, Lock, Where
from selfdrive.services.runtime import Runtime
from selfdrive.store.meta.junk import JunkRow
from selfdrive.store.meta.records import Node

PREFIX = "/dav"
METHODS = ("OPTIONS, GET, HEAD, PUT, DELETE, PROPFIND, PROPPATCH, MKCOL, COPY, MOVE, LOCK,"
           " UNLOCK")
#: a right password is remembered this long (s), so that a client that sends
#: Basic auth on every request does not pay Argon2 on every request
PASSWORD_CACHE_S = 60.0
PASSWORD_CACHE_SIZE = 1000
#: what revisions made through WebDAV with a password say they came from
DEVICE_NAME = "WebDAV"

#: live properties a PROPPATCH may not set or remove
PROTECTED = {
    (xmlio.DAV, name) for name in (
        "resourcetype", "getcontentlength", "getetag", "getlastmodified", "creationdate",
        "getcontenttype", "displayname", "lockdiscovery", "supportedlock",
        "quota-available-bytes", "quota-used-bytes",
    )
}
#: the live properties an allprop PROPFIND returns (RFC 4331's quota ones are
#: only sent when asked for)
ALLPROP = [
    (xmlio.DAV, name) for name in (
        "displayname", "resourcetype", "getcontentlength", "getcontenttype",
        "getlastmodified", "creationdate", "getetag", "supportedlock", "lockdiscovery",
    )
]
QUOTA = [(xmlio.DAV, "quota-available-bytes"), (xmlio.DAV, "quota-used-bytes")]


@dataclass
class Target:
    """A request's resource: the caller's path, where it lands, what is there."""

    path: str
    where: Where
    entry: Entry | None

    @property
    def parts(self) -> list[str]:
        return paths.split_path(self.path)

    @property
    def parent(self) -> Where:
        return self.where[0], self.where[1][:-1]


class WebDAV:
    """The ASGI app mounted at /dav."""

    def __init__(self) -> None:
        #: sha256(Basic credentials) -> (who, until, the password hash they matched)
        self._passwords: dict[bytes, tuple[Principal, float, str]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        runtime: Runtime = request.app.state.runtime
        try:
            response = await self.handle(request, runtime)
        except SelfdriveError as exc:
            response = _error(exc)
        except ClientDisconnect:
            return
        await response(scope, receive, send)

    async def handle(self, request: Request, runtime: Runtime) -> Response:
        method = request.method
        if method == "OPTIONS":
            return Response(status_code=200, headers=_options_headers())
        handler = DISPATCH.get(method)
        if handler is None:
            return error_response(405, "method_not_allowed", f"WebDAV has no {method}",
                                  {"Allow": METHODS})
        who = await self.authenticate(request, runtime)
        note_user(request.scope, who.user_id)
        path = dav_path(request.scope.get("raw_path") or request.url.path.encode())
        call = Handlers(request, runtime, who, path)
        # A side file's name goes to the side store, unless a real file has it.
        if (method in JUNK_DISPATCH and runtime.junk.is_junk(path)
                and (await call.target(path)).entry is None):
            handler = JUNK_DISPATCH[method]
        response: Response = await handler(call)
        return response

    async def authenticate(self, request: Request, runtime: Runtime) -> Principal:
        header = request.headers.get("authorization", "")
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return await runtime.auth.authenticate(credentials.strip())
        if scheme.lower() != "basic":
            raise Unauthenticated("sign in with your username and password, or a device"
                                  " token as the password")
        try:
            raw = base64.b64decode(credentials.strip(), validate=True)
            username, sep, secret = raw.decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthenticated("the Basic credentials do not decode") from None
        if not sep:
            raise Unauthenticated("the Basic credentials need 'username:password'")
        if secret.startswith(TOKEN_PREFIX):
            who = await runtime.auth.authenticate(secret)
            if who.username.lower() != username.lower():
                raise Unauthenticated("that device token belongs to another user")
            return who
        key = hashlib.sha256(raw).digest()
        now = runtime.clock.monotonic()
        cached = self._passwords.get(key)
        if cached is not None and cached[1] > now:
            # A primary-key read, not Argon2: a password reset or a disabled
            # account ends a remembered password at once.
            fresh = await runtime.auth.user(cached[0].user_id)
            if fresh.disabled_at is None and fresh.password_hash == cached[2]:
                return cached[0]
            self._passwords.pop(key, None)
        user = await runtime.auth.check_password(username, secret)
        who = Principal(user_id=user.id, username=user.name, is_admin=user.is_admin,
                        device_id=None, device_name=DEVICE_NAME)
        if len(self._passwords) >= PASSWORD_CACHE_SIZE:
            self._passwords.clear()
        self._passwords[key] = (who, now + PASSWORD_CACHE_S, user.password_hash)
        return who


class Handlers:
    """One request: who asks, for which path; a method per WebDAV method."""

    def __init__(self, request: Request, runtime: Runtime, who: Principal, path: str) -> None:
        self.request = request
        self.runtime = runtime
        self.files = runtime.files
        self.locks = runtime.locks
        self.who = who
        self.path = path

    # -- reading ---------------------------------------------------------------------

    async def propfind(self) -> Response:
        depth = self.request.headers.get("depth", "infinity").strip().lower()
        if depth == "infinity":
            return _xml_error(403, "propfind-finite-depth")
        if depth not in ("0", "1"):
            raise BadRequest("Depth is 0 or 1 (infinity is refused)")
        wanted = xmlio.propfind(xmlio.parse(await self.body()))
        target = await self.target(self.path)
        if target.entry is None:
            raise NotFound(f"{self.path} does not exist", path=self.path)
        entries = [(target.entry, target.where)]
        if target.entry.node.is_folder and depth == "1":
            _, kids = await self.files.list_folder(self.who, self.path)
            kids += [junk_entry(target.entry.path, row)
                     for row in await self.runtime.junk.in_folder(target.entry)]
            space, parts = target.where
            entries += [(kid, (space, (*parts, kid.node.name))) for kid in kids]
        dead = await self.runtime.props.of([e for e, _ in entries])
        locks = self.locks.within(target.where)
        quota: tuple[int, int] | None = None
        if wanted.kind == "prop" and any(k in QUOTA for k in wanted.keys):
            owner = await self.runtime.auth.user(target.entry.node.owner_id or self.who.user_id)
            quota = max(owner.quota_bytes - owner.used_bytes, 0), owner.used_bytes
        answers = []
        for entry, where in entries:
            props = Props(entry, [lk for lk in locks if lk.covers(where)],
                          dead.get(entry.node.id, {}), quota)
            answers.append(xmlio.response(
                xmlio.href(PREFIX, entry.path, entry.node.is_folder), props.answer(wanted)))
        return _multistatus(answers)

    async def get(self) -> Response:
        target = await self.target(self.path)
        if target.entry is None:
            raise NotFound(f"{self.path} does not exist", path=self.path)
        if target.entry.node.is_folder:
            text = f"{target.entry.path} is a WebDAV folder: open it with a WebDAV client.\n"
            return Response(text, media_type="text/plain; charset=utf-8",
                            headers={"ETag": etag(target.entry)})
        opened = await self.files.open(self.who, self.path)
        return download.serve(self.request, self.files, opened, attachment=True,
                              etag=etag(target.entry))

    # -- writing ---------------------------------------------------------------------

    async def put(self) -> Response:
        if not paths.split_path(self.path):
            raise Forbidden("/ is a folder")
        if "content-range" in self.request.headers:
            raise BadRequest("PUT with Content-Range is not supported; send the whole file")
        target = await self.target(self.path)
        await self.check_write(target, membership=target.entry is None)
        base_rev = self.conditional(target)
        length = self.request.headers.get("content-length")
        mtime = self.request.headers.get("x-oc-mtime")
        entry = await self.files.upload(
            self.who, self.path, self.request.stream(), base_rev=base_rev,
            content_length=int(length) if length and length.isdigit() else None,
            mtime=int(mtime) * 1000 if mtime and mtime.isdigit() else None, parents=False,
        )
        headers = {"ETag": etag(entry)}
        if mtime:
            headers["X-OC-MTime"] = "accepted"
        return Response(status_code=204 if target.entry else 201, headers=headers)

    def conditional(self, target: Target) -> int | None:
        """The base_rev that makes If-Match / If-None-Match hold atomically (412
        at once if they do not hold now)."""
        entry = target.entry
        match = self.request.headers.get("if-match")
        none_match = self.request.headers.get("if-none-match")
        current = etag(entry) if entry else None
        if match is not None:
            tags = _tags(match)
            if current is None or entry is None or entry.node.is_folder or not (
                    "*" in tags or current in tags):
                raise _precondition(f"{target.path} is not at the ETag given in If-Match")
            return entry.node.current_rev or 0
        if none_match is not None:
            tags = _tags(none_match)
            if current is not None and ("*" in tags or current in tags):
                raise _precondition(f"{target.path} matches If-None-Match")
            if "*" in tags:
                return 0
        return None

    async def mkcol(self) -> Response:
        if await self.body(limit=0):
            raise UnsupportedMediaType("MKCOL takes no body")
        target = await self.target(self.path)
        if target.entry is not None:
            return error_response(405, "already_exists", f"{self.path} already exists",
                                  {"Allow": METHODS})
        await self.check_write(target, membership=True)
        await self.files.mkdir(self.who, self.path, parents=False)
        return Response(status_code=201)

    async def delete(self) -> Response:
        if self.request.headers.get("depth", "infinity").strip().lower() != "infinity":
            raise BadRequest("DELETE takes Depth: infinity")
        target = await self.target(self.path)
        if target.entry is None:
            raise NotFound(f"{self.path} does not exist", path=self.path)
        await self.check_write(target, membership=True, members=True)
        await self.files.delete(self.who, self.path)
        self.locks.forget_within(target.where)
        return Response(status_code=204)

    async def copy(self) -> Response:
        return await self.transfer(move=False)

    async def move(self) -> Response:
        return await self.transfer(move=True)

    async def transfer(self, *, move: bool) -> Response:
        source = await self.target(self.path)
        if source.entry is None:
            raise NotFound(f"{self.path} does not exist", path=self.path)
        depth = self.request.headers.get("depth", "infinity").strip().lower()
        if depth not in ("0", "infinity") or (move and depth != "infinity"):
            raise BadRequest("MOVE takes Depth: infinity; COPY takes 0 or infinity")
        dest_path = self.destination()
        if dest_path == source.path:
            raise Forbidden("the source and the destination are the same")
        overwrite = self.request.headers.get("overwrite", "T").strip().upper()
        if overwrite not in ("T", "F"):
            raise BadRequest("Overwrite is T or F")
        dest = await self.target(dest_path)
        if dest.entry is not None and overwrite == "F":
            raise _precondition(f"{dest_path} exists and Overwrite is F")
        if move:
            await self.check_write(source, membership=True, members=True)
        else:
            await self.check_if(source)
        await self.check_write(dest, membership=True, members=dest.entry is not None,
                               evaluate=False)
        if move:
            await self.files.move(self.who, source.path, dest_path, parents=False,
                                  overwrite=overwrite == "T")
            self.locks.forget_within(source.where)
        else:
            await self.files.copy(self.who, source.path, dest_path, parents=False,
                                  overwrite=overwrite == "T", depth0=depth == "0")
        if dest.entry is not None:
            self.locks.forget_within(dest.where)
        return Response(status_code=204 if dest.entry is not None else 201)

    def destination(self) -> str:
        header = self.request.headers.get("destination")
        if not header:
            raise BadRequest("COPY and MOVE need a Destination header")
        url = urlsplit(header.strip())
        if url.scheme or url.netloc:
            here = _origin(self.request.url.scheme, self.request.headers.get("host", ""))
            if url.scheme not in ("http", "https") or _origin(url.scheme, url.netloc) != here:
                raise BadDestination("the Destination is on another server")
        raw = url.path.encode("latin-1", "replace")
        if raw != PREFIX.encode() and not raw.startswith(PREFIX.encode() + b"/"):
            raise BadDestination(f"the Destination must lie under {PREFIX}/")
        return dav_path(raw)

    async def proppatch(self) -> Response:
        changes = xmlio.proppatch(xmlio.parse(await self.body()))
        target = await self.target(self.path)
        if target.entry is None:
            raise NotFound(f"{self.path} does not exist", path=self.path)
        await self.check_write(target)
        statuses: dict[Key, int] = {}
        protected = [k for k, _ in changes if k in PROTECTED]
        if protected:
            statuses = {k: 403 if k in protected else 424 for k, _ in changes}
        else:
            over = set(await self.runtime.props.patch(self.who, self.path, changes))
            statuses = {k: (507 if k in over else 424) if over else 200 for k, _ in changes}
        found: dict[int, list[tuple[Key, xmlio.Value]]] = {}
        for key, code in statuses.items():
            found.setdefault(code, []).append((key, None))
        url = xmlio.href(PREFIX, target.entry.path, target.entry.node.is_folder)
        return _multistatus([xmlio.response(url, found)])

    # -- locks -----------------------------------------------------------------------

    async def lock(self, *, junk: bool = False) -> Response:
        timeout = _timeout(self.request.headers.get("timeout", ""))
        root = xmlio.parse(await self.body())
        target = await self.target(self.path)
        if root is None:  # a refresh: the lock is named in the If header
            lock = await self.refreshing(target)
            self.locks.refresh(lock, timeout)
            return self.lock_answer(lock, 200, token_header=False)
        info = xmlio.lockinfo(root)
        depth = self.request.headers.get("depth", "infinity").strip().lower()
        if depth not in ("0", "infinity"):
            raise BadRequest("LOCK takes Depth: 0 or infinity")
        await self.check_if(target)
        infinite = depth == "infinity"
        self.locks.can_lock(self.who.user_id, target.where, exclusive=info.exclusive,
                            infinite=infinite)  # before an empty file is made for it
        status = 200
        if junk and await self.runtime.junk.stat(self.who, self.path) is None:
            await self.check_write(target, membership=True, evaluate=False)
            self.locks.check(target.where, self.who.user_id, [])
            await self.runtime.junk.write(self.who, self.path, _empty())
            status = 201
        elif not junk and target.entry is None:
            # RFC 4918 7.3: locking an unmapped URL makes an empty resource.
            await self.check_write(target, membership=True, evaluate=False)
            self.locks.check(target.where, self.who.user_id, [])
            await self.files.upload(self.who, self.path, _empty(), base_rev=0, parents=False)
            status = 201
        lock = self.locks.lock(
            self.who.user_id, target.where, target.path, exclusive=info.exclusive,
            infinite=infinite, owner=info.owner, timeout_s=timeout)
        return self.lock_answer(lock, status, token_header=True)

    async def refreshing(self, target: Target) -> Lock:
        header = self.request.headers.get("if")
        if not header:
            raise BadRequest("a LOCK without a body refreshes a lock named in the If header")
        for token in ifheader.submitted(ifheader.parse(header)):
            lock = self.locks.get(token)
            if lock is not None and lock.covers(target.where) and lock.user_id == self.who.user_id:
                return lock
        raise _precondition("the If header names no lock of yours on this resource")

    def lock_answer(self, lock: Lock, status: int, *, token_header: bool) -> Response:
        discovery = xmlio.element(LOCKDISCOVERY, activelocks([lock], self.locks.clock.monotonic()))
        headers = {"Lock-Token": f"<{lock.token}>"} if token_header else {}
        return Response(xmlio.document((xmlio.DAV, "prop"), discovery), status_code=status,
                        headers=headers, media_type="application/xml; charset=utf-8")

    async def unlock(self) -> Response:
        token = self.request.headers.get("lock-token", "").strip()
        if not (token.startswith("<") and token.endswith(">")):
            raise BadRequest("UNLOCK needs a Lock-Token header: <token>")
        target = await self.target(self.path)
        lock = self.locks.get(token[1:-1])
        if lock is None or not lock.covers(target.where):
            return _xml_error(409, "lock-token-matches-request-uri")
        if lock.user_id != self.who.user_id:
            raise Forbidden("that lock is someone else's")
        self.locks.unlock(lock)
        return Response(status_code=204)

    # -- clients' side files (services/junk.py) ----------------------------------------

    async def junk_propfind(self) -> Response:
        wanted = xmlio.propfind(xmlio.parse(await self.body()))
        row = await self.runtime.junk.stat(self.who, self.path)
        if row is None:
            raise NotFound(f"{self.path} does not exist", path=self.path)
        target = await self.target(self.path)
        entry = junk_entry(paths.parent_and_name(self.path)[0], row)
        props = Props(entry, self.locks.covering(target.where), {}, None)
        return _multistatus([xmlio.response(xmlio.href(PREFIX, self.path, False),
                                            props.answer(wanted))])

    async def junk_get(self) -> Response:
        row, data = await self.runtime.junk.read(self.who, self.path)
        entry = junk_entry(paths.parent_and_name(self.path)[0], row)
        headers = {"ETag": etag(entry), "Last-Modified": xmlio.http_date(row.modified_at),
                   "X-Content-Type-Options": "nosniff"}
        if self.request.method == "HEAD":
            headers["Content-Length"] = str(len(data))
            data = b""
        return Response(data, headers=headers, media_type="application/octet-stream")

    async def junk_put(self) -> Response:
        target = await self.target(self.path)
        await self.check_write(target, membership=True)
        created = await self.runtime.junk.write(self.who, self.path, self.request.stream())
        return Response(status_code=201 if created else 204)

    async def junk_delete(self) -> Response:
        target = await self.target(self.path)
        await self.check_write(target, membership=True)
        await self.runtime.junk.delete(self.who, self.path)
        self.locks.forget_within(target.where)
        return Response(status_code=204)

    async def junk_proppatch(self) -> Response:
        """Accepted and not kept: side files have no properties worth keeping
        (Explorer sets its attributes on desktop.ini)."""
        changes = xmlio.proppatch(xmlio.parse(await self.body()))
        if await self.runtime.junk.stat(self.who, self.path) is None:
            raise NotFound(f"{self.path} does not exist", path=self.path)
        return _multistatus([xmlio.response(xmlio.href(PREFIX, self.path, False),
                                            {200: [(k, None) for k, _ in changes]})])

    async def junk_copy(self) -> Response:
        return await self.junk_transfer(move=False)

    async def junk_move(self) -> Response:
        return await self.junk_transfer(move=True)

    async def junk_transfer(self, *, move: bool) -> Response:
        dest_path = self.destination()
        overwrite = self.request.headers.get("overwrite", "T").strip().upper() != "F"
        source, dest = await self.target(self.path), await self.target(dest_path)
        if move:
            await self.check_write(source, membership=True)
        await self.check_write(dest, membership=True, evaluate=False)
        if self.runtime.junk.is_junk(dest_path) and dest.entry is None:
            replaced = await self.runtime.junk.transfer(self.who, self.path, dest_path,
                                                        move=move, overwrite=overwrite)
        else:  # a side file renamed to a real name becomes a real file
            if dest.entry is not None and not overwrite:
                raise _precondition(f"{dest_path} exists and Overwrite is F")
            _, data = await self.runtime.junk.read(self.who, self.path)
            if dest.entry is not None and dest.entry.node.is_folder:
                await self.files.delete(self.who, dest_path)
            await self.files.upload(self.who, dest_path, _once(data), parents=False)
            if move:
                await self.runtime.junk.delete(self.who, self.path)
            replaced = dest.entry is not None
        if move:
            self.locks.forget_within(source.where)
        return Response(status_code=204 if replaced else 201)

    async def junk_lock(self) -> Response:
        return await self.lock(junk=True)

    # -- checks ----------------------------------------------------------------------

    async def target(self, path: str) -> Target:
        where = await self.files.locate(self.who, path)
        try:
            entry: Entry | None = await self.files.stat(self.who, path)
        except NotFound:
            entry = None
        return Target(path, where, entry)

    async def check_write(self, target: Target, *, membership: bool = False,
                          members: bool = False, evaluate: bool = True) -> None:
        """412 if the If header fails; 423 unless the tokens of the locks in the
        way are submitted: on the resource (and below it, with *members*), and
        on its folder when the folder's membership changes."""
        tokens = await self.check_if(target) if evaluate else self.tokens()
        self.locks.check(target.where, self.who.user_id, tokens, members=members)
        if membership and target.where[1]:
            self.locks.check(target.parent, self.who.user_id, tokens)

    def tokens(self) -> list[str]:
        header = self.request.headers.get("if")
        return ifheader.submitted(ifheader.parse(header)) if header else []

    async def check_if(self, target: Target) -> list[str]:
        """The submitted lock tokens, once the If header (if any) holds; 412 if not."""
        header = self.request.headers.get("if")
        if not header:
            return []
        clauses = ifheader.parse(header)
        states: dict[str, Target] = {target.path: target}
        for clause in clauses:
            path = target.path if clause.resource is None else _tagged_path(clause.resource)
            if path is None:
                continue
            if path not in states:
                states[path] = await self.target(path)
            if all(self.holds(c, states[path]) for c in clause.conditions):
                return ifheader.submitted(clauses)
        raise _precondition("the If header does not hold")

    def holds(self, condition: ifheader.Condition, target: Target) -> bool:
        if condition.token is not None:
            lock = self.locks.get(condition.token)
            result = lock is not None and lock.covers(target.where)
        else:
            result = target.entry is not None and etag(target.entry) == condition.etag
        return result != condition.negate

    async def body(self, limit: int = xmlio.MAX_BODY) -> bytes:
        data = bytearray()
        async for piece in self.request.stream():
            data += piece
            if len(data) > limit:
                if limit == 0:
                    break
                raise PayloadTooLarge(f"a WebDAV XML body may be at most {limit} bytes")
        return bytes(data)


DISPATCH: dict[str, Callable[[Handlers], Awaitable[Response]]] = {
    "PROPFIND": Handlers.propfind, "PROPPATCH": Handlers.proppatch, "GET": Handlers.get,
    "HEAD": Handlers.get, "PUT": Handlers.put, "DELETE": Handlers.delete,
    "MKCOL": Handlers.mkcol, "COPY": Handlers.copy, "MOVE": Handlers.move,
    "LOCK": Handlers.lock, "UNLOCK": Handlers.unlock,
}


JUNK_DISPATCH: dict[str, Callable[[Handlers], Awaitable[Response]]] = {
    "PROPFIND": Handlers.junk_propfind, "PROPPATCH": Handlers.junk_proppatch,
    "GET": Handlers.junk_get, "HEAD": Handlers.junk_get, "PUT": Handlers.junk_put,
    "DELETE": Handlers.junk_delete, "COPY": Handlers.junk_copy, "MOVE": Handlers.junk_move,
    "LOCK": Handlers.junk_lock,
}


def junk_entry(folder: str, row: JunkRow) -> Entry:
    """A side file as an entry, for PROPFIND (node id 0: it is no node)."""
    return Entry(paths.join(folder, row.name), Node(
        id=0, owner_id=row.owner_id, parent_id=row.parent_id, name=row.name, kind="file",
        current_rev=None, created_at=row.modified_at, modified_at=row.modified_at,
        size=row.size, mtime=row.modified_at))


class Props:
    """The properties of one entry, live and dead, as a PROPFIND asks for them."""

    def __init__(self, entry: Entry, locks: list[Lock], dead: dict[Key, bytes],
                 quota: tuple[int, int] | None) -> None:
        self.entry = entry
        self.node = entry.node
        self.locks = locks
        self.dead = dead
        self.quota = quota

    def answer(self, wanted: xmlio.Propfind) -> dict[int, list[tuple[Key, xmlio.Value]]]:
        """The wanted properties by status: 200 with their values, 404 without."""
        live = self.live()
        if wanted.kind == "propname":
            names = [k for k in ALLPROP if k[1] in live] + list(self.dead)
            return {200: [(k, None) for k in names]}
        if wanted.kind == "allprop":
            return {200: [(k, live[k[1]]) for k in ALLPROP if k[1] in live]
                    + list(self.dead.items())}
        found: dict[int, list[tuple[Key, xmlio.Value]]] = {}
        for key in wanted.keys:
            value = live.get(key[1]) if key[0] == xmlio.DAV else None
            if value is None:
                value = self.dead.get(key)
            if value is not None:
                found.setdefault(200, []).append((key, value))
            else:
                found.setdefault(404, []).append((key, None))
        return found

    def live(self) -> dict[str, xmlio.Value]:
        """The entry's live properties (DAV: names) and their values: text, or
        markup that fills the element."""
        node = self.node
        # Dates, numbers and ETags are made here of digits and ASCII: Raw.
        values: dict[str, xmlio.Value] = {
            "displayname": node.name,
            "getlastmodified": Raw(xmlio.http_date(node.mtime or node.modified_at)),
            "creationdate": Raw(xmlio.iso_date(node.created_at)),
            "getetag": Raw(etag(self.entry)),
            "supportedlock": SUPPORTEDLOCK,
            "lockdiscovery": activelocks(self.locks, None) if self.locks else EMPTY,
        }
        if node.is_folder:
            values["resourcetype"] = COLLECTION
        else:
            values["resourcetype"] = EMPTY
            values["getcontentlength"] = Raw(node.size)
            values["getcontenttype"] = _content_type(node.name)
        if self.quota is not None:
            values["quota-available-bytes"] = Raw(self.quota[0])
            values["quota-used-bytes"] = Raw(self.quota[1])
        return values


EMPTY = xmlio.Raw()
COLLECTION = xmlio.Raw("<D:collection/>")
SUPPORTEDLOCK = xmlio.Raw("".join(
    f"<D:lockentry><D:lockscope><D:{scope}/></D:lockscope>"
    "<D:locktype><D:write/></D:locktype></D:lockentry>" for scope in ("exclusive", "shared")))
LOCKDISCOVERY = (xmlio.DAV, "lockdiscovery")


@functools.lru_cache(maxsize=1024)
def _content_type_of(extension: str) -> Raw:
    return xmlio.text(download.content_type("x" + extension)[0])


def _content_type(name: str) -> Raw:
    dot = name.rfind(".")
    return _content_type_of(name[dot:].lower() if dot > 0 else "")


def activelocks(locks: list[Lock], now: float | None) -> xmlio.Raw:
    """The DAV:activelock elements of a DAV:lockdiscovery."""
    parts = []
    for lock in locks:
        left = lock.timeout_s if now is None else max(int(lock.expires - now), 0)
        parts += [
            "<D:activelock><D:locktype><D:write/></D:locktype><D:lockscope>",
            "<D:exclusive/>" if lock.exclusive else "<D:shared/>",
            "</D:lockscope><D:depth>", "infinity" if lock.infinite else "0", "</D:depth>",
            xmlio.stored(lock.owner) if lock.owner else "",
            f"<D:timeout>Second-{left}</D:timeout>",
            f"<D:locktoken><D:href>{xmlio.text(lock.token)}</D:href></D:locktoken>",
            f"<D:lockroot><D:href>{xmlio.text(xmlio.href(PREFIX, lock.path, False))}</D:href>",
            "</D:lockroot></D:activelock>",
        ]
    return xmlio.Raw("".join(parts))


# -- small parts ----------------------------------------------------------------------------

#: where WebDAV's statuses differ from the API's: a write that finds a newer
#: revision, or something in the way, is a failed precondition (RFC 4918)
DAV_STATUS: dict[type[SelfdriveError], int] = {RevisionConflict: 412, AlreadyExists: 412}


def _precondition(message: str) -> PreconditionFailed:
    return PreconditionFailed(message)


def _error(exc: SelfdriveError) -> Response:
    status = DAV_STATUS.get(type(exc))
    if status is None:
        response = from_exception(exc)
        if status_of(exc) == 401:
            response.headers["WWW-Authenticate"] = 'Basic realm="selfdrive", charset="UTF-8"'
        return response
    return error_response(status, exc.code, exc.message, **exc.details)


def _xml_error(status: int, condition: str) -> Response:
    return Response(xmlio.error(condition), status_code=status,
                    media_type="application/xml; charset=utf-8")


def _multistatus(responses: list[xmlio.Raw]) -> Response:
    return Response(xmlio.multistatus(responses), status_code=207,
                    media_type="application/xml; charset=utf-8")


def _options_headers() -> dict[str, str]:
    return {"DAV": "1, 2", "MS-Author-Via": "DAV", "Allow": METHODS, "Content-Length": "0",
            "Accept-Ranges": "bytes"}


def dav_path(raw: bytes) -> str:
    """The caller's path for a raw (still percent-encoded) URL path under /dav."""
    if raw != PREFIX.encode() and not raw.startswith(PREFIX.encode() + b"/"):
        raise NotFound("WebDAV lives under /dav/")
    rest = raw[len(PREFIX):].decode("latin-1")
    segments = rest.split("/")[1:]
    if segments and segments[-1] == "":
        segments.pop()
    names = []
    for segment in segments:
        try:
            name = unquote(segment, errors="strict")
        except UnicodeDecodeError:
            raise BadRequest("a path segment is not UTF-8") from None
        if name in (".", "..") or "/" in name or name == "":
            raise BadRequest(f"the path segment {segment!r} is not allowed")
        names.append(name)
    return paths.normalize_path("/" + "/".join(names))


def _origin(scheme: str, netloc: str) -> tuple[str, int | None]:
    """A host and port as compared for Destination: case-insensitive, with
    the scheme's default port made explicit ("host" and "host:443" are one)."""
    try:
        parsed = urlsplit(f"//{netloc}")
        port = parsed.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:
        return netloc.lower(), None
    return (parsed.hostname or "").lower(), port


def _tagged_path(url: str) -> str | None:
    """The caller's path of an If header's resource tag, None if not ours."""
    path = urlsplit(url).path.encode("latin-1", "replace")
    try:
        return dav_path(path)
    except (NotFound, BadRequest):
        return None


def etag(entry: Entry) -> str:
    node = entry.node
    if node.is_folder:
        return f'"d{node.id}-{node.modified_at}"'
    if not node.id:  # a side file
        return f'"j{node.parent_id}-{node.modified_at}-{node.size}"'
    return f'"{node.id}-{node.current_rev}"'


def _tags(header: str) -> list[str]:
    return [t.strip().removeprefix("W/") for t in header.split(",")]


def _timeout(header: str) -> int:
    """The first timeout in a Timeout header that we can grant (s)."""
    for item in header.split(","):
        item = item.strip().lower()
        if item == "infinite":
            return MAX_TIMEOUT_S
        if item.startswith("second-") and item[7:].isdigit():
            return min(int(item[7:]), MAX_TIMEOUT_S)
    return DEFAULT_TIMEOUT_S


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _empty() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover - makes this an async generator
