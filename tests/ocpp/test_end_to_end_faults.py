"""The OCPP head-end under faults, end to end: kill -9 mid-rollout, chargers that drop, a hostile client.

Real processes and sockets: ``reconciler ocpp serve`` as a subprocess (so it can
be killed), simulated charge points in a thread, ``reconciler apply`` as a
command, and a raw ``websockets`` client for the hostile frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest
import websockets

from reconciler.testing.chargers import running_chargers
from reconciler.testing.ocpp_headend import headend_process, running_headend
from tests.ocpp.e2e import (
    PROFILE_16,
    PROFILE_201,
    TOKEN,
    apply_command,
    charger_types,
    flat,
    reconciler,
    wait_for,
    write_repo,
)

pytestmark = pytest.mark.timeout(300)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def connected_ids(api_url: str) -> set[str]:
    request = urllib.request.Request(
        api_url + "/api/v1/gateways?limit=500", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            items = json.loads(answer.read())["items"]
    except OSError:
        return set()
    return {g["id"] for g in items if g.get("connected")}


def env() -> dict[str, str]:
    return {**os.environ, "RECONCILER_HEADEND_TOKEN": TOKEN, "NO_COLOR": "1"}


def test_kill_9_of_the_headend_mid_rollout_resumes_without_duplicate_calls(
    tmp_path: Path,
) -> None:
    ocpp_port, api_port = free_port(), free_port()
    args = (
        "--listen-ocpp", f"127.0.0.1:{ocpp_port}", "--listen", f"127.0.0.1:{api_port}",
        "--accept-unknown",
    )  # fmt: skip
    state = tmp_path / "headend.db"
    url = f"ws://127.0.0.1:{ocpp_port}/ocpp"
    with running_chargers(url, count=20, protocol="mixed", slow_s=0.05) as chargers:
        with headend_process(state, *args, token=TOKEN) as headend:
            wait_for(lambda: connected_ids(headend.api_url) >= set(chargers.ids), timeout=60)
            types = dict(charger_types(chargers.ids))
            repo = tmp_path / "repo"
            write_repo(repo, types.items())
            apply = subprocess.Popen(
                apply_command(repo, headend.api_url, tmp_path / "state.db"),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env=env(),
            )
            try:
                wait_for(
                    lambda: chargers.counters()["total"].get("ChangeConfiguration", 0) >= 20,
                    what="the rollout under way",
                )
                assert headend.process is not None
                headend.process.kill()  # kill -9, mid-rollout
                headend.process.wait(10)
            except BaseException:
                apply.kill()
                raise
        try:
            with headend_process(state, *args, token=TOKEN) as again:
                output, _ = apply.communicate(timeout=180)
                assert apply.returncode == 0, output
                assert connected_ids(again.api_url) >= set(chargers.ids)
        finally:
            if apply.poll() is None:
                apply.kill()
        for charger_id, gateway_type in types.items():
            live = chargers.charger(charger_id)
            expected = flat(PROFILE_16 if gateway_type == "OCPP16" else PROFILE_201)
            assert {k: live["parameters"][k] for k in expected} == expected
            counters = live["counters"]
            if gateway_type == "OCPP16":
                # Keys answered before the kill are not sent again; the few whose answers were
                # not yet on disk may be replayed (idempotent): at most a handful per charger.
                assert len(expected) <= counters["ChangeConfiguration"] <= len(expected) + 3
            else:
                assert 1 <= counters["SetVariables"] <= 2


def test_a_charger_that_drops_mid_job_gets_the_rest_when_it_is_back(tmp_path: Path) -> None:
    with (
        running_headend(
            tmp_path / "headend.db", accept_unknown=True, token=TOKEN, call_timeout_s=5.0
        ) as headend,
        running_chargers(
            headend.ocpp_url.rstrip("/"), count=1, protocol="ocpp1.6", slow_s=0.3
        ) as chargers,
    ):
        wait_for(lambda: connected_ids(headend.api_url) >= set(chargers.ids))
        (charger_id,) = chargers.ids
        repo = tmp_path / "repo"
        write_repo(repo, [(charger_id, "OCPP16")], blocks={"OCPP16": PROFILE_16})
        apply = subprocess.Popen(
            apply_command(repo, headend.api_url, tmp_path / "state.db"),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env(),
        )
        try:
            wait_for(
                lambda: chargers.charger(charger_id)["counters"].get("ChangeConfiguration", 0) >= 2,
                what="the job under way",
            )
            chargers.disconnect(charger_id, for_s=2.0)
            output, _ = apply.communicate(timeout=120)
        finally:
            if apply.poll() is None:
                apply.kill()
        assert apply.returncode == 0, output
        live = chargers.charger(charger_id)
        expected = flat(PROFILE_16)
        assert {k: live["parameters"][k] for k in expected} == expected
        assert live["counters"]["ChangeConfiguration"] <= len(expected) + 1
        assert live["counters"]["connects"] >= 2


JUNK: list[str | bytes] = [
    "not json at all",
    "[2]",
    '[2, "j1", "NoSuchAction", {}]',
    '[2, "j2", "BootNotification", {"chargePointVendor": 7}]',
    '{"an": "object"}',
    '[9, "j3", "Heartbeat", {}]',
    '[3, "nobody-asked", {}]',
    "x" * 200_000,  # oversized: the server closes the connection
    b"\x00\x01binary",  # binary: the server closes the connection
]


def hostile(ocpp_url: str, frames: int, answers: list[str], stop: threading.Event) -> None:
    """Send ``frames`` junk frames, reconnecting whenever the server closes the connection."""

    async def run() -> None:
        sent = 0
        while sent < frames and not stop.is_set():
            try:
                async with websockets.connect(
                    ocpp_url + "EVIL-1",
                    subprotocols=["ocpp1.6"],
                    max_size=2**20,  # type: ignore[list-item]
                ) as ws:
                    while sent < frames:
                        await ws.send(JUNK[sent % len(JUNK)])
                        sent += 1
                        with contextlib.suppress(TimeoutError):
                            answers.append(str(await asyncio.wait_for(ws.recv(), 0.05)))
            except (websockets.ConnectionClosed, OSError, websockets.InvalidStatus):
                await asyncio.sleep(0.01)

    asyncio.run(run())


def test_a_hostile_client_does_not_disturb_100_chargers_rolling_out(tmp_path: Path) -> None:
    with (
        running_headend(tmp_path / "headend.db", accept_unknown=True, token=TOKEN) as headend,
        running_chargers(headend.ocpp_url.rstrip("/"), count=100, protocol="mixed") as chargers,
    ):
        wait_for(lambda: connected_ids(headend.api_url) >= set(chargers.ids), timeout=60)
        types = dict(charger_types(chargers.ids))
        repo = tmp_path / "repo"
        write_repo(repo, types.items())
        answers: list[str] = []
        stop = threading.Event()
        attacker = threading.Thread(target=hostile, args=(headend.ocpp_url, 1000, answers, stop))
        attacker.start()
        started = time.monotonic()
        try:
            done = subprocess.run(
                apply_command(repo, headend.api_url, tmp_path / "state.db"),
                capture_output=True,
                text=True,
                timeout=180,
                env=env(),
            )
        finally:
            attacker.join(120)
            stop.set()
        took = time.monotonic() - started
        assert done.returncode == 0, done.stdout + done.stderr
        assert not attacker.is_alive()
        errors = [json.loads(a) for a in answers if a.startswith("[4")]
        assert errors, "junk is answered with CALLERRORs"
        assert {e[0] for e in errors} == {4}
        for charger_id, gateway_type in types.items():
            expected = flat(PROFILE_16 if gateway_type == "OCPP16" else PROFILE_201)
            live = chargers.charger(charger_id)["parameters"]
            assert {k: live[k] for k in expected} == expected
        assert took < 120
        # The head-end is still whole: its API answers and every charger is still connected.
        assert connected_ids(headend.api_url) >= set(chargers.ids)
        status = reconciler(
            "status", str(repo), "--state", str(tmp_path / "state.db"), "--format", "json"
        )
        assert {m["status"] for m in json.loads(status.stdout)["members"]} == {"Accepted"}
