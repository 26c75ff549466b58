"""Hostile and careless WebDAV input against the real server.

Each test sends what a broken or malicious client might (traversal in paths
and Destination headers, XML bombs, floods of properties and locks, writes
past the quota, stale conditional writes) and checks the decided status, that
the answer comes fast, and, through the REST API, that nothing changed that
should not have.  Paths with dot segments or encoded slashes go out through
http.client, which sends a request target as it is (httpx would tidy it).
"""

from __future__ import annotations

import base64
import http.client
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Server, free_port
from tests.dav.conftest import (
    DavUser,
    dav_client,
    dead_props,
    new_dav_user,
    prop_statuses,
    revisions,
    trash_paths,
    tree,
    used_bytes,
)

KIB = 1024
MIB = 1024 * KIB
NS = "urn:x-selfdrive-test:"
FAST_S = 1.0  # "well under a second" for answers that need no work
LOCKS_PER_USER = 1000
MAX_DEAD_PROPS = 200
MAX_DEAD_PROP_BYTES = 64 * KIB


def raw(server: Server, user: DavUser, method: str, target: str,
        headers: dict[str, str] | None = None, body: bytes = b"") -> tuple[int, bytes]:
    """One request with `target` sent byte for byte; (status, body)."""
    basic = base64.b64encode(f"{user.name}:{user.password}".encode()).decode()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request(method, target, body=body,
                     headers={"Authorization": f"Basic {basic}", **(headers or {})})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def snapshot(rest: httpx.Client) -> dict[str, tuple[object, ...]]:
    """What a user has, down to revisions, plus the trash."""
    entries = {p: (e["kind"], e["id"], e["rev"], e["content_hash"])
               for p, e in tree(rest).items()}
    return {**entries, "<trash>": tuple(trash_paths(rest))}


def proppatch(dav: httpx.Client, path: str, sets: dict[str, str],
              removes: tuple[str, ...] = ()) -> httpx.Response:
    """Set and remove properties of namespace NS, by local name."""
    body = ['<?xml version="1.0" encoding="utf-8"?>'
            f'<D:propertyupdate xmlns:D="DAV:" xmlns:t="{NS}">']
    if sets:
        body.append("<D:set><D:prop>")
        body += [f"<t:{name}>{value}</t:{name}>" for name, value in sets.items()]
        body.append("</D:prop></D:set>")
    if removes:
        body.append("<D:remove><D:prop>")
        body += [f"<t:{name}/>" for name in removes]
        body.append("</D:prop></D:remove>")
    body.append("</D:propertyupdate>")
    return dav.request("PROPPATCH", path, content="".join(body).encode())


def clark(name: str) -> str:
    """A property of namespace NS as ElementTree names it."""
    return "{" + NS + "}" + name


def props_of(dav: httpx.Client, path: str) -> dict[str, str]:
    return {k.removeprefix(clark("")): v for k, v in dead_props(dav, path, NS).items()}


def assert_refused_whole(r: httpx.Response, names: list[str]) -> None:
    """207 where every property is 507 (over the limit) or 424 (failed with it)."""
    assert r.status_code == 207, f"{r.status_code} {r.text[:300]}"
    statuses = prop_statuses(r.content)
    assert set(statuses) == {clark(n) for n in names}
    assert set(statuses.values()) <= {507, 424}, set(statuses.values())
    assert 507 in statuses.values()


LOCKINFO = (b'<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:">'
            b"<D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype>"
            b"<D:owner>pytest</D:owner></D:lockinfo>")


def lock(dav: httpx.Client, path: str, shared: bool = False) -> httpx.Response:
    body = LOCKINFO.replace(b"exclusive", b"shared") if shared else LOCKINFO
    return dav.request("LOCK", path, content=body,
                       headers={"Depth": "0", "Timeout": "Second-3600"})


# --- authentication ------------------------------------------------------------

def test_basic_auth_with_password_or_token_and_bearer(server: Server, dav_user: DavUser) -> None:
    url = dav_user.url
    propfind = {"Depth": "0"}
    r = httpx.request("PROPFIND", url, headers=propfind)
    assert r.status_code == 401
    # RFC 7617 allows a charset parameter after the realm
    assert r.headers["WWW-Authenticate"].startswith('Basic realm="selfdrive"')
    for name, secret in [(dav_user.name, "wrong"), (dav_user.name, ""),
                         ("nobody-" + dav_user.name, dav_user.password)]:
        r = httpx.request("PROPFIND", url, headers=propfind, auth=(name, secret))
        assert r.status_code == 401, (name, secret)
    for secret in (dav_user.password, dav_user.token):
        r = httpx.request("PROPFIND", url, headers=propfind, auth=(dav_user.name, secret))
        assert r.status_code == 207, r.text
    bearer = {**propfind, "Authorization": f"Bearer {dav_user.token}"}
    assert httpx.request("PROPFIND", url, headers=bearer).status_code == 207
    # another user's token is no app password for this one
    _, stranger = server.add_user()
    r = httpx.request("PROPFIND", url, headers=propfind, auth=(dav_user.name, stranger))
    assert r.status_code == 401
    # a revoked token stops working at once
    doomed = server.token(dav_user.name, dav_user.password, device="doomed")
    with server.client(doomed) as c:
        mine = [d for d in c.get("/auth/tokens").json()["devices"] if d["current"]]
        assert c.delete(f"/auth/tokens/{mine[0]['id']}").status_code == 204
    r = httpx.request("PROPFIND", url, headers=propfind, auth=(dav_user.name, doomed))
    assert r.status_code == 401


def test_propfind_depth_infinity_is_refused(dav: httpx.Client) -> None:
    assert dav.request("MKCOL", "a").status_code == 201
    r = dav.request("PROPFIND", "", headers={"Depth": "infinity"})
    assert r.status_code == 403, r.text
    # no Depth means infinity (RFC 4918 9.1); docs/webdav.md refuses it too
    assert dav.request("PROPFIND", "").status_code == 403
    assert dav.request("PROPFIND", "", headers={"Depth": "1"}).status_code == 207


# --- Destination and path traversal ------------------------------------------------

@pytest.fixture
def victim(server: Server) -> Iterator[tuple[str, httpx.Client]]:
    """Another user with a secret, to show that no trick reaches it."""
    name, token = server.add_user()
    with server.client(token) as c:
        r = c.put("/files/content", params={"path": "/secret.txt"}, content=b"victim's secret")
        assert r.status_code == 201
        assert c.post("/files/mkdir", json={"path": "/victim-dir"}).status_code == 201
        yield name, c


@pytest.fixture
def attacker_files(dav: httpx.Client) -> None:
    assert dav.put("src.txt", content=b"source").status_code == 201
    assert dav.request("MKCOL", "a").status_code == 201
    assert dav.put("a/b.txt", content=b"b").status_code == 201


@pytest.mark.usefixtures("attacker_files")
def test_destination_on_another_host_is_bad_gateway(
        server: Server, dav: httpx.Client, rest: httpx.Client) -> None:
    before = snapshot(rest)
    for dest in ["http://example.com/dav/dst.txt",
                 f"http://127.0.0.1:{free_port()}/dav/dst.txt",
                 f"http://127.0.0.2:{server.port}/dav/dst.txt"]:
        for method in ("COPY", "MOVE"):
            r = dav.request(method, "src.txt", headers={"Destination": dest})
            assert r.status_code == 502, f"{method} -> {dest}: {r.status_code}"
    assert snapshot(rest) == before


@pytest.mark.usefixtures("attacker_files")
def test_destination_outside_dav_is_refused(
        server: Server, dav: httpx.Client, rest: httpx.Client) -> None:
    before = snapshot(rest)
    base = server.base_url
    for dest in [f"{base}/api/v1/x", f"{base}/api/v1/files/content?path=/x.txt",
                 f"{base}/x.txt", f"{base}/davx/y.txt", f"{base}/s/token"]:
        for method in ("COPY", "MOVE"):
            r = dav.request(method, "src.txt", headers={"Destination": dest})
            assert r.status_code in (403, 502), f"{method} -> {dest}: {r.status_code}"
    assert snapshot(rest) == before


# Each case runs in its own folder {c} holding src.txt and a/b.txt, so that one
# wrongly accepted MOVE does not turn the next case into a 404.  {v} is the
# victim's user name: a path that escaped /dav/ might land in their tree.
TRAVERSALS = [
    "/dav/../secret.txt", "/dav/../{v}/secret.txt", "/dav/{c}/../../{v}/secret.txt",
    "/dav/{c}/a/../src.txt", "/dav/{c}/a/../a/b.txt", "/dav/{c}/./src.txt",
    "/dav/{c}/a/./b.txt", "/dav/{c}/a/..", "/dav/..", "/dav/%2e%2e/{v}/secret.txt",
    "/dav/%2E%2E%2F{v}%2Fsecret.txt", "/dav/.%2e/{v}/secret.txt", "/dav/{c}/a/%2e%2e/src.txt",
    "/dav/{c}/%2e/src.txt", "/dav/{c}/a%2fb.txt", "/dav/{c}/a%2Fb.txt",
    "/dav/..%5c{v}%5csecret.txt", "/dav/{c}/a/..%5csrc.txt",
    "/dav/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
]
METHODS_WITH_BODY = {
    "PUT": b"written by a traversal",
    "PROPPATCH": (f'<D:propertyupdate xmlns:D="DAV:" xmlns:t="{NS}"><D:set><D:prop>'
                  "<t:x>1</t:x></D:prop></D:set></D:propertyupdate>").encode(),
    "LOCK": LOCKINFO,
}
METHODS = ["GET", "HEAD", "DELETE", "MKCOL", "PROPFIND", "COPY", "MOVE", *METHODS_WITH_BODY]
DESTINATION_TRAVERSALS = [
    "/dav/{c}/a/../dst.txt", "/dav/{c}/./dst.txt", "/dav/{c}/a/./dst.txt", "/dav/{c}/a/..",
    "/dav/%2e%2e/{v}/stolen.txt", "/dav/%2E%2E%2F{v}%2Fstolen.txt", "/dav/.%2e/{v}/secret.txt",
    "/dav/{c}/a%2fdst.txt", "/dav/..%5c{v}%5cstolen.txt", "/dav/{c}/a/..%5cdst.txt",
    "/dav/%2e%2e/{v}/secret.txt",
]
# Both dot segments and outside /dav/: 400, or the 403/502 of a Destination outside.
ESCAPING_DESTINATIONS = ["/dav/../{v}/stolen.txt", "/dav/../{v}/secret.txt", "/dav/.."]


def make_case(dav: httpx.Client, case: str) -> None:
    assert dav.request("MKCOL", case).status_code == 201
    assert dav.put(f"{case}/src.txt", content=b"source").status_code == 201
    assert dav.request("MKCOL", f"{case}/a").status_code == 201
    assert dav.put(f"{case}/a/b.txt", content=b"b").status_code == 201


def test_traversal_in_the_request_path_is_bad_request(
        server: Server, dav_user: DavUser, dav: httpx.Client, rest: httpx.Client,
        victim: tuple[str, httpx.Client]) -> None:
    victim_name, victim_rest = victim
    for i in range(len(TRAVERSALS)):
        make_case(dav, f"c{i}")
    mine, theirs = snapshot(rest), snapshot(victim_rest)
    wrong: list[str] = []
    for i, template in enumerate(TRAVERSALS):
        target = template.format(c=f"c{i}", v=victim_name)
        for method in METHODS:
            headers = {"Depth": "0"}
            if method in ("COPY", "MOVE"):
                headers["Destination"] = f"{server.base_url}/dav/c{i}/landed.txt"
            status, _ = raw(server, dav_user, method, target, headers,
                            METHODS_WITH_BODY.get(method, b""))
            if status != 400:
                wrong.append(f"{method} {target} -> {status}")
    # first what matters most: nothing reached the other user
    assert snapshot(victim_rest) == theirs
    assert victim_rest.get("/files/content", params={"path": "/secret.txt"}).content \
        == b"victim's secret"
    assert wrong == [], "\n".join(wrong)
    assert snapshot(rest) == mine


def test_traversal_in_the_destination_is_bad_request(
        server: Server, dav_user: DavUser, dav: httpx.Client, rest: httpx.Client,
        victim: tuple[str, httpx.Client]) -> None:
    victim_name, victim_rest = victim
    cases: list[tuple[str, tuple[int, ...]]] = [(d, (400,)) for d in DESTINATION_TRAVERSALS]
    cases += [(d, (400, 403, 502)) for d in ESCAPING_DESTINATIONS]
    for i in range(len(cases)):
        make_case(dav, f"c{i}")
    mine, theirs = snapshot(rest), snapshot(victim_rest)
    wrong: list[str] = []
    for i, (template, allowed) in enumerate(cases):
        dest = server.base_url + template.format(c=f"c{i}", v=victim_name)
        for method in ("COPY", "MOVE"):
            for source in (f"/dav/c{i}/src.txt", f"/dav/c{i}/a"):
                status, _ = raw(server, dav_user, method, source,
                                {"Destination": dest, "Overwrite": "T"})
                if status not in allowed:
                    wrong.append(f"{method} {source} Destination: {dest} -> {status}")
    assert snapshot(victim_rest) == theirs  # first what matters most
    assert wrong == [], "\n".join(wrong)
    assert snapshot(rest) == mine


def test_dots_inside_a_name_are_fine(dav: httpx.Client, rest: httpx.Client) -> None:
    """The traversal rules refuse segments, not names that merely hold dots."""
    for name in ("a..b.txt", "..hidden", "x.."):
        assert dav.put(name, content=b"ok").status_code == 201, name
        assert rest.get("/files/metadata", params={"path": "/" + name}).status_code == 200


# --- XML bombs ----------------------------------------------------------------------

def billion_laughs(payload_tag: str) -> str:
    levels = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    return f'<?xml version="1.0"?><!DOCTYPE x [{"".join(levels)}]>' + payload_tag.format("&lol9;")


def xml_bodies(passwd: str, dtd_url: str) -> dict[str, list[str]]:
    """Per method: bodies with a DOCTYPE, each with the hostile text where {} stands."""
    xxe = f'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file://{passwd}">]>'
    external = f'<?xml version="1.0"?><!DOCTYPE x SYSTEM "{dtd_url}">'
    parameter = (f'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY % p SYSTEM "{dtd_url}"> %p;]>')
    harmless = '<?xml version="1.0"?><!DOCTYPE x>'
    shapes = {
        "PROPFIND": '<D:propfind xmlns:D="DAV:"><D:prop><D:displayname>{}</D:displayname>'
                    "</D:prop></D:propfind>",
        "PROPPATCH": f'<D:propertyupdate xmlns:D="DAV:" xmlns:t="{NS}"><D:set><D:prop>'
                     "<t:leak>{}</t:leak></D:prop></D:set></D:propertyupdate>",
        "LOCK": '<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope>'
                "<D:locktype><D:write/></D:locktype><D:owner>{}</D:owner></D:lockinfo>",
    }
    return {method: [billion_laughs(shape), xxe + shape.format("&xxe;"),
                     external + shape.format("x"), parameter + shape.format("x"),
                     harmless + shape.format("x")]
            for method, shape in shapes.items()}


class Listener:
    """A TCP port that counts connections: an XML parser fetching a DTD would call."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.calls = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.calls += 1
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.sock.close()


def test_xml_with_a_doctype_is_refused_fast(dav: httpx.Client, tmp_path: Path) -> None:
    passwd = Path("/etc/passwd")
    secret = passwd.read_text().splitlines()[0] if passwd.exists() else "root:x:0:0"
    assert dav.put("f.txt", content=b"target").status_code == 201
    listener = Listener()
    try:
        bodies = xml_bodies(str(passwd), f"http://127.0.0.1:{listener.port}/evil.dtd")
        wrong: list[str] = []
        for method, variants in bodies.items():
            for n, body in enumerate(variants):
                start = time.monotonic()
                r = dav.request(method, "f.txt", content=body.encode(),
                                headers={"Depth": "0", "Timeout": "Second-60"})
                took = time.monotonic() - start
                if r.status_code != 400 or took > FAST_S:
                    wrong.append(f"{method} body #{n}: {r.status_code} in {took:.2f} s")
                assert secret not in r.text and "root:" not in r.text, f"{method} #{n} leaked"
        assert wrong == [], "\n".join(wrong)
        assert listener.calls == 0, "the server fetched an external DTD"
    finally:
        listener.close()
    assert props_of(dav, "f.txt") == {}
    # no lock was taken: a plain PUT still works
    assert dav.put("f.txt", content=b"still mine").status_code == 204


def test_xml_bodies_over_1_mib_are_too_large(dav: httpx.Client) -> None:
    assert dav.put("f.txt", content=b"target").status_code == 201
    padding = b" " * (MIB + 1)
    bodies = {
        "PROPFIND": b'<D:propfind xmlns:D="DAV:"><D:allprop/>' + padding + b"</D:propfind>",
        "PROPPATCH": (f'<D:propertyupdate xmlns:D="DAV:" xmlns:t="{NS}"><D:set><D:prop>'
                      f"<t:big>{'x' * (MIB + 1)}</t:big></D:prop></D:set>"
                      "</D:propertyupdate>").encode(),
        "LOCK": LOCKINFO.replace(b"<D:owner>", b"<D:owner>" + padding),
    }
    for method, body in bodies.items():
        r = dav.request(method, "f.txt", content=body, headers={"Depth": "0"})
        assert r.status_code == 413, f"{method} with Content-Length: {r.status_code}"
        chunks = iter([body[i:i + 64 * KIB] for i in range(0, len(body), 64 * KIB)])
        r = dav.request(method, "f.txt", content=chunks, headers={"Depth": "0"})
        assert r.status_code == 413, f"{method} chunked: {r.status_code}"
    assert props_of(dav, "f.txt") == {}
    assert dav.put("f.txt", content=b"not locked").status_code == 204


# --- dead properties ----------------------------------------------------------------

def test_dead_properties_are_stored_and_removed(dav: httpx.Client) -> None:
    assert dav.put("f.txt", content=b"x").status_code == 201
    r = proppatch(dav, "f.txt", {"colour": "blue", "size": "big", "unicode": "grüße 🎉"})
    assert r.status_code == 207 and set(prop_statuses(r.content).values()) == {200}
    assert props_of(dav, "f.txt") == {"colour": "blue", "size": "big", "unicode": "grüße 🎉"}
    r = proppatch(dav, "f.txt", {"colour": "red"}, removes=("size",))
    assert r.status_code == 207 and set(prop_statuses(r.content).values()) == {200}
    assert props_of(dav, "f.txt") == {"colour": "red", "unicode": "grüße 🎉"}


def test_at_most_200_dead_properties_per_resource(dav: httpx.Client) -> None:
    assert dav.put("f.txt", content=b"x").status_code == 201

    def some(first: int, last: int) -> dict[str, str]:
        return {f"p{i}": f"v{i}" for i in range(first, last)}

    r = proppatch(dav, "f.txt", some(0, 150))
    assert r.status_code == 207 and set(prop_statuses(r.content).values()) == {200}
    r = proppatch(dav, "f.txt", some(150, 201))  # 201 in all: refused whole
    assert_refused_whole(r, list(some(150, 201)))
    assert props_of(dav, "f.txt") == some(0, 150)
    r = proppatch(dav, "f.txt", some(150, 200))  # exactly 200
    assert r.status_code == 207 and set(prop_statuses(r.content).values()) == {200}
    r = proppatch(dav, "f.txt", some(200, 201))
    assert r.status_code == 207 and prop_statuses(r.content) == {clark("p200"): 507}
    # a removal in a refused PROPPATCH does not happen either
    r = proppatch(dav, "f.txt", some(200, 202), removes=("p0",))
    assert_refused_whole(r, ["p0", "p200", "p201"])
    assert prop_statuses(r.content)[clark("p0")] == 424
    assert props_of(dav, "f.txt") == some(0, 200)
    # replacing a value adds no property
    r = proppatch(dav, "f.txt", {"p1": "new"})
    assert r.status_code == 207 and set(prop_statuses(r.content).values()) == {200}
    assert props_of(dav, "f.txt") == {**some(0, 200), "p1": "new"}


def test_at_most_64_kib_of_dead_properties_per_resource(dav: httpx.Client) -> None:
    for name in ("f.txt", "g.txt"):
        assert dav.put(name, content=b"x").status_code == 201
    r = proppatch(dav, "f.txt", {"big0": "a" * (40 * KIB)})
    assert r.status_code == 207 and set(prop_statuses(r.content).values()) == {200}
    r = proppatch(dav, "f.txt", {"big1": "b" * (30 * KIB), "small": "ok"})
    assert_refused_whole(r, ["big1", "small"])
    assert prop_statuses(r.content)[clark("big1")] == 507
    assert props_of(dav, "f.txt") == {"big0": "a" * (40 * KIB)}
    r = proppatch(dav, "g.txt", {"huge": "c" * (MAX_DEAD_PROP_BYTES + 1)})
    assert_refused_whole(r, ["huge"])
    assert props_of(dav, "g.txt") == {}


def test_100_000_dead_properties_in_batches(server: Server, dav: httpx.Client) -> None:
    assert dav.put("f.txt", content=b"x").status_code == 201
    kept = {f"keep{i}": str(i) for i in range(100)}
    assert proppatch(dav, "f.txt", kept).status_code == 207
    slowest = 0.0
    for batch in range(100):
        names = {f"b{batch}x{i}": "v" for i in range(1000)}
        start = time.monotonic()
        r = proppatch(dav, "f.txt", names)
        slowest = max(slowest, time.monotonic() - start)
        assert_refused_whole(r, list(names))
        if batch % 10 == 0:
            start = time.monotonic()
            assert httpx.get(server.base_url + "/healthz").status_code == 200
            assert time.monotonic() - start < FAST_S, "the server stopped answering"
    assert slowest < 10, f"one batch of 1,000 took {slowest:.1f} s"
    assert props_of(dav, "f.txt") == kept


# --- locks ------------------------------------------------------------------------

def test_at_most_1000_locks_per_user(server: Server, dav: httpx.Client,
                                      rest: httpx.Client) -> None:
    """Exclusive locks on new URLs (each makes an empty file) and shared locks on
    one file (cheap, so the flood is quick) count alike."""
    assert dav.request("MKCOL", "locks").status_code == 201
    assert dav.put("shared.txt", content=b"x").status_code == 201
    tokens: list[str] = []
    for i in range(LOCKS_PER_USER):
        r = lock(dav, f"locks/f{i}.txt") if i < 10 else lock(dav, "shared.txt", shared=True)
        assert r.status_code in (200, 201), f"LOCK #{i}: {r.status_code} {r.text[:200]}"
        tokens.append(r.headers["Lock-Token"])
    r = lock(dav, "locks/one-too-many.txt")
    assert r.status_code == 429, r.text[:300]
    assert lock(dav, "shared.txt", shared=True).status_code == 429
    # a refused LOCK of an unmapped URL makes no file
    assert rest.get("/files/metadata",
                    params={"path": "/locks/one-too-many.txt"}).status_code == 404
    # refreshing a lock takes no new room
    r = dav.request("LOCK", "locks/f0.txt",
                    headers={"If": f"({tokens[0]})", "Timeout": "Second-3600"})
    assert r.status_code == 200, r.text[:300]
    # the limit is per user: someone else still locks
    with dav_client(new_dav_user(server)) as other:
        assert other.put("mine.txt", content=b"x").status_code == 201
        assert lock(other, "mine.txt").status_code == 200
    r = dav.request("UNLOCK", "locks/f0.txt", headers={"Lock-Token": tokens[0]})
    assert r.status_code == 204
    assert lock(dav, "locks/one-too-many.txt").status_code == 201


# --- quota, conditions, revisions ------------------------------------------------------

def test_put_past_the_quota_is_refused_and_stores_nothing(server: Server) -> None:
    user = new_dav_user(server, quota="1MB")
    with dav_client(user) as dav, server.client(user.token) as rest:
        old = b"o" * 100_000
        assert dav.put("small.bin", content=old).status_code == 201
        used = used_bytes(rest)
        big = b"b" * 2_000_000
        chunks = [big[i:i + 100_000] for i in range(0, len(big), 100_000)]
        attempts: list[tuple[str, bytes | Iterator[bytes]]] = [
            ("big.bin", big), ("chunked.bin", iter(chunks)),
            ("small.bin", big), ("small.bin", iter(chunks))]
        for path, body in attempts:
            r = dav.put(path, content=body)
            assert r.status_code == 507, f"PUT {path}: {r.status_code}"
        for path in ("big.bin", "chunked.bin"):
            assert rest.get("/files/metadata", params={"path": "/" + path}).status_code == 404
            assert dav.request("PROPFIND", path, headers={"Depth": "0"}).status_code == 404
        assert dav.get("small.bin").content == old
        assert len(revisions(rest, "/small.bin")) == 1
        assert used_bytes(rest) == used


def test_put_makes_revisions_and_honours_conditions(
        dav: httpx.Client, rest: httpx.Client) -> None:
    """A client that lost a race gets 412 and changes nothing."""
    r = dav.put("c.txt", content=b"one")
    assert r.status_code == 201
    first = dav.head("c.txt").headers["ETag"]
    r = dav.put("c.txt", content=b"two", headers={"If-Match": first})
    assert r.status_code == 204
    second = dav.head("c.txt").headers["ETag"]
    assert second != first
    assert dav.put("c.txt", content=b"three", headers={"If-Match": first}).status_code == 412
    assert dav.put("c.txt", content=b"four", headers={"If-None-Match": "*"}).status_code == 412
    assert dav.get("c.txt").content == b"two"
    assert [rev for rev, _ in revisions(rest, "/c.txt")] == [2, 1]
    assert dav.get("c.txt", headers={"If-None-Match": second}).status_code == 304
    assert dav.put("new.txt", content=b"n", headers={"If-Match": first}).status_code == 412
    assert dav.put("new.txt", content=b"n", headers={"If-None-Match": "*"}).status_code == 201
    # streamed (chunked) PUT, then ranges
    data = bytes(range(256)) * 4096
    r = dav.put("c.txt", content=iter([data[i:i + 65536] for i in range(0, len(data), 65536)]))
    assert r.status_code == 204
    assert [rev for rev, _ in revisions(rest, "/c.txt")] == [3, 2, 1]
    r = dav.get("c.txt", headers={"Range": "bytes=1000-1999"})
    assert r.status_code == 206 and r.content == data[1000:2000]
    assert r.headers["Content-Range"] == f"bytes 1000-1999/{len(data)}"
