"""Framing attacks and slow or broken clients, on a raw socket."""

from __future__ import annotations

import socket

from tests.conftest import Server


def _raw(server: Server, request: bytes, *, read_timeout: float = 5) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=read_timeout) as s:
        s.sendall(request)
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
        except TimeoutError:
            out += b"<timeout>"
        return out


def test_content_length_with_transfer_encoding_is_refused(server: Server,
                                                          admin_token: str) -> None:
    smuggled = b"GET /api/v1/me HTTP/1.1\r\nHost: x\r\n\r\n"
    body = b"5\r\nhello\r\n0\r\n\r\n" + smuggled
    request = (
        b"PUT /api/v1/files/content?path=/smuggle.txt HTTP/1.1\r\nHost: x\r\n"
        b"Authorization: Bearer " + admin_token.encode() + b"\r\n"
        b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n" + body
    )
    out = _raw(server, request)
    assert out.startswith(b"HTTP/1.1 400")
    assert b"connection: close" in out.lower()
    assert out.count(b"HTTP/1.1") == 1, "the smuggled request must not be served"
    assert b"<timeout>" not in out


def test_body_shorter_than_content_length_stores_nothing(server: Server) -> None:
    _, token = server.add_user()
    request = (
        b"PUT /api/v1/files/content?path=/short.bin HTTP/1.1\r\nHost: x\r\n"
        b"Authorization: Bearer " + token.encode() + b"\r\nContent-Length: 100000\r\n\r\n"
        + b"x" * 5000
    )
    with socket.create_connection(("127.0.0.1", server.port)) as s:
        s.sendall(request)
        s.shutdown(socket.SHUT_WR)  # the client goes away mid-body
        s.settimeout(10)
        while s.recv(65536):
            pass
    with server.client(token) as c:
        assert c.get("/files/metadata", params={"path": "/short.bin"}).status_code == 404
        assert c.get("/me").json()["used_bytes"] == 0


def test_conflicting_content_lengths_are_refused(server: Server, admin_token: str) -> None:
    out = _raw(server, b"PUT /api/v1/files/content?path=/d.txt HTTP/1.1\r\nHost: x\r\n"
               b"Authorization: Bearer " + admin_token.encode() + b"\r\n"
               b"Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd")
    assert out.startswith(b"HTTP/1.1 400")
    with server.client(admin_token) as c:
        assert c.get("/files/metadata", params={"path": "/d.txt"}).status_code == 404


def test_refused_upload_closes_the_connection(server: Server) -> None:
    """A 507 before the body is read must not leave the client writing into a void."""
    _, token = server.add_user(quota="1000B")
    size = 200 * 1024 * 1024
    with socket.create_connection(("127.0.0.1", server.port), timeout=15) as s:
        s.sendall(
            b"PUT /api/v1/files/content?path=/big.bin HTTP/1.1\r\nHost: x\r\n"
            b"Authorization: Bearer " + token.encode() + b"\r\n"
            b"Content-Length: " + str(size).encode() + b"\r\n\r\n"
        )
        piece = b"\0" * 65536
        sent = 0
        try:
            while sent < size:
                s.sendall(piece)
                sent += len(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass
        except TimeoutError:
            raise AssertionError(f"the server stopped reading after {sent} bytes "
                                 "without closing the connection") from None
        answer = b""
        try:
            while chunk := s.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
    assert answer.startswith(b"HTTP/1.1 507"), answer[:200]
    assert b"quota_exceeded" in answer
