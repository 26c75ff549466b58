"""WebDAV's XML: parsing request bodies safely, writing multistatus answers.

Reading: request bodies go through defusedxml with DTDs forbidden, so entity
tricks (billion laughs, external entities) are refused before anything is
expanded, and a body may be at most MAX_BODY bytes.

Writing: answers are markup pieces joined by this module, because a
10,000-entry PROPFIND must answer within a second on a small machine and
element trees cannot (measured on the 2-core CI VM, 10,000 entries,
allprop: ElementTree 1.4 s, lxml 2.6 s to build and serialize; this
writer 0.1 s).  The rule that keeps it safe: text from anywhere but this
module (names, paths, ETags, dates, owners) enters markup only through
`text()` or `attr()`, which escape it and replace characters XML cannot
carry; markup made here is a `Raw`.  tests/dav/test_xml.py feeds hostile
names through every answer and parses the result strictly.
"""

from __future__ import annotations

import functools
import re
import time
import xml.etree.ElementTree as ET  # reading parsed trees; parsing is defusedxml's
from dataclasses import dataclass, field
from urllib.parse import quote

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from selfdrive.core.errors import BadRequest

DAV = "DAV:"
MAX_BODY = 1024 * 1024
DECLARATION = '<?xml version="1.0" encoding="utf-8"?>\n'

#: (namespace, local name); "" is no namespace
Key = tuple[str, str]


class Raw(str):
    """Markup made by this module: never text from a request or the database."""


def d(name: str) -> str:
    """ElementTree's name of a DAV: element (for reading parsed bodies)."""
    return f"{{{DAV}}}{name}"


def key_of(tag: str) -> Key:
    if tag.startswith("{"):
        ns, _, name = tag[1:].partition("}")
        return ns, name
    return "", tag


# -- reading ------------------------------------------------------------------------------

def parse(body: bytes) -> ET.Element | None:
    """The root element of a request body, None for an empty one; BadRequest
    for anything that is not plain well-formed XML without a DTD."""
    if not body.strip():
        return None
    try:
        root: ET.Element = SafeET.fromstring(body, forbid_dtd=True)
    except DefusedXmlException:
        raise BadRequest("XML with a DTD or entities is not accepted") from None
    except ET.ParseError as exc:
        raise BadRequest(f"the body is not well-formed XML: {exc}") from None
    return root


@dataclass
class Propfind:
    #: "allprop", "propname" or "prop"
    kind: str
    keys: list[Key] = field(default_factory=list)


def propfind(root: ET.Element | None) -> Propfind:
    if root is None:
        return Propfind("allprop")
    if root.tag != d("propfind"):
        raise BadRequest("a PROPFIND body is a DAV:propfind element")
    for child in root:
        if child.tag == d("allprop"):
            return Propfind("allprop")  # DAV:include only names live ones we send anyway
        if child.tag == d("propname"):
            return Propfind("propname")
        if child.tag == d("prop"):
            return Propfind("prop", [key_of(p.tag) for p in child])
    raise BadRequest("a DAV:propfind holds DAV:prop, DAV:allprop or DAV:propname")


def proppatch(root: ET.Element | None) -> list[tuple[Key, bytes | None]]:
    """The changes in document order: (key, the property element serialized) to
    set, (key, None) to remove."""
    if root is None or root.tag != d("propertyupdate"):
        raise BadRequest("a PROPPATCH body is a DAV:propertyupdate element")
    changes: list[tuple[Key, bytes | None]] = []
    for action in root:
        if action.tag not in (d("set"), d("remove")):
            continue
        for prop in action:
            if prop.tag != d("prop"):
                continue
            for element in prop:
                value = _fragment(element) if action.tag == d("set") else None
                changes.append((key_of(element.tag), value))
    if not changes:
        raise BadRequest("the DAV:propertyupdate changes no property")
    return changes


def _fragment(element: ET.Element) -> bytes:
    """An element as self-contained markup (it declares its own namespaces)."""
    element.tail = None
    return ET.tostring(element, encoding="unicode").encode()


@dataclass
class LockInfo:
    exclusive: bool
    #: the client's DAV:owner element, as self-contained markup, or b""
    owner: bytes


def lockinfo(root: ET.Element) -> LockInfo:
    if root.tag != d("lockinfo"):
        raise BadRequest("a LOCK body is a DAV:lockinfo element")
    scope = root.find(d("lockscope"))
    kind = root.find(d("locktype"))
    if scope is None or len(scope) != 1 or scope[0].tag not in (d("exclusive"), d("shared")):
        raise BadRequest("DAV:lockinfo needs a DAV:lockscope of DAV:exclusive or DAV:shared")
    if kind is None or kind.find(d("write")) is None:
        raise BadRequest("only write locks exist (DAV:locktype DAV:write)")
    owner = root.find(d("owner"))
    return LockInfo(exclusive=scope[0].tag == d("exclusive"),
                    owner=b"" if owner is None else _fragment(owner))


# -- writing ------------------------------------------------------------------------------

# Characters XML 1.0 cannot carry (paths refuse control characters, but
# U+FFFE and U+FFFF are valid in names): replaced by U+FFFD in answers.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def text(value: str) -> Raw:
    """Character data, escaped."""
    if _NOT_XML.search(value):
        value = _NOT_XML.sub("\ufffd", value)
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return Raw(value.replace("\r", "&#13;") if "\r" in value else value)


def attr(value: str) -> Raw:
    """An attribute value, escaped, without its quotes."""
    return Raw(text(value).replace('"', "&quot;").replace("\n", "&#10;").replace("\t", "&#9;"))


def stored(fragment: bytes) -> Raw:
    """Markup that `_fragment` made from a parsed request and the database kept."""
    return Raw(fragment.decode())


_NAME = re.compile(r"^[^\W\d][\w.\-]*$")


@functools.lru_cache(maxsize=4096)
def tag(key: Key) -> tuple[Raw, Raw]:
    """The start tag's name with its namespace declaration, and the end tag's
    name, for a property name a client sent (or one of ours)."""
    ns, name = key
    if not _NAME.match(name):  # parsed XML names are valid; anything else is a bug
        raise ValueError(f"not an XML name: {name!r}")
    if ns == DAV:
        return Raw(f"D:{name}"), Raw(f"D:{name}")
    if not ns:
        return Raw(f'{name} xmlns=""'), Raw(name)
    return Raw(f'X:{name} xmlns:X="{attr(ns)}"'), Raw(f"X:{name}")


def element(key: Key, content: Raw | None = None) -> Raw:
    start, end = tag(key)
    return Raw(f"<{start}>{content}</{end}>" if content else f"<{start}/>")


#: a property's value in an answer: text (escaped when written), markup made
#: here, a dead property as stored (the whole element), or None (empty)
Value = str | Raw | bytes | None


def _prop(key: Key, value: Value) -> str:
    if isinstance(value, bytes):
        return stored(value)
    start, end = tag(key)
    if not value:
        return f"<{start}/>"
    return f"<{start}>{value if isinstance(value, Raw) else text(value)}</{end}>"


def response(url: str, found: dict[int, list[tuple[Key, Value]]]) -> Raw:
    """One DAV:response: the properties grouped by status."""
    parts = [f"<D:response><D:href>{text(url)}</D:href>"]
    for code, props in sorted(found.items()):
        parts.append("<D:propstat><D:prop>")
        parts.extend([_prop(key, value) for key, value in props])
        parts.append(f"</D:prop><D:status>{status_line(code)}</D:status></D:propstat>")
    parts.append("</D:response>")
    return Raw("".join(parts))


def multistatus(responses: list[Raw]) -> bytes:
    return "".join([DECLARATION, '<D:multistatus xmlns:D="DAV:">', *responses,
                    "</D:multistatus>"]).encode()


def document(root: Key, content: Raw) -> bytes:
    """A whole answer whose root is a DAV: element."""
    return f'{DECLARATION}<D:{root[1]} xmlns:D="DAV:">{content}</D:{root[1]}>'.encode()


def error(condition: str, *hrefs: str) -> bytes:
    """A DAV:error body naming a precondition (RFC 4918 section 16)."""
    inner = Raw("".join(f"<D:href>{text(url)}</D:href>" for url in hrefs))
    return document((DAV, "error"), element((DAV, condition), inner))


def href(prefix: str, path: str, folder: bool) -> str:
    """The URL path of a caller's path, percent-encoded, folders ending in '/'."""
    url = prefix + quote(path, safe="/")
    return url + "/" if folder and not url.endswith("/") else url


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@functools.lru_cache(maxsize=4096)
def _day(days: int) -> tuple[str, str]:
    """A day since the epoch as RFC 9110 ("Thu, 26 Nov 2026") and RFC 3339
    ("2026-11-26") write it: a 10,000-entry listing formats 20,000 dates,
    mostly of a few days."""
    t = time.gmtime(days * 86400)
    return (f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year:04d}",
            f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}")


def _clock(ms: int) -> tuple[int, str]:
    days, seconds = divmod(ms // 1000, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    return days, f"{hours:02d}:{minutes:02d}:{seconds:02d}"


def http_date(ms: int) -> str:
    """RFC 9110's date (IMF-fixdate) of a time in ms."""
    days, clock = _clock(ms)
    return f"{_day(days)[0]} {clock} GMT"


def iso_date(ms: int) -> str:
    """RFC 3339's date of a time in ms (WebDAV's creationdate)."""
    days, clock = _clock(ms)
    return f"{_day(days)[1]}T{clock}Z"


REASONS = {
    200: "OK", 403: "Forbidden", 404: "Not Found", 409: "Conflict",
    412: "Precondition Failed", 424: "Failed Dependency", 507: "Insufficient Storage",
}


def status_line(code: int) -> str:
    return f"HTTP/1.1 {code} {REASONS.get(code, '')}".rstrip()
