"""WebDAV answers are markup joined by selfdrive/http/webdav/xmlio.py: every
name, path, owner and property a user controls must come out escaped, so that
a strict XML parser reads back exactly what went in (or U+FFFD where XML
cannot carry a character)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from hypothesis import given
from hypothesis import strategies as st

from selfdrive.http.webdav import Props, activelocks, xmlio
from selfdrive.services.files import Entry
from selfdrive.services.locks import Lock
from selfdrive.store.meta.records import Node

HOSTILE = ['a<b>&c"d\'e', "]]>", "<!--x-->", "&amp;", "\ufffe\uffff", "x\U0001f600y",
           "<?xml?>", "</D:href>", "\u2028"]


def _entry(name: str, folder: bool = False) -> Entry:
    return Entry("/" + name, Node(
        id=5, owner_id=1, parent_id=1, name=name, kind="folder" if folder else "file",
        current_rev=None if folder else 2, created_at=0, modified_at=0, size=3, mtime=0))


def _xml_safe(text: str) -> str:
    return "".join(c if c in "\t\n\r" or (0x20 <= ord(c) <= 0xD7FF) or
                   (0xE000 <= ord(c) <= 0xFFFD) or ord(c) >= 0x10000 else "\ufffd"
                   for c in text)


def _answer(entry: Entry, wanted: xmlio.Propfind, dead: dict[xmlio.Key, bytes] | None = None,
            locks: list[Lock] | None = None) -> ET.Element:
    url = xmlio.href("/dav", entry.path, entry.node.is_folder)
    body = xmlio.multistatus([xmlio.response(url, Props(entry, locks or [], dead or {},
                                                         None).answer(wanted))])
    return ET.fromstring(body)


@given(st.text(min_size=1, max_size=40).filter(lambda n: n not in (".", "..") and "/" not in n))
def test_any_name_reads_back(name: str) -> None:
    root = _answer(_entry(name), xmlio.Propfind("allprop"))
    shown = root.find(".//{DAV:}displayname")
    assert shown is not None and shown.text == _xml_safe(name)


def test_hostile_names_paths_and_dead_properties() -> None:
    for name in HOSTILE:
        body = (f'<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop>'
                f'<p:note xmlns:p="urn:{xmlio.attr(name)}">{xmlio.text(name)}</p:note>'
                f"</D:prop></D:set></D:propertyupdate>").encode()
        [(key, value)] = xmlio.proppatch(xmlio.parse(body))
        assert value is not None
        root = _answer(_entry(name, folder=True), xmlio.Propfind("prop", [
            ("DAV:", "displayname"), key, ("urn:" + name, "missing")]), dead={key: value})
        href = root.find(".//{DAV:}href")
        assert href is not None and href.text is not None and "<" not in href.text
        note = root.find(f".//{{urn:{_xml_safe(name)}}}note")
        assert note is not None and note.text == _xml_safe(name)
        assert root.find(f".//{{urn:{_xml_safe(name)}}}missing") is not None


def test_lock_owner_and_root_are_escaped() -> None:
    owner = b'<D:owner xmlns:D="DAV:"><D:href>mailto:a&amp;b@x</D:href></D:owner>'
    lock = Lock("urn:uuid:1", 1, (1, ("a",)), '/a<&>"', True, False, owner, 60, 0.0)
    body = xmlio.document((xmlio.DAV, "prop"), xmlio.element(
        (xmlio.DAV, "lockdiscovery"), activelocks([lock], None)))
    root = ET.fromstring(body)
    assert root.findtext(".//{DAV:}owner/{DAV:}href") == "mailto:a&b@x"
    assert root.findtext(".//{DAV:}lockroot/{DAV:}href") == "/dav/a%3C%26%3E%22"
