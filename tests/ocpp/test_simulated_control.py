"""The simulated charge points' control API and CLI: over HTTP from another thread, and
``reconciler ocpp simulate`` as a subprocess stopped with SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from click.testing import CliRunner
from ocpp.v16 import call

from reconciler.cli.ocpp_simulate import command
from reconciler.testing.chargers import ChargersHandle, running_chargers
from tests.ocpp.csms import Csms
from tests.ocpp.test_simulated_chargers import CP, booted, config, run


def test_the_control_api_drives_the_chargers() -> None:
    async def scenario() -> None:
        csms = Csms()
        async with csms.serving() as url:
            # The chargers run in their own thread; blocking calls to them go through to_thread
            # so that this loop (the central system's) keeps answering them.
            context = running_chargers(url, count=2, protocol="mixed")
            handle: ChargersHandle = await asyncio.to_thread(context.__enter__)
            try:
                await booted(csms)
                status = await asyncio.to_thread(handle.wait_connected)
                assert status == {"chargers": 2, "connected": 2, "booted": 2, "busy": 0}
                assert await asyncio.to_thread(handle.transaction, CP, True) is True
                await csms.until(lambda: csms.seen_of(CP).of("StartTransaction"))
                view = await asyncio.to_thread(handle.charger, CP)
                assert view["busy"] and view["protocol"] == "ocpp1.6"
                assert view["parameters"]["HeartbeatInterval"] == 300
                assert "AuthorizationKey" not in view["parameters"]
                assert await asyncio.to_thread(handle.transaction, CP, False) is True

                await asyncio.to_thread(handle.drift, CP, {"BlinkRepeat": 9})
                answer = await csms.call(CP, call.GetConfiguration(key=["BlinkRepeat"]))
                assert config(answer) == {"BlinkRepeat": "9"}

                chosen = await asyncio.to_thread(handle.faults, drop_answers=1, chargers=[CP])
                assert chosen == [CP]
                with pytest.raises(TimeoutError):
                    await csms.call(CP, call.ClearCache(), timeout=1.0)

                await asyncio.to_thread(handle.firmware, CP, "3.0.0")
                await booted(csms, boots=2)
                assert csms.seen_of(CP).of("BootNotification")[1]["firmware_version"] == "3.0.0"
                await asyncio.to_thread(handle.reboot, CP)
                await booted(csms, boots=3)
                await asyncio.to_thread(handle.disconnect, CP, 0.2)

                counters = await asyncio.to_thread(handle.counters)
                assert counters["total"]["boots"] == 4
                assert counters["chargers"][CP]["ClearCache"] == 1
                assert counters["chargers"][CP]["answers_dropped"] == 1
                with pytest.raises(urllib.error.HTTPError) as missing:
                    await asyncio.to_thread(handle.charger, "nobody")
                assert missing.value.code == 404
                missing.value.close()
                request = urllib.request.Request(
                    handle.url + "/faults",
                    data=b"[1]",
                    headers={"Content-Type": "application/json"},
                )
                with pytest.raises(urllib.error.HTTPError) as bad:
                    await asyncio.to_thread(urllib.request.urlopen, request, None, 10)
                assert bad.value.code == 422
                bad.value.close()
            finally:
                await asyncio.to_thread(context.__exit__, None, None, None)

    run(scenario)


def test_help_names_every_option() -> None:
    result = CliRunner().invoke(command, ["--help"])
    assert result.exit_code == 0
    for option in (
        "--connect",
        "--count",
        "--protocol",
        "--ids-from",
        "--password-secret",
        "--control",
        "--connect-rate",
    ):
        assert option in result.output


def test_the_command_runs_four_chargers_until_sigterm() -> None:
    async def scenario() -> None:
        csms = Csms()
        async with csms.serving() as url:
            env = {**os.environ, "RECONCILER_COUNT": "4"}
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "reconciler", "ocpp", "simulate", "--connect", url,
                "--control", "127.0.0.1:0",
                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )  # fmt: skip
            try:
                assert process.stdout is not None
                line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
                assert "simulating 4 OCPP charge points" in line
                control = line.rsplit("control API at ", 1)[1].strip()
                ids = [f"CP-{n:06d}" for n in range(4)]
                await csms.until(lambda: all(csms.seen_of(i).of("BootNotification") for i in ids))
                status = await asyncio.to_thread(_get_json, control + "/status")
                assert status["connected"] == 4
                protocols = [csms.seen_of(i).connections[0].subprotocol for i in ids]
                assert protocols == ["ocpp1.6", "ocpp2.0.1", "ocpp1.6", "ocpp2.0.1"]
            finally:
                process.send_signal(signal.SIGTERM)
                out, err = await asyncio.wait_for(process.communicate(), 30)
            assert process.returncode == 0, err.decode()[-2000:]
            assert b"stopped" in out
            await csms.until(lambda: not any(s.connected for s in csms.seen.values()))

    run(scenario)


def _get_json(url: str) -> dict[str, int]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return dict(json.loads(response.read()))
