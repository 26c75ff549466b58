"""Fixtures of the HTTP tests: the people of the public link tests."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import Server
from tests.http.linkkit import Person


@pytest.fixture(scope="module")
def alice(server: Server) -> Iterator[Person]:
    name, token = server.add_user()
    with server.client(token) as c:
        yield Person(name, c)


@pytest.fixture(scope="module")
def bob(server: Server) -> Iterator[Person]:
    name, token = server.add_user()
    with server.client(token) as c:
        yield Person(name, c)


@pytest.fixture
def visitor(server: Server) -> Iterator[httpx.Client]:
    """Someone with no account, a browser's cookie jar, and the URL."""
    with httpx.Client(base_url=server.base_url, timeout=30) as c:
        yield c
