"""The server speaks HTTPS (and HTTP/2) itself when given a certificate, says
HSTS when asked, and believes X-Forwarded-* only from trusted proxies."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import Server, cli, free_port


def self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_file.chmod(0o600)
    return cert_file, key_file


def test_https_with_http2_and_hsts(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    config = tmp_path / "selfdrive.toml"
    config.write_text(f'[server]\ntls_cert_file = "{cert}"\ntls_key_file = "{key}"\n'
                      "hsts = true\n")
    server = Server(data_dir=tmp_path / "data", env={"SELFDRIVE_CONFIG": str(config)},
                    scheme="https")
    server.start()
    try:
        trust = ssl.create_default_context(cafile=str(cert))
        with httpx.Client(base_url=server.base_url, verify=trust, http2=True) as client:
            r = client.get("/healthz")
            assert r.status_code == 200
            assert r.http_version == "HTTP/2"
            assert r.headers["strict-transport-security"].startswith("max-age=")
        with httpx.Client(base_url=server.base_url, verify=trust) as client:
            assert client.get("/healthz").http_version == "HTTP/1.1"
        # Plain HTTP on the HTTPS port is not served.
        try:
            plain = httpx.get(f"http://127.0.0.1:{server.port}/healthz", timeout=5)
            assert plain.status_code != 200
        except httpx.TransportError:
            pass
    finally:
        server.stop()


def test_tls_settings_must_be_readable_and_paired(tmp_path: Path) -> None:
    config = tmp_path / "selfdrive.toml"
    config.write_text(f'[server]\ntls_cert_file = "{tmp_path / "missing.pem"}"\n')
    done = cli("serve", "--port", str(free_port()), data=tmp_path / "data", check=False,
               env={"SELFDRIVE_CONFIG": str(config)})
    assert done.returncode != 0
    assert "tls_cert_file and server.tls_key_file go together" in done.stderr
    assert "Traceback" not in done.stderr


def test_forwarded_headers_only_from_trusted_proxies(tmp_path: Path) -> None:
    config = tmp_path / "selfdrive.toml"
    config.write_text('[server]\ntrusted_proxies = ["127.0.0.1"]\nhsts = true\n')
    server = Server(data_dir=tmp_path / "data", env={"SELFDRIVE_CONFIG": str(config)})
    server.start()
    try:
        token = server.token()
        dav = f"{server.base_url}/dav"
        headers = {"Authorization": f"Bearer {token}"}
        httpx.put(f"{dav}/a.txt", content=b"a", headers=headers)
        # The proxy says the client asked for https://drive.example.com/...:
        # a Destination naming that host is this server, and HSTS is sent.
        forwarded = {**headers, "X-Forwarded-Proto": "https",
                     "X-Forwarded-Host": "drive.example.com",
                     "X-Forwarded-For": "203.0.113.9"}
        r = httpx.request("MOVE", f"{dav}/a.txt", headers={
            **forwarded, "Destination": "https://drive.example.com/dav/b.txt"})
        assert r.status_code == 201, r.text
        assert "strict-transport-security" in r.headers
        plain = httpx.get(f"{server.base_url}/healthz")
        assert "strict-transport-security" not in plain.headers
    finally:
        server.stop()


def test_forwarded_headers_from_others_are_ignored(tmp_path: Path) -> None:
    config = tmp_path / "selfdrive.toml"
    config.write_text('[server]\ntrusted_proxies = ["10.9.9.9"]\nhsts = true\n')
    server = Server(data_dir=tmp_path / "data", env={"SELFDRIVE_CONFIG": str(config)})
    server.start()
    try:
        token = server.token()
        dav = f"{server.base_url}/dav"
        headers = {"Authorization": f"Bearer {token}", "X-Forwarded-Proto": "https",
                   "X-Forwarded-Host": "drive.example.com"}
        httpx.put(f"{dav}/a.txt", content=b"a", headers=headers)
        r = httpx.request("MOVE", f"{dav}/a.txt", headers={
            **headers, "Destination": "https://drive.example.com/dav/b.txt"})
        assert r.status_code == 502  # another server, as far as we know
        assert "strict-transport-security" not in r.headers
    finally:
        server.stop()
