"""selfdrive.store.keys: the keyring on disk."""

from __future__ import annotations

import base64
import io
import json
import stat
from pathlib import Path

import pytest

from selfdrive.store import keys as keys_module
from selfdrive.store.keys import KEY_BYTES, KeyringError, cpu_has_aes, create_key, load_keyring


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_first_load_creates_a_private_key_file(tmp_path: Path) -> None:
    folder = tmp_path / "data" / "keys"
    ring = load_keyring(folder, None)
    assert ring.current_id == 1
    assert list(ring.keys) == [1]
    assert len(ring.keys[1]) == KEY_BYTES
    assert sorted(p.name for p in folder.iterdir()) == ["key-0001.json"]
    assert mode(folder / "key-0001.json") == 0o600
    assert mode(folder) == 0o700
    record = json.loads((folder / "key-0001.json").read_text())
    assert record["protection"] == "none"
    assert base64.b64decode(record["key"]) == ring.keys[1]


def test_reload_gives_the_same_key(tmp_path: Path) -> None:
    first = load_keyring(tmp_path, None)
    second = load_keyring(tmp_path, None)
    assert second == first
    assert len(list(tmp_path.glob("key-*.json"))) == 1


def test_keys_are_random(tmp_path: Path) -> None:
    a = load_keyring(tmp_path / "a", None)
    b = load_keyring(tmp_path / "b", None)
    assert a.keys[1] != b.keys[1]


def test_an_existing_folder_is_made_private(tmp_path: Path) -> None:
    folder = tmp_path / "keys"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    load_keyring(folder, None)
    assert mode(folder) == 0o700


def test_the_highest_key_is_current(tmp_path: Path) -> None:
    first = load_keyring(tmp_path, None)
    create_key(tmp_path, 2, None)
    ring = load_keyring(tmp_path, None)
    assert ring.current_id == 2
    assert sorted(ring.keys) == [1, 2]
    assert ring.keys[1] == first.keys[1]
    assert ring.keys[2] != ring.keys[1]
    assert mode(tmp_path / "key-0002.json") == 0o600


def test_passphrase_protected_key(tmp_path: Path) -> None:
    ring = load_keyring(tmp_path, "correct horse battery staple")
    path = tmp_path / "key-0001.json"
    assert mode(path) == 0o600
    text = path.read_bytes()
    record = json.loads(text)
    assert record["protection"] == "scrypt"
    assert "key" not in record
    raw = ring.keys[1]
    assert len(raw) == KEY_BYTES
    assert raw not in text
    assert base64.b64encode(raw) not in text
    assert raw.hex().encode() not in text
    assert raw not in base64.b64decode(record["wrapped"])
    again = load_keyring(tmp_path, "correct horse battery staple")
    assert again == ring


def test_wrong_passphrase_is_refused(tmp_path: Path) -> None:
    load_keyring(tmp_path, "right")
    with pytest.raises(KeyringError):
        load_keyring(tmp_path, "wrong")


@pytest.mark.parametrize("missing", [None, ""])
def test_missing_passphrase_is_refused(tmp_path: Path, missing: str | None) -> None:
    load_keyring(tmp_path, "right")
    with pytest.raises(KeyringError):
        load_keyring(tmp_path, missing)


def test_unprotected_key_opens_with_or_without_passphrase(tmp_path: Path) -> None:
    ring = load_keyring(tmp_path, None)
    assert load_keyring(tmp_path, "anything") == ring


def test_unknown_protection_is_refused(tmp_path: Path) -> None:
    (tmp_path / "key-0001.json").write_text(
        json.dumps({"version": 1, "id": 1, "protection": "rot13", "key": ""})
    )
    with pytest.raises(KeyringError):
        load_keyring(tmp_path, None)


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b'{"version": 1, "id": 1, "prot',
        b"\x00\xff",
        b'{"version": 1, "id": 1, "protection": "none", "key": "AAAAAAAAAAAAAAAAAAAAAA=="}',
        b'{"version": 1, "id": 1, "protection": "none", "key": "!!!!"}',
    ],
    ids=["empty", "truncated", "binary", "short-key", "bad-base64"],
)
def test_damaged_key_file_is_a_keyring_error(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "key-0001.json").write_bytes(content)
    with pytest.raises(KeyringError):
        load_keyring(tmp_path, None)


def test_cpu_has_aes_returns_a_bool() -> None:
    assert isinstance(cpu_has_aes(), bool)


@pytest.mark.parametrize(
    ("cpuinfo", "expected"),
    [
        ("processor\t: 0\nflags\t\t: fpu vme sse2 aes avx\n", True),
        ("processor\t: 0\nflags\t\t: fpu vme sse2 avx\n", False),
        ("processor\t: 0\nflags\t\t: fpu vme aesni avx\n", False),  # a word, not a substring
        ("processor\t: 0\nFeatures\t: fp asimd evtstrm aes pmull sha1\n", True),
        ("processor\t: 0\nFeatures\t: fp asimd evtstrm crc32\n", False),
        ("model name\t: AMD with aes in its name\n", False),
    ],
)
def test_cpu_has_aes_reads_cpuinfo(
    monkeypatch: pytest.MonkeyPatch, cpuinfo: str, expected: bool
) -> None:
    monkeypatch.setattr(keys_module, "open", lambda *a, **k: io.StringIO(cpuinfo), raising=False)
    assert cpu_has_aes() is expected


def test_cpu_has_aes_assumes_yes_without_cpuinfo(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_proc(*args: object, **kwargs: object) -> io.StringIO:
        raise FileNotFoundError("/proc/cpuinfo")

    monkeypatch.setattr(keys_module, "open", no_proc, raising=False)
    assert cpu_has_aes() is True


def test_cpu_has_aes_agrees_with_this_machine() -> None:
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        pytest.skip("no /proc/cpuinfo here")
    words = {
        word
        for line in cpuinfo.read_text(errors="replace").splitlines()
        if line.split(":")[0].strip().lower() in ("flags", "features")
        for word in line.partition(":")[2].split()
    }
    assert cpu_has_aes() is ("aes" in words)


# --- the recovery copy (selfdrive key export) --------------------------------------------

def test_export_and_import_give_back_every_key(tmp_path: Path) -> None:
    from selfdrive.store.keys import export_keyring, import_keyring, install_keyring

    folder = tmp_path / "keys"
    load_keyring(folder, None)
    create_key(folder, 2, None)
    ring = load_keyring(folder, None)
    exported = export_keyring(ring, "a long passphrase")
    record = json.loads(exported)
    assert record["kdf"] == "argon2id" and record["memory_kib"] >= 64 * 1024
    assert base64.b64encode(ring.keys[1]).decode() not in exported.decode()
    back = import_keyring(exported, "a long passphrase")
    assert back == ring
    with pytest.raises(KeyringError, match="wrong passphrase"):
        import_keyring(exported, "another passphrase")
    damaged = exported.replace(record["wrapped"][:8].encode(), b"AAAAAAAA")
    with pytest.raises(KeyringError):
        import_keyring(damaged, "a long passphrase")
    with pytest.raises(KeyringError, match="not a key export"):
        import_keyring(b"{}", "a long passphrase")
    with pytest.raises(KeyringError, match="at least 8"):
        export_keyring(ring, "short")
    # installed into a new data dir, protected by that server's passphrase
    install_keyring(tmp_path / "new", back, "server passphrase")
    assert load_keyring(tmp_path / "new", "server passphrase") == ring
    with pytest.raises(KeyringError, match="already holds keys"):
        install_keyring(tmp_path / "new", back, None)
