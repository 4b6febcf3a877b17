"""Faults and links of the simulated charge points: passwords, disconnects, reboots, firmware,
drift, slow and missing answers, a central system that restarts or misbehaves, counters.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from ocpp.v16 import call
from websockets.asyncio.server import ServerConnection, serve

from reconciler.testing import write
from reconciler.testing.chargers import simulated_fleet
from tests.ocpp.csms import Csms
from tests.ocpp.test_simulated_chargers import CP, booted, config, run

PASSWORD = "0123456789abcdef"
ONE_16 = {"count": 1, "protocol": "ocpp1.6"}


def test_basic_auth_with_the_secret_password_and_the_new_one_after_a_change() -> None:
    async def scenario() -> None:
        csms = Csms()
        environ = {"RECONCILER_SECRET_CP_PASSWORD": PASSWORD}
        options = {**ONE_16, "password_secret": "CP_PASSWORD", "environ": environ}
        async with csms.serving() as url, simulated_fleet(url, **options):
            await booted(csms)
            seen = csms.seen_of(CP)
            assert (seen.connections[0].username, seen.connections[0].password) == (CP, PASSWORD)
            new = "fedcba9876543210fedcba"
            answer = await csms.call(
                CP, call.ChangeConfiguration(key="AuthorizationKey", value=new)
            )
            assert answer.status == "Accepted"
            await csms.until(lambda: len(seen.connections) == 2 and seen.connected)
            assert (seen.connections[1].username, seen.connections[1].password) == (CP, new)
            assert len(seen.of("BootNotification")) == 1  # a reconnect, not a reboot

    run(scenario)


def test_disconnect_reconnects_without_boot_and_reboot_boots() -> None:
    async def scenario() -> None:
        csms = Csms()
        async with csms.serving() as url, simulated_fleet(url, **ONE_16) as fleet:
            await booted(csms)
            charger, seen = fleet.chargers[CP], csms.seen_of(CP)
            await csms.call(CP, call.ChangeConfiguration(key="BlinkRepeat", value="7"))
            await charger.disconnect(0.3)
            await csms.until(lambda: len(seen.connections) == 2 and seen.connected)
            await csms.until(lambda: charger.connected)
            assert len(seen.of("BootNotification")) == 1
            assert charger.counters["connects"] == 2 and charger.counters["boots"] == 1

            await charger.reboot()
            await booted(csms, boots=2)
            answer = await csms.call(CP, call.GetConfiguration(key=["BlinkRepeat"]))
            assert config(answer) == {"BlinkRepeat": "7"}  # values survive a power cycle

    run(scenario)


def test_firmware_change_reboots_with_the_new_version() -> None:
    async def scenario() -> None:
        csms = Csms()
        async with csms.serving() as url, simulated_fleet(url, **ONE_16) as fleet:
            await booted(csms)
            await fleet.chargers[CP].update_firmware("2.1.0")
            await booted(csms, boots=2)
            seen = csms.seen_of(CP)
            assert seen.of("BootNotification")[1]["firmware_version"] == "2.1.0"
            assert seen.of("FirmwareStatusNotification") == [{"status": "Installed"}]

    run(scenario)


def test_drift_shows_in_get_configuration_without_an_ocpp_call() -> None:
    async def scenario() -> None:
        csms = Csms()
        async with csms.serving() as url, simulated_fleet(url, **ONE_16) as fleet:
            await booted(csms)
            fleet.chargers[CP].store.drift({"MeterValueSampleInterval": 5, "CpoName": "Other"})
            answer = await csms.call(
                CP, call.GetConfiguration(key=["MeterValueSampleInterval", "CpoName"])
            )
            assert config(answer) == {"MeterValueSampleInterval": "5", "CpoName": "Other"}
            assert "ChangeConfiguration" not in fleet.chargers[CP].counters

    run(scenario)


def test_slow_and_missing_answers() -> None:
    async def scenario() -> None:
        csms = Csms()
        async with csms.serving() as url, simulated_fleet(url, **ONE_16) as fleet:
            await booted(csms)
            charger = fleet.chargers[CP]
            fleet.set_faults([CP], drop_answers=1)
            with pytest.raises(TimeoutError):
                await csms.call(CP, call.ClearCache(), timeout=1.0)
            assert (await csms.call(CP, call.ClearCache())).status == "Accepted"
            assert charger.counters["answers_dropped"] == 1
            assert charger.counters["ClearCache"] == 2

            fleet.set_faults([CP], slow_s=0.8)
            loop = asyncio.get_running_loop()
            started = loop.time()
            assert (await csms.call(CP, call.ClearCache())).status == "Accepted"
            assert loop.time() - started >= 0.8

    run(scenario)


def test_a_restarted_central_system_gets_the_chargers_back_without_boots() -> None:
    async def scenario() -> None:
        first = Csms()
        serving = first.serving()
        url = await serving.__aenter__()
        async with simulated_fleet(url, count=2) as fleet:
            await booted(first)
            port = int(url.rsplit(":", 1)[1].split("/")[0])
            await serving.__aexit__(None, None, None)  # the central system goes away
            second = Csms()
            async with second.serving(port=port):
                await second.until(lambda: all(c.connected for c in fleet.chargers.values()))
                assert all(not seen.of("BootNotification") for seen in second.seen.values())
                answer = await second.call(CP, call.GetConfiguration(key=["HeartbeatInterval"]))
                assert config(answer) == {"HeartbeatInterval": "300"}

    run(scenario)


def test_a_hostile_central_system_does_not_end_the_charger() -> None:
    answered: list[str] = []

    async def hostile(connection: ServerConnection) -> None:
        await connection.recv()  # BootNotification
        for junk in ("not json", "[]", '[9,"x"]', '{"a":1}', '[4,"nope","GenericError","",{}]'):
            await connection.send(junk)
        await connection.send('[2,"c1","ChangeConfiguration",{"key":1}]')  # schema violation
        await connection.send('[2,"c2","ClearCache",{}]')
        while True:
            frame = await connection.recv()
            answered.append(str(frame))
            if '"c2"' in str(frame):
                return

    async def scenario() -> None:
        async with serve(hostile, "127.0.0.1", 0, subprotocols=["ocpp1.6"]) as server:  # type: ignore[list-item]
            port = next(iter(server.sockets)).getsockname()[1]
            url = f"ws://127.0.0.1:{port}/ocpp"
            async with simulated_fleet(url, **ONE_16, call_timeout=2.0) as fleet:
                charger = fleet.chargers[CP]
                async with asyncio.timeout(30):
                    while not any('"c2"' in frame for frame in answered):
                        await asyncio.sleep(0.05)
                assert any(frame.startswith('[4,"c1"') for frame in answered)
                assert charger.counters["ClearCache"] == 1

    run(scenario)


ABB_CATALOG = """
    type: ABB-TERRA
    protocol: ocpp1.6
    extends: OCPP16
    match: {vendor: ABB, model: "Terra AC.*"}
    parameters:
      - {key: LedBrightness, section: display, type: integer, min: 0, max: 100, default: 80}
"""

REPO_GATEWAYS = """
    gateways:
      - id: ABB-1
        type: ABB-TERRA
        subsettings:
          security:
            AuthorizationKey: {secret: ABB_KEY}
      - id: CS-2
        type: OCPP201
      - id: LSX-3
        type: LSX
"""


def test_ids_types_and_passwords_from_a_config_repository(tmp_path: Path) -> None:
    root = write(
        tmp_path / "config",
        {"catalog.d/abb.yaml": ABB_CATALOG, "gateways.d/site.yaml": REPO_GATEWAYS},
    )

    async def scenario() -> None:
        csms = Csms()
        environ = {"RECONCILER_SECRET_ABB_KEY": PASSWORD}
        async with (
            csms.serving() as url,
            simulated_fleet(url, ids_from=root, environ=environ) as fleet,
        ):
            assert sorted(fleet.chargers) == ["ABB-1", "CS-2"]  # LSX is no OCPP type
            await csms.until(lambda: csms.seen_of("ABB-1").of("BootNotification"))
            await csms.until(lambda: csms.seen_of("CS-2").of("BootNotification"))
            boot = csms.seen_of("ABB-1").of("BootNotification")[0]
            assert (boot["charge_point_vendor"], boot["charge_point_model"]) == ("ABB", "Terra AC")
            assert csms.seen_of("ABB-1").connections[0].password == PASSWORD
            assert csms.seen_of("CS-2").connections[0].subprotocol == "ocpp2.0.1"
            assert csms.seen_of("CS-2").connections[0].password is None
            answer = await csms.call("ABB-1", call.GetConfiguration(key=["LedBrightness"]))
            assert config(answer) == {"LedBrightness": "80"}

    run(scenario)
