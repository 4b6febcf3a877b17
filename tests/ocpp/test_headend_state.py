"""The OCPP head-end's state file: a stop during a commit, and the retention of finished jobs.

Real SQLite files, the real server (in a thread, or ``reconciler ocpp serve`` as a
subprocess stopped with SIGTERM), fake chargers over loopback WebSockets and
simulated ones (:mod:`reconciler.testing.chargers`).
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from reconciler.drivers.base import JobRequest
from reconciler.headends.ocpp.records import Event
from reconciler.headends.ocpp.state import Store
from reconciler.testing.chargers import running_chargers
from reconciler.testing.ocpp_headend import HeadendHandle, headend_process, running_headend
from tests.ocpp.charger_doubles import Fake16, connect, driver_for, final_status, run, until

pytestmark = pytest.mark.timeout(120)


def test_close_while_a_commit_runs_in_the_writer_thread_commits_everything(
    tmp_path: Path,
) -> None:
    """The final commit waits for the one in flight (it used to start a transaction inside it)."""

    async def scenario() -> None:
        store = Store(tmp_path / "state.db")
        store.load()
        store.start()
        for seq in range(1, 50_001):  # a commit that takes a while in its thread
            store.event_added(Event(seq, f"CP-{seq}", "connected", "2024-01-01T00:00:00Z"))
        syncing = asyncio.create_task(store.sync())
        while store._has_pending():  # the writer took the batch: its thread is writing it
            await asyncio.sleep(0)
        store.event_added(Event(50_001, "CP-last", "connected", "2024-01-01T00:00:00Z"))
        await store.close()  # raised "cannot start a transaction within a transaction"
        await syncing

    run(scenario())
    again = Store(tmp_path / "state.db")
    events = again.load()[2]
    assert len(events) == 50_001 and events[-1].gateway_id == "CP-last"
    again.db.close()


def _api(handle: HeadendHandle, path: str, body: Any) -> Any:
    request = urllib.request.Request(
        handle.api_url + path,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {handle.token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def test_sigterm_during_a_rollout_to_connected_chargers_stops_cleanly(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    with (
        headend_process(state, "--accept-unknown") as h,
        running_chargers(h.ocpp_url.rstrip("/"), count=300, protocol="mixed") as chargers,
    ):
        chargers.wait_connected(timeout=90)
        values = {
            "ocpp1.6": {"HeartbeatInterval": 120, "WebSocketPingInterval": 30},
            "ocpp2.0.1": {"OCPPCommCtrlr.HeartbeatInterval": 120},
        }
        jobs = [
            {
                "gateway_id": ident,
                "parameters": values[chargers.fleet.chargers[ident].protocol],
                "idempotency_key": f"k-{ident}",
            }
            for ident in chargers.ids
        ]
        answer = _api(h, "/api/v1/jobs:batch", {"jobs": jobs})
        ids = [result["job_id"] for result in answer["results"]]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # stop mid-rollout: some jobs done, not all
            statuses = _api(h, "/api/v1/jobs:status", {"job_ids": ids})["jobs"]
            if any(s["status"] == "accepted" for s in statuses):
                break
            time.sleep(0.01)
        assert h.process is not None
        h.process.send_signal(signal.SIGTERM)
        assert h.process.wait(timeout=30) == 0
        assert h.process.stderr is not None
        errors = h.process.stderr.read()
    assert "error" not in errors.lower(), errors[-2000:]
    with sqlite3.connect(state) as db:  # committed and readable
        assert db.execute("SELECT count(*) FROM jobs").fetchone() == (300,)


def test_finished_jobs_and_their_keys_are_dropped_after_the_retention(tmp_path: Path) -> None:
    state = tmp_path / "state.db"

    def rows() -> list[str]:
        with sqlite3.connect(state) as db:
            return [row[0] for row in db.execute("SELECT job_id FROM jobs")]

    async def scenario(h: HeadendHandle) -> None:
        async with connect(h.ocpp_url, "CP-1", Fake16) as cp, driver_for(h) as driver:
            await cp.boot()
            request = JobRequest("CP-1", {"HeartbeatInterval": 77}, "key-1")
            first = str((await driver.submit_job(request)).job_id)
            assert (await final_status(driver, first)).status == "accepted"
            open_job = await driver.submit_job(JobRequest("CP-2", {"HeartbeatInterval": 1}, "k2"))
            assert open_job.job_id is not None  # CP-2 never connects: stays requested

            async def forgotten() -> bool:
                return not await driver.job_status([first]) and first not in rows()

            await until(forgotten, 30)
            # The open job is kept however old; the key of the dropped one is free again.
            (kept,) = await driver.job_status([str(open_job.job_id)])
            assert kept.status == "requested"
            again = str((await driver.submit_job(request)).job_id)
            assert again != first
            assert (await final_status(driver, again)).status == "accepted"

    # CP-2 must be known for its job to be accepted: connect it once, briefly.
    async def known(h: HeadendHandle) -> None:
        async with connect(h.ocpp_url, "CP-2", Fake16) as cp:
            await cp.boot()

    with running_headend(state, accept_unknown=True, job_retention_s=0.5, prune_s=0.1) as h:
        run(known(h))
        run(scenario(h))
