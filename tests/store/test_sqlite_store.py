"""The SQLite state store only: migrations, files that are no store, configurations stored once, kill -9.

The behaviour every backend shares is tested on SQLite and PostgreSQL alike in
test_store_contract.py."""

from __future__ import annotations

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
from reconciler.model.state import Status
from reconciler.store.migrations import MIGRATIONS, SCHEMA_VERSION
from reconciler.store.sqlite import SQLiteStore
from tests.store.test_store_contract import state


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
