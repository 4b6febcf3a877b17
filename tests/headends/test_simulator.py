"""The simulator itself: raw requests it must refuse, its admin endpoints, its command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Any

import pytest

from reconciler.testing import SimulatorHandle
from tests.drivers.helpers import TOKEN


def post(sim: SimulatorHandle, path: str, body: Any, token: str = TOKEN) -> tuple[int, Any]:
    request = urllib.request.Request(
        sim.url + path,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def job(n: int) -> dict[str, Any]:
    return {
        "gateway_id": "LSX-000000",
        "parameters": {"HeartbeatInterval": 60},
        "idempotency_key": f"k{n}",
    }


def test_a_raw_batch_of_501_entries_is_refused_whole_with_422(simulator: SimulatorHandle) -> None:
    status, body = post(simulator, "/api/v1/jobs:batch", {"jobs": [job(n) for n in range(501)]})
    assert status == 422
    assert "1..500" in body["error"]["message"]
    assert simulator.counters()["jobs_created"] == 0


def test_a_batch_of_exactly_500_entries_is_taken(simulator: SimulatorHandle) -> None:
    status, body = post(simulator, "/api/v1/jobs:batch", {"jobs": [job(n) for n in range(500)]})
    assert status == 200
    assert len(body["results"]) == 500


@pytest.mark.parametrize(
    ("path", "body"),
    [
        pytest.param("/api/v1/jobs", {"gateway_id": "LSX-000000"}, id="job without parameters"),
        pytest.param("/api/v1/jobs", [], id="job not an object"),
        pytest.param("/api/v1/jobs:batch", {"jobs": []}, id="empty batch"),
        pytest.param("/api/v1/jobs:status", {"job_ids": "job-1"}, id="ids not a list"),
        pytest.param("/api/v1/gateways:config", {"ids": ["LSX-000000"]}, id="wrong key"),
    ],
)
def test_malformed_bodies_are_refused_with_422(
    simulator: SimulatorHandle, path: str, body: Any
) -> None:
    status, answer = post(simulator, path, body)
    assert status == 422
    assert answer["error"]["code"] == "malformed"


def test_a_wrong_token_is_refused_with_401(simulator: SimulatorHandle) -> None:
    status, answer = post(simulator, "/api/v1/jobs:status", {"job_ids": ["x"]}, token="nope")
    assert status == 401
    assert answer["error"]["code"] == "unauthorized"


def test_an_idempotency_key_reused_for_another_gateway_is_a_conflict(
    simulator: SimulatorHandle,
) -> None:
    other = {**job(1), "gateway_id": "LSG-000001"}
    status, body = post(simulator, "/api/v1/jobs:batch", {"jobs": [job(1), other]})
    assert status == 200
    assert body["results"][1]["error"]["code"] == "conflict"


def test_fault_settings_change_at_run_time_and_bad_ones_are_refused(
    simulator: SimulatorHandle,
) -> None:
    assert simulator.set_faults(error_rate=0.5)["error_rate"] == 0.5
    with pytest.raises(urllib.error.HTTPError) as caught:
        simulator.set_faults(error_rate="high")
    caught.value.close()
    assert caught.value.code == 422


def test_the_simulate_command_prints_its_url_and_stops_on_sigterm() -> None:
    env = {**os.environ, "RECONCILER_FLEET": "10", "RECONCILER_HEADEND_TOKEN": TOKEN}
    process = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "simulate", "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "serving 10 gateways at http://127.0.0.1:" in line
        url = line.rsplit(" ", 1)[1].strip()
        status, body = post(
            SimulatorHandle(url, TOKEN), "/api/v1/gateways:config", {"gateway_ids": ["LSX-000000"]}
        )
        assert status == 200
        assert body["configs"][0]["gateway_id"] == "LSX-000000"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert "stopped" in process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()
