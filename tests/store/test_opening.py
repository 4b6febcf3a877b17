"""Opening a store the one way (``open_store``), reading it read-only in one go, the stored secret key."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import pytest

from reconciler.errors import ReconcilerError, StoreError
from reconciler.model.state import AppliedGateway, Status
from reconciler.store import open_store, reading
from reconciler.store.migrations import SCHEMA_VERSION
from reconciler.store.sqlite import SQLiteStore


def gateway(gateway_id: str, status: Status, rollout_id: int | None = None) -> AppliedGateway:
    return AppliedGateway(gateway_id, "LSX", "2.0.0", "canary", status, rollout_id=rollout_id)


def test_a_writable_store_is_created_with_its_folder_and_migrated(tmp_path: Path) -> None:
    path = tmp_path / "state" / "state.db"
    with closing(open_store(path)) as store:
        store.write([gateway("LSX-1", Status.ACCEPTED)])
    with SQLiteStore(path, read_only=True) as opened:
        assert opened.schema_version == SCHEMA_VERSION


def test_a_sqlite_url_names_the_same_file_as_its_path(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with closing(open_store(path)) as store:
        store.write([gateway("LSX-1", Status.ACCEPTED)])
    with closing(open_store(f"sqlite:///{path}", read_only=True)) as store:
        assert set(store.applied()) == {"LSX-1"}


def test_another_url_scheme_is_a_store_error() -> None:
    with pytest.raises(StoreError, match=r"mysql://\.\.\.: no such state store backend"):
        open_store("mysql://db.example/reconciler")


def test_read_only_opening_of_a_missing_file_is_an_error_and_creates_nothing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "absent.db"
    with pytest.raises(StoreError, match="no state store there"):
        open_store(path, read_only=True)
    assert not path.exists()


@pytest.mark.parametrize("read_only", [False, True])
def test_a_file_that_is_no_store_is_a_one_line_store_error(tmp_path: Path, read_only: bool) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError) as raised:
        open_store(path, read_only=read_only)
    assert str(path) in str(raised.value) and "\n" not in str(raised.value)
    assert isinstance(raised.value, ReconcilerError)


def test_the_stored_secret_key_is_none_until_created_and_never_written_by_reading(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    with closing(open_store(path)) as store:
        assert store.stored_secret_key() is None
    with closing(open_store(path, read_only=True)) as store:
        assert store.stored_secret_key() is None
    with closing(open_store(path)) as store:
        key = store.secret_key()
        assert store.stored_secret_key() == key
    with closing(open_store(path, read_only=True)) as store:
        assert store.stored_secret_key() == key


def test_reading_a_missing_store_means_nothing_applied_and_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "absent.db"
    assert reading.read_state(path) is None
    assert not path.exists()


def test_reading_a_store_returns_states_rollouts_and_key_in_one_go(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with closing(open_store(path)) as store:
        rollout = store.start_rollout("abc", "canary", 1.0)
        store.write([gateway("LSX-1", Status.SENT, rollout)])
        key = store.secret_key()
    state = reading.read_state(path)
    assert state is not None
    assert set(state.applied) == {"LSX-1"} and [r.rollout_id for r in state.rollouts] == [rollout]
    assert state.secret_key == key


def test_a_profiles_latest_aborted_rollout_is_reported_with_the_members_left_initial(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    with closing(open_store(path)) as store:
        old = store.start_rollout("a", "canary", 1.0)
        store.finish_rollout(old, "aborted", 2.0, "declined 5 of 20")
        latest = store.start_rollout("b", "canary", 3.0)
        store.finish_rollout(latest, "aborted", 4.0, "declined 3 of 10")
        done = store.start_rollout("b", "public-ac", 3.0)
        store.finish_rollout(done, "finished", 4.0)
        store.write(
            [
                gateway("LSX-1", Status.INITIAL, latest),
                gateway("LSX-2", Status.INITIAL, latest),
                gateway("LSX-3", Status.DECLINED, latest),
                gateway("LSX-4", Status.INITIAL, old),
            ]
        )
    state = reading.read_state(path)
    assert state is not None
    [aborted] = state.aborted()
    assert aborted.rollout.rollout_id == latest and aborted.rollout.reason == "declined 3 of 10"
    assert aborted.waiting == 2
