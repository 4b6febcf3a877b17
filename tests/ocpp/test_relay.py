"""Relay mode with fake chargers: raw frames both ways, one call at a time, outages, close codes, intervals.

Real WebSockets over loopback: a fake charger (:mod:`tests.ocpp.charger_doubles`)
-> the head-end (``upstream=...``) -> the test upstream central system
(:mod:`tests.ocpp.upstream`), which sends calls of its own while the head-end
runs a job on the same charger.
"""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from ocpp.exceptions import InternalError
from ocpp.v16 import call as call16

from reconciler.drivers.base import JobRequest
from reconciler.testing.ocpp_headend import HeadendHandle, running_headend
from tests.ocpp.charger_doubles import Fake16, Fake201, connect, driver_for, final_status, run
from tests.ocpp.e2e import PROFILE_16, flat
from tests.ocpp.upstream import Upstream

pytestmark = pytest.mark.timeout(90)

RELAY = {"accept_unknown": True, "upstream_wait_s": 1.0, "upstream_retry_max_s": 0.3}
CONFIG_16 = {f"Key{i}": "0" for i in range(8)} | {"HeartbeatInterval": "300"}
CONFIG_201 = {"OCPPCommCtrlr.HeartbeatInterval": "300", "AlignedDataCtrlr.Interval": "0"}


def metrics(headend: HeadendHandle) -> str:
    with urllib.request.urlopen(headend.api_url + "/metrics", timeout=10) as answer:
        return str(answer.read().decode())


def sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in /metrics")


def recording(fake: Any) -> list[str]:
    """Every frame the fake charger sends, recorded (its ``_send`` wrapped)."""
    sent: list[str] = []
    original = fake._send

    async def send(message: str) -> None:
        sent.append(message)
        await original(message)

    fake._send = send
    return sent


async def _through_the_relay(tmp_path: Path, kind: type[Any], id_prefix: str | None) -> None:
    upstream = Upstream(interval=240, id_prefix=id_prefix)
    url = await upstream.start()
    with running_headend(tmp_path / "state.db", upstream=url, **RELAY) as headend:
        if kind is Fake16:
            fake_options: dict[str, Any] = {"config": CONFIG_16, "delay_s": 0.02}
            params: dict[str, Any] = flat(PROFILE_16)
        else:
            fake_options = {"config": CONFIG_201}
            params = {"OCPPCommCtrlr.HeartbeatInterval": 120}
        async with connect(headend.ocpp_url, "CP-R", kind, **fake_options) as fake:
            sent = recording(fake)
            boot = await fake.boot()
            assert boot.interval == 240  # the upstream's answer, relayed
            await upstream.until(lambda: upstream.seen_of("CP-R").of("BootNotification"))
            chatter = asyncio.create_task(upstream.chatter(0.01))
            try:
                await upstream.until(lambda: sum(upstream.outcomes.values()) >= 6)
                async with driver_for(headend) as driver:
                    job = await driver.submit_job(JobRequest("CP-R", params, "relay-1"))
                    status = await final_status(driver, job.job_id)
                await upstream.until(lambda: sum(upstream.outcomes.values()) >= 20)
            finally:
                chatter.cancel()
            assert status.status == "accepted", status
            await upstream.until(lambda: not upstream._busy)
            text = metrics(headend)
            assert (
                sample(text, 'reconciler_ocpp_relayed_messages_total{direction="to_charger"}') >= 20
            )
            assert sample(text, 'reconciler_ocpp_upstream_connections{state="connected"}') == 1
        assert fake.max_outstanding == 1  # never two calls at the charger at once
        assert upstream.outcomes["timeout"] == 0, upstream.outcomes
        raw_out = upstream.raw_out["CP-R"]
        raw_in = upstream.raw_in["CP-R"]
        upstream_calls = [f for f in raw_out if json.loads(f)[0] == 2]
        # Every upstream CALL reached the charger byte for byte, in order, among the head-end's.
        seen_by_charger = [f for f in fake.frames_in if f in set(upstream_calls)]
        assert seen_by_charger == upstream_calls
        head_end_calls = [
            f for f in fake.frames_in if json.loads(f)[0] == 2 and f not in set(upstream_calls)
        ]
        assert head_end_calls, "the head-end's job made calls"
        # What the upstream received is what the charger sent, minus its answers to the
        # head-end (the charger answers its calls in order, one at a time: pair them up).
        calls_in = [f for f in fake.frames_in if json.loads(f)[0] == 2]
        upstream_set = set(upstream_calls)
        answer_index = 0
        expected = []
        for frame in sent:
            if json.loads(frame)[0] == 2:
                expected.append(frame)
                continue
            if calls_in[answer_index] in upstream_set:
                expected.append(frame)
            answer_index += 1
        assert raw_in == expected
        # The upstream's answers to the charger's CALLs came back unchanged.
        answers = [f for f in raw_out if json.loads(f)[0] in (3, 4)]
        assert answers and all(a in fake.frames_in for a in answers)
    await upstream.stop()


def test_16_frames_pass_unchanged_and_one_call_at_a_time_with_colliding_ids(
    tmp_path: Path,
) -> None:
    run(_through_the_relay(tmp_path, Fake16, id_prefix="rcn-"))


def test_201_frames_pass_unchanged_and_one_call_at_a_time(tmp_path: Path) -> None:
    run(_through_the_relay(tmp_path, Fake201, id_prefix=None))


def test_an_upstream_outage_gets_bounded_callerrors_and_the_head_end_goes_on(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        upstream = Upstream()
        url = await upstream.start()
        port = upstream.port
        with running_headend(tmp_path / "state.db", upstream=url, **RELAY) as headend:
            async with connect(headend.ocpp_url, "CP-O", Fake16, config=CONFIG_16) as fake:
                await fake.boot()
                await upstream.until(lambda: upstream.seen_of("CP-O").connected)
                await upstream.kill()
                loop = asyncio.get_running_loop()
                started = loop.time()
                with pytest.raises(InternalError, match="upstream unavailable"):
                    await fake.call(call16.Heartbeat(), suppress=False)
                waited = loop.time() - started
                assert 0.9 <= waited < 5, waited
                # The head-end's own work goes on while the upstream is away.
                async with driver_for(headend) as driver:
                    job = await driver.submit_job(
                        JobRequest("CP-O", {"MeterValueSampleInterval": 30}, "outage-1")
                    )
                    assert (await final_status(driver, job.job_id)).status == "accepted"
                text = metrics(headend)
                assert sample(text, "reconciler_ocpp_upstream_timeouts_total") == 1
                assert sample(text, 'reconciler_ocpp_upstream_connections{state="connected"}') == 0
                await upstream.start(port)
                await upstream.until(lambda: upstream.connections_of("CP-O") == 2, timeout=20)
                await fake.call(call16.Heartbeat(), suppress=False)  # answered upstream again
                assert upstream.seen_of("CP-O").of("Heartbeat")
        await upstream.stop()

    run(scenario())


def test_an_upstream_close_frame_closes_the_charger_with_its_code_and_a_reconnect_relinks(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        upstream = Upstream()
        url = await upstream.start()
        with running_headend(tmp_path / "state.db", upstream=url, **RELAY) as headend:
            async with connect(headend.ocpp_url, "CP-C", Fake201) as fake:
                await fake.boot()
                await upstream.close_charger("CP-C", 4001, "go away")
                connection = fake._connection
                await asyncio.wait_for(connection.wait_closed(), 20)
                assert connection.close_code == 4001
            await upstream.until(lambda: not upstream.seen_of("CP-C").connected)
            async with connect(headend.ocpp_url, "CP-C", Fake201) as fake:
                await fake.boot()
                await upstream.until(lambda: upstream.connections_of("CP-C") == 2)
                assert len(upstream.seen_of("CP-C").of("BootNotification")) == 2
        await upstream.stop()

    run(scenario())


def test_a_boot_interval_from_the_upstream_that_differs_is_logged_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        upstream = Upstream(interval=300)
        url = await upstream.start()
        with running_headend(tmp_path / "state.db", upstream=url, **RELAY) as headend:
            async with connect(headend.ocpp_url, "CP-H", Fake16, config=CONFIG_16) as fake:
                await fake.boot()
                async with driver_for(headend) as driver:
                    job = await driver.submit_job(
                        JobRequest("CP-H", {"HeartbeatInterval": 600}, "hb-1")
                    )
                    assert (await final_status(driver, job.job_id)).status == "accepted"
                answer = await fake.boot()  # a reboot: the upstream's interval wins
                assert answer.interval == 300
                text = metrics(headend)
                assert sample(text, "reconciler_ocpp_upstream_interval_differs_total") == 1
        await upstream.stop()

    with caplog.at_level(logging.WARNING, logger="reconciler.headends.ocpp.relay"):
        run(scenario())
    assert any(
        "HeartbeatInterval 300 s" in r.getMessage() and "600" in r.getMessage()
        for r in caplog.records
    )
