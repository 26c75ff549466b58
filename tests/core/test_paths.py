"""selfdrive.core.paths: what a valid user path is, and its canonical form."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selfdrive.core.errors import BadRequest, InvalidPath
from selfdrive.core.paths import (
    MAX_DEPTH,
    MAX_NAME_BYTES,
    MAX_PATH_BYTES,
    check_name,
    is_within,
    join,
    normalize_path,
    parent_and_name,
    split_path,
)

# --- strategies -----------------------------------------------------------------------

#: one valid, NFC-normalised name
names = (
    st.text(
        alphabet=st.characters(exclude_categories=("Cs", "Cc"), exclude_characters="/"),
        min_size=1,
        max_size=12,
    )
    .map(lambda s: unicodedata.normalize("NFC", s))
    .filter(lambda s: s not in ("", ".", "..") and len(s.encode()) <= MAX_NAME_BYTES)
)
#: a valid canonical path (root included)
paths = st.lists(names, max_size=6).map(lambda parts: "/" + "/".join(parts))


# --- normalisation ---------------------------------------------------------------------


def test_nfd_and_nfc_spellings_are_the_same_path() -> None:
    nfd = "/cafe\u0301"
    nfc = "/caf\u00e9"
    assert nfd != nfc
    assert normalize_path(nfd) == nfc
    assert normalize_path(nfc) == nfc
    assert normalize_path("/cafe\u0301/cre\u0300me") == "/caf\u00e9/cr\u00e8me"


def test_names_are_case_sensitive() -> None:
    assert normalize_path("/Docs") != normalize_path("/docs")


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("/", "/"),
        ("/a", "/a"),
        ("/a/", "/a"),
        ("/a/b/", "/a/b"),
        ("/recipes/soup/best_soup.txt", "/recipes/soup/best_soup.txt"),
        ("/a b/ c ", "/a b/ c "),
        ("/.hidden/...", "/.hidden/..."),
        ("/a..b/.x.", "/a..b/.x."),
    ],
)
def test_canonical_form(raw: str, canonical: str) -> None:
    assert normalize_path(raw) == canonical


def test_split_path_segments() -> None:
    assert split_path("/") == []
    assert split_path("/a/b/c/") == ["a", "b", "c"]
    assert split_path("/cafe\u0301") == ["caf\u00e9"]


@settings(max_examples=200)
@given(paths)
def test_normalize_is_idempotent_and_ignores_a_trailing_slash(path: str) -> None:
    once = normalize_path(path)
    assert normalize_path(once) == once
    if once != "/":  # "//" is an empty segment, refused (test_double_slash_alone...)
        assert normalize_path(once + "/") == once
    assert once == path  # the strategy only builds canonical paths


@settings(max_examples=200)
@given(st.lists(names, min_size=1, max_size=6))
def test_nfd_input_normalises_to_the_nfc_path(parts: list[str]) -> None:
    nfd = "/" + "/".join(unicodedata.normalize("NFD", p) for p in parts)
    assert normalize_path(nfd) == "/" + "/".join(parts)


# --- refusals --------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["", "a", "a/b", "./a", "~/a", " /a", "\\a", "C:\\a"])
def test_relative_paths_are_refused(raw: str) -> None:
    with pytest.raises(InvalidPath):
        normalize_path(raw)


@pytest.mark.parametrize("raw", [None, b"/a", 42])
def test_non_strings_are_refused(raw: object) -> None:
    with pytest.raises(InvalidPath):
        normalize_path(raw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "raw", ["/..", "/.", "/a/..", "/a/.", "/a/../b", "/a/./b", "/../a", "/./a", "/../", "/a/../"]
)
def test_dot_segments_are_refused(raw: str) -> None:
    with pytest.raises(InvalidPath):
        normalize_path(raw)


@pytest.mark.parametrize("raw", ["/..\\x", "/a/..\\..\\etc", "/x\\..", "/.\\a", "/a\\.\\b"])
def test_dot_segments_between_backslashes_are_refused(raw: str) -> None:
    """Windows reads a backslash as a separator, so such a name climbs there."""
    with pytest.raises(InvalidPath):
        normalize_path(raw)


@pytest.mark.parametrize("raw", ["/back\\slash", "/a\\", "/\\a", "/...\\x", "/..x"])
def test_other_backslashes_and_dots_are_names(raw: str) -> None:
    assert normalize_path(raw) == raw


@pytest.mark.parametrize("raw", ["/a//b", "//a", "/a//", "///", "/a///b", "//a/"])
def test_empty_segments_are_refused(raw: str) -> None:
    with pytest.raises(InvalidPath):
        normalize_path(raw)


def test_double_slash_alone_is_refused() -> None:
    with pytest.raises(InvalidPath):
        normalize_path("//")


@pytest.mark.parametrize("ch", ["\x00", "\x01", "\t", "\n", "\r", "\x1b", "\x1f", "\x7f"])
@pytest.mark.parametrize("template", ["/{}", "/a{}b", "/ok/{}x", "/{}/ok"])
def test_nul_and_c0_control_characters_are_refused(ch: str, template: str) -> None:
    with pytest.raises(InvalidPath):
        normalize_path(template.format(ch))


@pytest.mark.parametrize("ch", ["\x80", "\x85", "\x9b", "\x9f"])
def test_c1_control_characters_are_refused(ch: str) -> None:
    with pytest.raises(InvalidPath):
        normalize_path(f"/a{ch}b")


@pytest.mark.parametrize("raw", ["/\ud800", "/a\udfffb"])
def test_lone_surrogates_are_refused(raw: str) -> None:
    with pytest.raises(InvalidPath):
        normalize_path(raw)


def test_invalid_path_is_a_bad_request_with_its_code() -> None:
    with pytest.raises(BadRequest) as info:
        normalize_path("/a/../b")
    assert info.value.code == "invalid_path"


# --- limits ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "a" * MAX_NAME_BYTES,
        "\u00e9" * 127 + "a",  # 2-byte characters: 254 + 1 bytes
        "\u20ac" * 85,  # 3-byte characters: 255 bytes
        "\U0001f600" * 63 + "abc",  # 4-byte characters: 252 + 3 bytes
    ],
)
def test_a_name_of_exactly_255_bytes_is_accepted(name: str) -> None:
    assert len(name.encode("utf-8")) == MAX_NAME_BYTES
    assert normalize_path("/" + name) == "/" + name
    assert normalize_path(f"/dir/{name}/x") == f"/dir/{name}/x"


@pytest.mark.parametrize(
    "name",
    [
        "a" * (MAX_NAME_BYTES + 1),
        "\u00e9" * 128,  # 128 characters, 256 bytes
        "\u20ac" * 85 + "a",
        "\U0001f600" * 64,  # only 64 characters: the limit is on bytes
    ],
)
def test_a_name_over_255_bytes_is_refused(name: str) -> None:
    assert len(name.encode("utf-8")) > MAX_NAME_BYTES
    with pytest.raises(InvalidPath):
        normalize_path("/" + name)
    with pytest.raises(InvalidPath):
        normalize_path(f"/dir/{name}/x")


def test_name_length_is_counted_after_nfc() -> None:
    nfd_name = "e\u0301" * 127  # 381 bytes as NFD, 254 bytes as NFC
    assert len(nfd_name.encode()) > MAX_NAME_BYTES
    assert normalize_path("/" + nfd_name) == "/" + "\u00e9" * 127


def test_depth_limit() -> None:
    assert normalize_path("/a" * MAX_DEPTH) == "/a" * MAX_DEPTH
    assert len(split_path("/a" * MAX_DEPTH + "/")) == MAX_DEPTH
    with pytest.raises(InvalidPath):
        normalize_path("/a" * (MAX_DEPTH + 1))


def test_total_length_limit() -> None:
    longest = ("/" + "n" * MAX_NAME_BYTES) * (MAX_PATH_BYTES // (MAX_NAME_BYTES + 1))
    assert len(longest.encode()) == MAX_PATH_BYTES
    assert normalize_path(longest) == longest
    with pytest.raises(InvalidPath):
        normalize_path(longest + "/b")


@pytest.mark.parametrize("name", ["", ".", "..", "a/b"])
def test_check_name_refuses(name: str) -> None:
    with pytest.raises(InvalidPath):
        check_name(name)


def test_check_name_returns_a_valid_name() -> None:
    assert check_name("r\u00e9sum\u00e9.pdf") == "r\u00e9sum\u00e9.pdf"


# --- is_within, parent_and_name, join ------------------------------------------------


@pytest.mark.parametrize(
    ("path", "ancestor", "expected"),
    [
        ("/a/b", "/a", True),
        ("/a/b/c", "/a", True),
        ("/a/b/c", "/a/b", True),
        ("/a", "/a", True),
        ("/", "/", True),
        ("/x", "/", True),
        ("/x/y", "/", True),
        ("/ab", "/a", False),
        ("/a/bc", "/a/b", False),
        ("/a", "/a/b", False),
        ("/", "/a", False),
        ("/b/a", "/a", False),
    ],
)
def test_is_within(path: str, ancestor: str, expected: bool) -> None:
    assert is_within(path, ancestor) is expected


@pytest.mark.parametrize(
    ("path", "parent", "name"),
    [
        ("/a", "/", "a"),
        ("/a/b", "/a", "b"),
        ("/a/b/c", "/a/b", "c"),
        ("/a/b/", "/a", "b"),
        ("/cafe\u0301/x", "/caf\u00e9", "x"),
    ],
)
def test_parent_and_name(path: str, parent: str, name: str) -> None:
    assert parent_and_name(path) == (parent, name)


@pytest.mark.parametrize("path", ["/", "relative", "/a/../b", "/a//b"])
def test_parent_and_name_refuses(path: str) -> None:
    with pytest.raises(InvalidPath):
        parent_and_name(path)


@pytest.mark.parametrize(
    ("parent", "name", "expected"),
    [("/", "a", "/a"), ("/a", "b", "/a/b"), ("/a/b", "c", "/a/b/c"), ("/a/", "b", "/a/b")],
)
def test_join(parent: str, name: str, expected: str) -> None:
    assert join(parent, name) == expected


@settings(max_examples=200)
@given(paths, names)
def test_join_and_parent_and_name_are_inverse(parent: str, name: str) -> None:
    child = join(parent, name)
    assert normalize_path(child) == child
    assert parent_and_name(child) == (parent, name)
    assert is_within(child, parent)
    assert not is_within(parent, child)
