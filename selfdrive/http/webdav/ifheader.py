"""WebDAV's If header (RFC 4918 section 10.4): conditions on lock tokens and ETags.

    If: (<urn:uuid:...> ["etag"]) (Not <DAV:no-lock>)
    If: </dav/a/b> (<urn:uuid:...>)

A header is a series of lists, each optionally tagged with the resource it
is about (untagged lists are about the request's own resource).  A list
holds conditions, all of which must hold; the header holds if any list
does.  The lock tokens named in it (outside "Not") are the ones the client
*submits*: a write under a lock needs its token among them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from selfdrive.core.errors import BadRequest

_TOKEN = re.compile(r"\s*(<[^>]*>|\(|\)|\[[^\]]*\]|not\b)", re.IGNORECASE)


@dataclass(frozen=True)
class Condition:
    negate: bool
    #: a state token (a lock token, or any other URI such as DAV:no-lock)
    token: str | None = None
    #: an entity tag, quoted as sent
    etag: str | None = None


@dataclass(frozen=True)
class Clause:
    #: the tagged resource's URL as sent, or None for the request's own
    resource: str | None
    conditions: tuple[Condition, ...]


def parse(header: str) -> list[Clause]:
    """The header's lists in order; BadRequest if it does not parse."""
    clauses: list[Clause] = []
    resource: str | None = None
    tagged: bool | None = None
    pos, text = 0, header.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise BadRequest(f"the If header does not parse at {text[pos:pos + 20]!r}")
        item, pos = m.group(1), m.end()
        if item.startswith("<"):
            if tagged is False:
                raise BadRequest("the If header mixes tagged and untagged lists")
            tagged, resource = True, item[1:-1]
        elif item == "(":
            if tagged is None:
                tagged = False
            conditions, pos = _conditions(text, pos)
            clauses.append(Clause(resource, conditions))
        else:
            raise BadRequest(f"the If header has {item!r} outside a list")
    if not clauses:
        raise BadRequest("the If header holds no list")
    return clauses


def _conditions(text: str, pos: int) -> tuple[tuple[Condition, ...], int]:
    out: list[Condition] = []
    negate = False
    while True:
        m = _TOKEN.match(text, pos)
        if not m:
            raise BadRequest("the If header has a list without its ')'")
        item, pos = m.group(1), m.end()
        if item == ")":
            if not out or negate:
                raise BadRequest("the If header has an empty list or a 'Not' alone")
            return tuple(out), pos
        if item.lower() == "not":
            negate = True
        elif item.startswith("<"):
            out.append(Condition(negate, token=item[1:-1].strip()))
            negate = False
        elif item.startswith("["):
            out.append(Condition(negate, etag=item[1:-1].strip().removeprefix("W/")))
            negate = False
        else:
            raise BadRequest(f"the If header has {item!r} inside a list")


def submitted(clauses: list[Clause]) -> list[str]:
    """The lock tokens the client submits with this request."""
    return [c.token for clause in clauses for c in clause.conditions
            if c.token is not None and not c.negate]
