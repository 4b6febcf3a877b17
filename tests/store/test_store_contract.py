"""The StateStore contract, the same tests on every backend: SQLite and PostgreSQL.

Each test gets ``location``: a SQLite file, or a fresh PostgreSQL database
(real server, ``postgres_url``), and opens it with ``open_store`` as the
commands and the daemon do.  SQLite-only behaviour (files, WAL, locks,
migrations of old files) is in test_sqlite_store.py, PostgreSQL-only in
test_postgres_store.py.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from reconciler.errors import StoreError
from reconciler.model.state import AppliedGateway, Status
from reconciler.store import open_store, reading


@pytest.fixture(params=["sqlite", "postgresql"])
def location(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))  # where a PostgreSQL key file goes
    if request.param == "sqlite":
        return str(tmp_path / "state.db")
    return str(request.getfixturevalue("postgres_url"))


def state(gateway_id: str, status: Status = Status.ACCEPTED, **changes: object) -> AppliedGateway:
    values: dict[str, object] = {
        "gateway_id": gateway_id,
        "type": "LSX",
        "firmware": "2.0.0",
        "profile": "public-ac",
        "status": status,
        "accepted": {
            "HeartbeatInterval": 600,
            "AuthorizationKey": {"secret": "auth", "digest": "ab" * 32},
        },
        "target": {"HeartbeatInterval": 600},
        "updated_at": 1.5,
    }
    values.update(changes)
    return AppliedGateway(**values)  # type: ignore[arg-type]


def test_states_round_trip(location: str) -> None:
    with closing(open_store(location)) as store:
        store.write(
            [
                state("LSX-1"),
                state("LSX-2", Status.DECLINED, reason="bad value", skipped=("X not in LSX",)),
            ]
        )
    with closing(open_store(location)) as store:
        applied = store.applied()
        assert store.get("LSX-1") == state("LSX-1")
        assert store.get("LSX-9") is None
    assert applied["LSX-1"] == state("LSX-1")
    assert applied["LSX-2"].reason == "bad value"
    assert applied["LSX-2"].skipped == ("X not in LSX",)


def test_every_status_change_is_recorded_as_a_transition(location: str) -> None:
    with closing(open_store(location)) as store:
        rollout = store.start_rollout("abc123", "public-ac", at=1.0)
        for status in (
            Status.INITIAL,
            Status.REQUESTED,
            Status.REQUESTED,
            Status.SENT,
            Status.ACCEPTED,
        ):
            store.write([state("LSX-1", status)], rollout_id=rollout)
        assert [t.status for t in store.transitions("LSX-1")] == [
            Status.INITIAL,
            Status.REQUESTED,
            Status.SENT,
            Status.ACCEPTED,
        ]
        assert store.transitions("LSX-1")[0].rollout_id == rollout
        assert store.get("LSX-1").rollout_id == rollout  # type: ignore[union-attr]
        assert len(store.transitions(limit=2)) == 2


def test_rollouts_keep_their_commit_and_profile(location: str) -> None:
    with closing(open_store(location)) as store:
        rollout = store.start_rollout("abc123", "public-ac", at=1.0)
        assert [r.rollout_id for r in store.rollouts(active_only=True)] == [rollout]
        store.finish_rollout(rollout, "aborted", at=2.0, reason="declined share 0.5 > 0.2")
        (done,) = store.rollouts()
        assert (done.commit, done.profile, done.state, done.reason) == (
            "abc123",
            "public-ac",
            "aborted",
            "declined share 0.5 > 0.2",
        )
        assert (done.started_at, done.finished_at) == (1.0, 2.0)
        assert store.rollouts(active_only=True) == []


def test_forgotten_gateways_are_gone(location: str) -> None:
    with closing(open_store(location)) as store:
        store.write([state("LSX-1"), state("LSX-2")])
        store.forget(["LSX-1"])
        assert set(store.applied()) == {"LSX-2"}
        store.write([state("LSX-1", Status.INITIAL)])  # back under management
        assert store.get("LSX-1").status is Status.INITIAL  # type: ignore[union-attr]


def test_the_secret_key_is_created_once_and_kept(location: str) -> None:
    with closing(open_store(location)) as store:
        assert store.stored_secret_key() is None
        key = store.secret_key()
        assert len(key) == 32
    with closing(open_store(location)) as store:
        assert store.secret_key() == key
    with closing(open_store(location, read_only=True)) as store:
        assert store.stored_secret_key() == key


def test_meta_values_are_kept_and_replaced(location: str) -> None:
    with closing(open_store(location)) as store:
        assert store.get_meta("inventory") is None
        store.set_meta("inventory", "a")
        store.set_meta("inventory", "b")
    with closing(open_store(location, read_only=True)) as store:
        assert store.get_meta("inventory") == "b"


def test_read_only_opening_never_writes(location: str) -> None:
    with closing(open_store(location)) as store:
        store.write([state("LSX-1")])
    with closing(open_store(location, read_only=True)) as store:
        assert set(store.applied()) == {"LSX-1"}
        with pytest.raises((StoreError, sqlite3.OperationalError)):
            store.write([state("LSX-2")])
        with pytest.raises(StoreError, match="no secret key yet"):
            store.secret_key()
    with closing(open_store(location)) as store:
        assert set(store.applied()) == {"LSX-1"}


def test_the_history_keeps_the_newest_transitions_of_each_gateway(location: str) -> None:
    with closing(open_store(location)) as store:
        for round_number in range(10):
            for status in (Status.INITIAL, Status.ACCEPTED):
                store.write(
                    [state("LSX-1", status, updated_at=float(round_number)), state("LSX-2", status)]
                )
        assert store.prune_transitions(keep_per_gateway=3) == 20 + 20 - 6
        kept = store.transitions("LSX-1")
        assert [t.status for t in kept] == [Status.ACCEPTED, Status.INITIAL, Status.ACCEPTED]
        assert kept[-1].at == 9.0


def test_shared_configurations_are_read_as_one_object(location: str) -> None:
    big = {f"Key{i}": i for i in range(40)}
    with closing(open_store(location)) as store:
        store.write([state(f"LSX-{i}", accepted=big, target=big) for i in range(100)])
        store.write([state(f"LSX-{i}", Status.SENT, accepted=big, target=big) for i in range(100)])
    with closing(open_store(location, read_only=True)) as store:
        applied = store.applied()
    assert applied["LSX-7"].accepted == big and applied["LSX-7"].status is Status.SENT
    assert applied["LSX-7"].accepted is applied["LSX-8"].accepted  # one shared, read-only object


def test_the_report_reads_counts_ids_changes_and_summaries_without_configurations(
    location: str,
) -> None:
    with closing(open_store(location)) as store:
        assert (store.count(), store.stored_ids(), store.changed_since(0.0)) == (0, [], [])
        store.write(
            [
                AppliedGateway(
                    f"LSX-{n:06d}",
                    "LSX",
                    "1.1.0",
                    "workplace",
                    Status.ACCEPTED,
                    accepted={"HeartbeatInterval": 60},
                    skipped=("LightIntensity not in LSX 1.1.0",),
                    reboot_pending=("HeartbeatInterval",),
                    updated_at=float(n),
                )
                for n in range(1200)
            ]
        )
        assert store.count() == 1200
        assert sorted(store.stored_ids()) == [f"LSX-{n:06d}" for n in range(1200)]
        assert sorted(store.changed_since(1198.0)) == ["LSX-001198", "LSX-001199"]
        wanted = [f"LSX-{n:06d}" for n in range(0, 1200, 2)] + ["LSX-999999"]
        found = store.summaries(wanted)
        assert set(found) == set(wanted[:-1]), "more than one chunk of ids, the unknown left out"
        one = found["LSX-000010"]
        full = store.get("LSX-000010")
        assert full is not None and full.accepted == {"HeartbeatInterval": 60}
        assert one == dataclasses.replace(full, accepted={}, target={}, send={}, mismatch={})


def test_reading_in_one_go_returns_states_rollouts_and_key(location: str) -> None:
    with closing(open_store(location)) as store:
        rollout = store.start_rollout("abc", "canary", 1.0)
        store.write([state("LSX-1", Status.SENT, rollout_id=rollout)])
        key = store.secret_key()
    found = reading.read_state(location)
    assert found is not None
    assert set(found.applied) == {"LSX-1"} and [r.rollout_id for r in found.rollouts] == [rollout]
    assert found.secret_key == key
