"""The SQLite state store: round trips, transitions, migrations, and consistency after kill -9."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from reconciler.errors import StoreError
from reconciler.model.state import AppliedGateway, Status
from reconciler.store.migrations import MIGRATIONS, SCHEMA_VERSION
from reconciler.store.sqlite import SQLiteStore


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


def test_states_round_trip(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "state.db") as store:
        store.write(
            [
                state("LSX-1"),
                state("LSX-2", Status.DECLINED, reason="bad value", skipped=("X not in LSX",)),
            ]
        )
    with SQLiteStore(tmp_path / "state.db") as store:
        applied = store.applied()
    assert applied["LSX-1"] == state("LSX-1")
    assert applied["LSX-2"].reason == "bad value"
    assert applied["LSX-2"].skipped == ("X not in LSX",)


def test_every_status_change_is_recorded_as_a_transition(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "state.db") as store:
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


def test_rollouts_keep_their_commit_and_profile(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "state.db") as store:
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
        assert store.rollouts(active_only=True) == []


def test_forgotten_gateways_are_gone(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "state.db") as store:
        store.write([state("LSX-1"), state("LSX-2")])
        store.forget(["LSX-1"])
        assert set(store.applied()) == {"LSX-2"}


def test_the_secret_key_is_created_once_and_kept(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "state.db") as store:
        key = store.secret_key()
        assert len(key) == 32
    with SQLiteStore(tmp_path / "state.db") as store:
        assert store.secret_key() == key


def test_a_store_of_the_first_schema_version_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0] + "; PRAGMA user_version=1;")
    db.execute(
        "INSERT INTO gateways (gateway_id, type, firmware, profile, status, accepted, target, updated_at) "
        "VALUES ('LSX-1', 'LSX', '2.0.0', 'public-ac', 'Accepted', '{\"HeartbeatInterval\": 600}', '{}', 3.0)"
    )
    db.commit()
    db.close()
    with SQLiteStore(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        migrated = store.applied()["LSX-1"]
    assert migrated.accepted == {"HeartbeatInterval": 600}
    assert migrated.mismatch == {} and migrated.skipped == ()


def test_a_store_from_a_newer_release_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    SQLiteStore(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StoreError, match="newer"):
        SQLiteStore(path)


def test_read_only_opening_never_writes(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with SQLiteStore(path) as store:
        store.write([state("LSX-1")])
    with SQLiteStore(path, read_only=True) as store:
        assert set(store.applied()) == {"LSX-1"}
        with pytest.raises(sqlite3.OperationalError):
            store.write([state("LSX-2")])


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot open the state store"):
        SQLiteStore(path)


WRITER = textwrap.dedent(
    """
    import sys
    from reconciler.model.state import AppliedGateway, Status
    from reconciler.store.sqlite import SQLiteStore

    store = SQLiteStore(sys.argv[1])
    statuses = [Status.INITIAL, Status.REQUESTED, Status.SENT, Status.ACCEPTED]
    round = 0
    print("ready", flush=True)
    while True:
        round += 1
        status = statuses[round % 4]
        batch = [
            AppliedGateway(f"GW-{i}", "LSX", "2.0.0", "p", status, accepted={"round": round},
                           target={"round": round}, updated_at=float(round))
            for i in range(200)
        ]
        store.write(batch)
    """
)


@pytest.mark.parametrize("delay", [0.05, 0.13, 0.31])
def test_a_process_killed_at_any_instant_leaves_a_consistent_store(
    tmp_path: Path, delay: float
) -> None:
    path = tmp_path / "state.db"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout is not None
    assert writer.stdout.readline().strip() == "ready"
    time.sleep(delay)
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    writer.stdout.close()
    with SQLiteStore(path) as store:
        assert store.integrity_ok()
        applied = store.applied()
    # Each batch is one transaction: all 200 gateways carry the same round, never a mix.
    rounds = {s.accepted.get("round") for s in applied.values()}
    assert len(applied) in (0, 200)
    assert len(rounds) <= 1


def test_the_history_keeps_the_newest_transitions_of_each_gateway(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "state.db") as store:
        for round_number in range(10):
            for status in (Status.INITIAL, Status.ACCEPTED):
                store.write(
                    [state("LSX-1", status, updated_at=float(round_number)), state("LSX-2", status)]
                )
        assert store.prune_transitions(keep_per_gateway=3) == 20 + 20 - 6
        kept = store.transitions("LSX-1")
        assert [t.status for t in kept] == [Status.ACCEPTED, Status.INITIAL, Status.ACCEPTED]
        assert kept[-1].at == 9.0


def test_shared_configurations_are_stored_once(tmp_path: Path) -> None:
    big = {f"Key{i}": i for i in range(40)}
    with SQLiteStore(tmp_path / "state.db") as store:
        store.write([state(f"LSX-{i}", accepted=big, target=big) for i in range(100)])
        store.write([state(f"LSX-{i}", Status.SENT, accepted=big, target=big) for i in range(100)])
    db = sqlite3.connect(tmp_path / "state.db")
    assert db.execute("SELECT COUNT(*) FROM configs").fetchone()[0] == 1
    assert db.execute("SELECT DISTINCT accepted FROM gateways").fetchall()[0][0].startswith("@")
    db.close()
    with SQLiteStore(tmp_path / "state.db", read_only=True) as store:
        applied = store.applied()
    assert applied["LSX-7"].accepted == big
    assert applied["LSX-7"].accepted is applied["LSX-8"].accepted  # one shared, read-only object


def test_rows_written_before_version_4_keep_their_inline_configurations(tmp_path: Path) -> None:
    path = tmp_path / "v3.db"
    db = sqlite3.connect(path)
    db.executescript(";".join([*MIGRATIONS[:3], "PRAGMA user_version=3"]))
    db.execute(
        "INSERT INTO gateways (gateway_id, type, status, accepted, target, updated_at) "
        "VALUES ('LSX-1', 'LSX', 'Accepted', ?, '{}', 1.0)",
        (json.dumps({f"Key{i}": i for i in range(40)}),),
    )
    db.commit()
    db.close()
    with SQLiteStore(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert store.get("LSX-1").accepted["Key39"] == 39  # type: ignore[union-attr]


def test_the_report_reads_counts_ids_changes_and_summaries_without_configurations(
    tmp_path: Path,
) -> None:
    with SQLiteStore(tmp_path / "state.db") as store:
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
