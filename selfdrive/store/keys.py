"""The keyring: the master keys that seal blocks, kept in ``<data>/keys/``.

Each key is a file ``key-NNNN.json`` (mode 0600) holding a random 256-bit key,
either as is (``"protection": "none"``: the disk must be stolen *with* the
data dir's keys folder to read anything) or wrapped with a key derived from a
passphrase by scrypt (``"protection": "scrypt"``), when SELFDRIVE_KEY_PASSPHRASE
is set at first start.  The highest id seals new blocks; older keys stay to
open old blocks.  Keys are never rewritten in place.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import msgspec
from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

KEY_BYTES = 32
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1


class KeyFile(msgspec.Struct, omit_defaults=True):
    version: int
    id: int
    protection: str  # "none" | "scrypt"
    key: str = ""  # base64, protection "none"
    salt: str = ""  # base64, protection "scrypt"
    nonce: str = ""
    wrapped: str = ""
    n: int = 0
    r: int = 0
    p: int = 0


class KeyringError(Exception):
    """The keyring cannot be opened (wrong passphrase, damaged file)."""


@dataclass(frozen=True)
class Keyring:
    keys: dict[int, bytes]
    current_id: int


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _kek(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=KEY_BYTES, n=n, r=r, p=p).derive(passphrase.encode())


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, path)
    dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def create_key(folder: Path, key_id: int, passphrase: str | None) -> None:
    write_key(folder, key_id, secrets.token_bytes(KEY_BYTES), passphrase)


def write_key(folder: Path, key_id: int, key: bytes, passphrase: str | None) -> None:
    """Write one master key to its file, wrapped if *passphrase* is given."""
    if passphrase:
        salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
        kek = _kek(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
        wrapped = AESGCM(kek).encrypt(nonce, key, b"selfdrive-key-%d" % key_id)
        record = KeyFile(
            version=1, id=key_id, protection="scrypt", salt=_b64(salt), nonce=_b64(nonce),
            wrapped=_b64(wrapped), n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
        )
    else:
        record = KeyFile(version=1, id=key_id, protection="none", key=_b64(key))
    _write_private(folder / f"key-{key_id:04d}.json", msgspec.json.encode(record))


def load_keyring(folder: Path, passphrase: str | None) -> Keyring:
    """Open the keyring, creating the first key if the folder has none."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    files = sorted(folder.glob("key-*.json"))
    if not files:
        create_key(folder, 1, passphrase)
        files = sorted(folder.glob("key-*.json"))
    keys: dict[int, bytes] = {}
    for path in files:
        try:
            record = msgspec.json.decode(path.read_bytes(), type=KeyFile)
        except (msgspec.DecodeError, OSError) as exc:
            raise KeyringError(f"{path.name} is damaged: {exc}") from None
        if record.protection == "none":
            keys[record.id] = _decode_key(path, record.key)
        elif record.protection == "scrypt":
            if not passphrase:
                raise KeyringError(f"{path.name} is protected: set SELFDRIVE_KEY_PASSPHRASE")
            kek = _kek(passphrase, base64.b64decode(record.salt), record.n, record.r, record.p)
            try:
                keys[record.id] = AESGCM(kek).decrypt(
                    base64.b64decode(record.nonce, validate=True),
                    base64.b64decode(record.wrapped, validate=True),
                    b"selfdrive-key-%d" % record.id,
                )
            except InvalidTag:
                raise KeyringError(f"wrong passphrase for {path.name}") from None
            except (ValueError, binascii.Error):
                raise KeyringError(f"{path.name} is damaged") from None
        else:
            raise KeyringError(f"{path.name}: unknown protection {record.protection!r}")
    return Keyring(keys=keys, current_id=max(keys))


class KeyExport(msgspec.Struct):
    """`selfdrive key export`: every master key, wrapped by a key derived from
    a passphrase with Argon2id (memory-hard: `EXPORT_MEMORY_KIB` per guess)."""

    format: str
    version: int
    kdf: str
    salt: str
    time_cost: int
    memory_kib: int
    parallelism: int
    nonce: str
    wrapped: str


EXPORT_FORMAT = "selfdrive-key-export"
EXPORT_TIME_COST, EXPORT_MEMORY_KIB, EXPORT_PARALLELISM = 3, 64 * 1024, 1
_EXPORT_AD = b"selfdrive key export v1"


def _export_kek(passphrase: str, salt: bytes, time_cost: int, memory_kib: int,
                parallelism: int) -> bytes:
    return hash_secret_raw(passphrase.encode(), salt, time_cost=time_cost,
                           memory_cost=memory_kib, parallelism=parallelism,
                           hash_len=KEY_BYTES, type=Type.ID)


def export_keyring(keyring: Keyring, passphrase: str) -> bytes:
    """The keyring as an export file's bytes (JSON), for a recovery copy."""
    if len(passphrase) < 8:
        raise KeyringError("the export passphrase must have at least 8 characters")
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    kek = _export_kek(passphrase, salt, EXPORT_TIME_COST, EXPORT_MEMORY_KIB, EXPORT_PARALLELISM)
    plain = msgspec.json.encode({str(i): _b64(k) for i, k in sorted(keyring.keys.items())})
    record = KeyExport(
        format=EXPORT_FORMAT, version=1, kdf="argon2id", salt=_b64(salt),
        time_cost=EXPORT_TIME_COST, memory_kib=EXPORT_MEMORY_KIB,
        parallelism=EXPORT_PARALLELISM, nonce=_b64(nonce),
        wrapped=_b64(AESGCM(kek).encrypt(nonce, plain, _EXPORT_AD)),
    )
    return msgspec.json.format(msgspec.json.encode(record)) + b"\n"


def import_keyring(data: bytes, passphrase: str) -> Keyring:
    """Open an export file's bytes; KeyringError names what is wrong."""
    try:
        record = msgspec.json.decode(data, type=KeyExport)
    except msgspec.DecodeError:
        raise KeyringError("not a key export of selfdrive (selfdrive key export)") from None
    if record.format != EXPORT_FORMAT or record.version != 1 or record.kdf != "argon2id":
        raise KeyringError("not a key export this selfdrive knows")
    if not (1 <= record.time_cost <= 100 and 8 <= record.memory_kib <= 4 * 1024 * 1024
            and 1 <= record.parallelism <= 64):
        raise KeyringError("the key export's KDF parameters are out of range")
    try:
        kek = _export_kek(passphrase, base64.b64decode(record.salt, validate=True),
                          record.time_cost, record.memory_kib, record.parallelism)
        plain = AESGCM(kek).decrypt(base64.b64decode(record.nonce, validate=True),
                                    base64.b64decode(record.wrapped, validate=True),
                                    _EXPORT_AD)
    except InvalidTag:
        raise KeyringError("wrong passphrase for the key export") from None
    except (ValueError, binascii.Error):
        raise KeyringError("the key export is damaged") from None
    keys = {int(i): base64.b64decode(k) for i, k in
            msgspec.json.decode(plain, type=dict[str, str]).items()}
    if not keys or any(len(k) != KEY_BYTES for k in keys.values()):
        raise KeyringError("the key export is damaged")
    return Keyring(keys=keys, current_id=max(keys))


def install_keyring(folder: Path, keyring: Keyring, passphrase: str | None) -> None:
    """Write every key of *keyring* into an empty keys folder (a restore)."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if list(folder.glob("key-*.json")):
        raise KeyringError(f"{folder} already holds keys: restore into a new data dir")
    for key_id, key in sorted(keyring.keys.items()):
        write_key(folder, key_id, key, passphrase)


def derived_key(keyring: Keyring, purpose: str) -> bytes:
    """A 256-bit key for *purpose* (e.g. signing link grants), derived with
    HKDF-SHA256 from the oldest master key, which is never rewritten or
    retired: the same on every start, protected like the master keys, and
    useless for opening blocks."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None,
                info=b"selfdrive derived key: " + purpose.encode())
    return hkdf.derive(keyring.keys[min(keyring.keys)])


def _decode_key(path: Path, text: str) -> bytes:
    try:
        key = base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        raise KeyringError(f"{path.name} is damaged: the key is not base64") from None
    if len(key) != KEY_BYTES:
        raise KeyringError(f"{path.name} is damaged: the key is {len(key)} bytes, not 32")
    return key


def cpu_has_aes() -> bool:
    """True if the CPU has AES instructions (x86 'aes', ARM 'aes' feature)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip().lower() in ("flags", "features") and "aes" in value.split():
                    return True
    except OSError:
        # Not Linux: AES-NI is on every x86-64 and Apple CPU still supported.
        return True
    return False
