"""Hostile input at the OCPP head-end: junk frames get CALLERRORs, floods and oversize get closed,
and a well-behaved charger's job completes meanwhile."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from reconciler.drivers.base import JobRequest
from reconciler.testing.ocpp_headend import HeadendHandle, running_headend
from tests.ocpp.charger_doubles import Fake16, connect, driver_for, final_status, run

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def headend(tmp_path: Path) -> Any:
    with running_headend(
        tmp_path / "state.db",
        accept_unknown=True,
        max_frame_bytes=4096,
        max_messages_per_s=5,
    ) as h:
        yield h


async def answer(ws: ClientConnection, text: str | bytes) -> list[Any]:
    await ws.send(text)
    return list(json.loads(await asyncio.wait_for(ws.recv(), 10)))


async def alive(ws: ClientConnection) -> None:
    reply = await answer(ws, '[2,"hb","Heartbeat",{}]')
    assert reply[0] == 3 and reply[1] == "hb" and "currentTime" in reply[2]


async def closed_with(ws: ClientConnection) -> int | None:
    async def drain() -> None:
        while True:
            await asyncio.wait_for(ws.recv(), 10)

    with pytest.raises(ConnectionClosed) as closed:
        await drain()
    return closed.value.rcvd.code if closed.value.rcvd else None


@pytest.mark.parametrize(
    ("protocol", "codes"),
    [
        ("ocpp1.6", ["FormationViolation", "FormationViolation", "ProtocolError"]),
        ("ocpp2.0.1", ["RpcFrameworkError", "RpcFrameworkError", "MessageTypeNotSupported"]),
    ],
)
def test_junk_frames_get_callerrors_and_the_connection_stays(
    headend: HeadendHandle, protocol: str, codes: list[str]
) -> None:
    async def scenario() -> None:
        async with ws_connect(headend.ocpp_url + "CP-J", subprotocols=[protocol]) as ws:  # type: ignore[list-item]
            assert await answer(ws, "this is not JSON") == [4, "-1", codes[0], "the message is not JSON", {}]  # fmt: skip
            assert (await answer(ws, '{"an": "object"}'))[:3] == [4, "-1", codes[1]]
            assert (await answer(ws, '[7, "x1", "Boot", {}]'))[:3] == [4, "x1", codes[2]]
            assert (await answer(ws, '[2, 17, "Heartbeat", {}]'))[:2] == [4, "-1"]
            reply = await answer(ws, '[2, "u1", "NoSuchAction", {}]')
            assert reply[:3] == [4, "u1", "NotSupported"]
            ours = "ChangeConfiguration" if protocol == "ocpp1.6" else "SetVariables"
            reply = await answer(ws, f'[2, "u2", "{ours}", {{}}]')  # OCPP's, but the CSMS's to send
            assert reply[:3] == [4, "u2", "NotImplemented"]
            reply = await answer(ws, '[2, "s1", "BootNotification", {"chargePointVendor": 5}]')
            assert reply[0] == 4 and reply[1] == "s1"
            assert reply[2] in ("TypeConstraintViolation", "FormationViolation", "FormatViolation", "ProtocolError")  # fmt: skip
            await ws.send('[3, "nobody-asked", {}]')  # an answer to no call: ignored
            await ws.send('[4, "nobody-asked", "GenericError", "", {}]')
            await alive(ws)

    run(scenario())


def test_oversized_and_binary_frames_close_the_connection(headend: HeadendHandle) -> None:
    async def scenario() -> None:
        async with ws_connect(headend.ocpp_url + "CP-O", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
            await alive(ws)
            await ws.send('[2,"big","DataTransfer",{"vendorId":"x","data":"' + "a" * 5000 + '"}]')
            assert await closed_with(ws) == 1009
        async with ws_connect(headend.ocpp_url + "CP-B", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
            await ws.send(b"\x00\x01binary")
            assert await closed_with(ws) == 1003

    run(scenario())


def test_a_flood_is_refused_then_closed_while_another_chargers_job_completes(
    headend: HeadendHandle,
) -> None:
    async def flood() -> tuple[int, int]:
        refused = 0
        async with ws_connect(headend.ocpp_url + "CP-F", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]

            async def send() -> None:
                for i in range(2000):
                    await ws.send(f'[2,"f{i}","Heartbeat",{{}}]')

            sender = asyncio.create_task(send())
            try:
                while True:
                    reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    if reply[0] == 4:
                        assert reply[2] == "GenericError"
                        refused += 1
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd else 0
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
        return refused, code

    async def scenario() -> None:
        async with connect(headend.ocpp_url, "CP-OK", Fake16, delay_s=0.01) as cp:
            await cp.boot()
            async with driver_for(headend) as driver:
                params = {f"Key{i}": i for i in range(10)}
                sub = await driver.submit_job(JobRequest("CP-OK", params, "k"))
                (refused, code), status = await asyncio.gather(
                    flood(), final_status(driver, str(sub.job_id))
                )
        assert status.status == "accepted"
        assert refused > 0 and code == 1008
        auth = {"Authorization": f"Bearer {headend.token}"}
        async with aiohttp.ClientSession(headers=auth) as http:
            text = await (await http.get(headend.api_url + "/metrics")).text()
        assert 'ocpp_frames_refused_total{kind="rate_limited"}' in text
        assert 'ocpp_frames_refused_total{kind="flood"} 1.0' in text
        assert "CP-OK" not in text and "CP-F" not in text

    run(scenario())
