"""The state directory is private, and the secret digest key never sits in the database.

A copy of ``state.db`` (a backup, a file handed to ``plan --state``) must not
let anyone test guesses of a secret against its digests: the key lives in
``state.db.key``.  Every file of the store is 0600 and every folder it creates 0700.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from reconciler.errors import StoreError
from reconciler.model.state import AppliedGateway, Status
from reconciler.plan.values import keyed_digest
from reconciler.store import open_store, reading
from reconciler.store.keys import KEY_FILE_VARIABLE, LEGACY_META_KEY
from reconciler.store.sqlite import SQLiteStore

PIN = "4711"


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def store_files(path: Path) -> list[Path]:
    """The database and its WAL and shared-memory files, those that exist."""
    return [p for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()]


def holding(key: bytes, path: Path) -> list[str]:
    """The files of the database that contain ``key``, raw or as hex digits (either case)."""
    needles = (key, key.hex().encode(), key.hex().upper().encode())
    return [p.name for p in store_files(path) if any(n in p.read_bytes() for n in needles)]


def with_pin(key: bytes, gateway_id: str = "LSX-1") -> AppliedGateway:
    digest = keyed_digest(key, PIN)
    sealed = {"secret": "pin", "digest": digest}
    return AppliedGateway(
        gateway_id, "LSX", "2.0.0", "canary", Status.ACCEPTED, accepted={"Pin": sealed}
    )


@pytest.fixture(autouse=True)
def umask() -> Iterator[None]:
    """The usual umask (022): without our care, files would be 0644 and folders 0755."""
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.fixture(autouse=True)
def no_key_file_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_FILE_VARIABLE, raising=False)


def test_the_database_holds_no_key_material_and_digests_stay_stable_across_reopen(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    with closing(open_store(path)) as store:
        key = store.secret_key()
        store.write([with_pin(key)])
        assert holding(key, path) == []  # nor in the WAL while the store is open
    assert holding(key, path) == []
    assert Path(f"{path}.key").read_text() == key.hex() + "\n"
    with closing(open_store(path)) as store:
        assert store.secret_key() == key
        stored = store.get("LSX-1")
        assert stored is not None
        assert stored.accepted["Pin"]["digest"] == keyed_digest(store.secret_key(), PIN)
    state = reading.read_state(path)
    assert state is not None and state.secret_key == key


def test_a_copy_of_the_database_alone_has_no_key_to_test_guesses_with(tmp_path: Path) -> None:
    path = tmp_path / "state" / "state.db"
    with closing(open_store(path)) as store:
        store.write([with_pin(store.secret_key())])
    copy = tmp_path / "copy" / "state.db"
    copy.parent.mkdir()
    sqlite3.connect(path).execute(f"VACUUM INTO '{copy}'")  # the backup the docs describe
    state = reading.read_state(copy)
    assert state is not None and state.secret_key is None  # plans compare secrets by name
    assert state.applied["LSX-1"].accepted["Pin"]["digest"] is not None


def test_a_key_an_earlier_release_kept_in_the_database_moves_to_the_key_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    key = os.urandom(32)
    with SQLiteStore(path) as old:  # the digests an earlier release stored, and its key row
        old.write([with_pin(key, f"LSX-{i}") for i in range(200)])
    db = sqlite3.connect(path)
    db.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (LEGACY_META_KEY, key.hex()))
    db.commit()
    db.close()
    assert holding(key, path) == ["state.db"]
    with closing(open_store(path, read_only=True)) as reader:  # reading never migrates
        assert reader.stored_secret_key() == key
    assert not Path(f"{path}.key").exists()

    with closing(open_store(path)) as store:
        assert store.secret_key() == key  # the stored digests stay comparable
        assert store.get_meta(LEGACY_META_KEY) is None
        assert holding(key, path) == []
    assert holding(key, path) == []
    assert Path(f"{path}.key").read_text().strip() == key.hex()
    with closing(open_store(path, read_only=True)) as reader:
        assert reader.stored_secret_key() == key
        assert len(reader.applied()) == 200


def test_a_lost_key_file_means_a_new_key_and_every_secret_pushed_once_more(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    with closing(open_store(path)) as store:
        key = store.secret_key()
    Path(f"{path}.key").unlink()
    with closing(open_store(path)) as store:
        assert store.stored_secret_key() is None
        assert store.secret_key() != key


def test_the_key_file_may_live_elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "secret-volume" / "state-key"
    elsewhere.parent.mkdir()
    monkeypatch.setenv(KEY_FILE_VARIABLE, str(elsewhere))
    path = tmp_path / "state" / "state.db"
    with closing(open_store(path)) as store:
        key = store.secret_key()
    assert elsewhere.read_text().strip() == key.hex() and mode(elsewhere) == 0o600
    assert not Path(f"{path}.key").exists()
    state = reading.read_state(path)
    assert state is not None and state.secret_key == key


def test_a_key_file_that_holds_no_key_is_a_one_line_store_error(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    Path(f"{path}.key").write_text("not hex\n")
    with closing(open_store(path)) as store, pytest.raises(StoreError) as raised:
        store.secret_key()
    assert f"{path}.key: not a secret key file" in str(raised.value)
    assert "\n" not in str(raised.value)


def test_the_store_its_wal_shm_key_and_lock_are_0600_and_new_folders_0700(
    tmp_path: Path,
) -> None:
    outer = mode(tmp_path)
    path = tmp_path / "var" / "reconciler" / "state.db"
    with closing(open_store(path)) as store:
        store.write([with_pin(store.secret_key())])
        names = {p.name: mode(p) for p in path.parent.iterdir()}
    assert names == {
        "state.db": 0o600,
        "state.db-wal": 0o600,
        "state.db-shm": 0o600,
        "state.db.key": 0o600,
        "state.db.lock": 0o600,
    }
    assert mode(path.parent) == 0o700 and mode(path.parent.parent) == 0o700
    assert mode(tmp_path) == outer  # a folder that existed is left as it is


def test_files_an_earlier_release_left_readable_are_made_private(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with closing(open_store(path)) as store:
        store.secret_key()
        keep_open = sqlite3.connect(path)  # keeps the WAL and the shared memory after close
        keep_open.execute("SELECT COUNT(*) FROM gateways").fetchone()
    try:
        files = [*store_files(path), Path(f"{path}.key"), Path(f"{path}.lock")]
        assert len(files) == 5
        for file in files:
            os.chmod(file, 0o644)
        open_store(path).close()
        assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    finally:
        keep_open.close()


def test_reading_a_store_changes_no_file_mode(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    open_store(path).close()
    shutil.copy(path, tmp_path / "other.db")
    os.chmod(tmp_path / "other.db", 0o644)
    assert reading.read_state(tmp_path / "other.db") is not None
    assert mode(tmp_path / "other.db") == 0o644
