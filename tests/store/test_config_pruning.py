"""The SQLite store's configurations table keeps only the rows some gateway refers to."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from reconciler.model.state import AppliedGateway, Status
from reconciler.store.sqlite import SQLiteStore


def big(version: int) -> dict[str, int]:
    """A configuration too long to stay inline: stored once, by hash."""
    return {f"Key{i}": version for i in range(20)}


def state(gateway_id: str, version: int, status: Status = Status.ACCEPTED) -> AppliedGateway:
    return AppliedGateway(
        gateway_id=gateway_id,
        type="LSX",
        firmware="2.0.0",
        profile="p",
        status=status,
        accepted=big(version),
        target=big(version + 1),
        mismatch=big(version + 2) if status is Status.MISMATCH else {},
        send=big(version + 3) if status is Status.SENT else {},
    )


def config_rows(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return int(db.execute("SELECT COUNT(*) FROM configs").fetchone()[0])
    finally:
        db.close()


def test_only_referenced_configurations_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with SQLiteStore(path) as store:
        for version in range(0, 200, 10):  # the fleet's configuration changes 20 times
            store.write([state(f"GW-{i}", version) for i in range(30)])
        store.write([state("GW-0", 1000, Status.MISMATCH), state("GW-1", 2000, Status.SENT)])
        assert config_rows(path) == 20 * 2 + 3 + 3
        # Live: 10 and 11 of version 190 (GW-2..29); 1000..1002 (GW-0); 2000, 2001, 2003 (GW-1).
        assert store.prune_configs() == 40 - 2
        assert config_rows(path) == 2 + 3 + 3
        assert store.prune_configs() == 0
        applied = store.applied()
    assert applied["GW-0"].mismatch == big(1002)
    assert applied["GW-1"].send == big(2003)
    assert applied["GW-29"].accepted == big(190)


def test_pruning_the_history_prunes_the_configurations_too(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with SQLiteStore(path) as store:
        for version in range(5):
            store.write([state("GW-1", version * 10)])
        store.forget(["GW-1"])
        store.write([state("GW-2", 500)])
        store.prune_transitions()
        assert config_rows(path) == 2


def test_a_configuration_used_again_after_a_prune_is_stored_again(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with SQLiteStore(path) as store:
        store.write([state("GW-1", 0)])
        store.write([state("GW-1", 100)])
        assert store.prune_configs() == 2  # version 0's accepted and target
        store.write([state("GW-1", 0)])  # back to the old configuration: its rows come back
        assert store.get("GW-1") == state("GW-1", 0)
    with SQLiteStore(path, read_only=True) as store:  # a fresh reader: no cached texts
        assert store.get("GW-1") == state("GW-1", 0)


PRUNER = textwrap.dedent(
    """
    import sys
    from reconciler.model.state import AppliedGateway, Status
    from reconciler.store.sqlite import SQLiteStore

    store = SQLiteStore(sys.argv[1])
    round = 0
    print("ready", flush=True)
    while True:
        round += 1
        config = {f"Key{i}": round for i in range(20)}
        store.write([
            AppliedGateway(f"GW-{i}", "LSX", "2.0.0", "p", Status.ACCEPTED, accepted=config,
                           target=config, updated_at=float(round))
            for i in range(100)
        ])
        store.prune_transitions(keep_per_gateway=2)
    """
)


@pytest.mark.parametrize("delay", [0.07, 0.23])
def test_a_process_killed_while_pruning_leaves_every_reference_whole(
    tmp_path: Path, delay: float
) -> None:
    path = tmp_path / "state.db"
    pruner = subprocess.Popen(
        [sys.executable, "-c", PRUNER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert pruner.stdout is not None
    assert pruner.stdout.readline().strip() == "ready"
    time.sleep(delay)
    os.kill(pruner.pid, signal.SIGKILL)
    pruner.wait()
    pruner.stdout.close()
    with SQLiteStore(path) as store:
        assert store.integrity_ok()
        applied = store.applied()  # raises if a row points at a deleted configuration
        rounds = {s.accepted["Key0"] for s in applied.values()}
        assert len(rounds) <= 1
        assert config_rows(path) <= 2  # the last round's, and one not yet pruned at most
