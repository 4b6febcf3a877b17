"""A small upstream central system for ``bench/bench_ocpp.py --upstream`` (a process of its own).

Run: ``python bench/ocpp_upstream.py PORT``.  A bare ``websockets`` server on
127.0.0.1:PORT for ``/ocpp/{id}`` (``ocpp1.6`` / ``ocpp2.0.1``) that answers
the chargers' CALLs like a CSMS (BootNotification Accepted with interval 900,
Heartbeat the time, everything else ``{}``) and sends every connected charger
one call per second (1.6 GetConfiguration / 2.0.1 GetVariables of a key the
bench profile does not manage; the next only after the previous was
answered).  It measures each call's round trip: from sending the CALL to
receiving its CALLRESULT, in this process.

Commands on stdin, one per line: ``phase NAME`` (samples from now on are
NAME's), ``count`` (prints the number of connected chargers), ``report``
(prints JSON: per phase the round trips' count, p50 and p99 in ms, and the
calls that got no answer in 30 s).  Prints ``ready`` once listening.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

KEY_16 = {"key": ["ClockAlignedDataInterval"]}
KEY_201 = {
    "getVariableData": [
        {"component": {"name": "AlignedDataCtrlr"}, "variable": {"name": "Interval"}}
    ]
}


class Upstream:
    def __init__(self) -> None:
        self.phase = "connecting"
        self.samples: dict[str, list[float]] = {}
        self.lost: dict[str, int] = {}
        self.connected = 0
        self.ids = itertools.count(1)

    async def handle(self, connection: ServerConnection) -> None:
        protocol = connection.subprotocol
        if protocol not in ("ocpp1.6", "ocpp2.0.1"):
            await connection.close(1002, "subprotocol")
            return
        action, payload = (
            ("GetConfiguration", KEY_16) if protocol == "ocpp1.6" else ("GetVariables", KEY_201)
        )
        waiting: dict[str, tuple[float, asyncio.Future[None]]] = {}
        self.connected += 1
        caller = asyncio.create_task(self.call_every_second(connection, action, payload, waiting))
        try:
            async for raw in connection:
                message = json.loads(raw)
                if message[0] == 2:
                    await connection.send(json.dumps([3, message[1], answer(message[2])]))
                elif message[1] in waiting:
                    sent, done = waiting.pop(message[1])
                    self.samples.setdefault(self.phase, []).append(time.perf_counter() - sent)
                    done.set_result(None)
        except ConnectionClosed:
            pass
        finally:
            self.connected -= 1
            caller.cancel()

    async def call_every_second(
        self,
        connection: ServerConnection,
        action: str,
        payload: dict[str, Any],
        waiting: dict[str, tuple[float, asyncio.Future[None]]],
    ) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(1.0 + (next(self.ids) % 100) / 100)  # after the boot; spread out
        while True:
            started = loop.time()
            unique_id = f"up-{next(self.ids)}"
            done: asyncio.Future[None] = loop.create_future()
            waiting[unique_id] = (time.perf_counter(), done)
            try:
                await connection.send(json.dumps([2, unique_id, action, payload]))
                await asyncio.wait_for(done, 30)
            except TimeoutError:
                waiting.pop(unique_id, None)
                self.lost[self.phase] = self.lost.get(self.phase, 0) + 1
            await asyncio.sleep(max(0.0, 1.0 - (loop.time() - started)))

    def report(self) -> dict[str, dict[str, float]]:
        result = {}
        for phase, samples in self.samples.items():
            ordered = sorted(samples)
            result[phase] = {
                "count": len(ordered),
                "p50_ms": 1000 * ordered[len(ordered) // 2],
                "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
                "lost": self.lost.get(phase, 0),
            }
        return result

    def command(self, line: str) -> None:
        name, _, argument = line.strip().partition(" ")
        if name == "phase":
            self.phase = argument
        elif name == "count":
            print(self.connected, flush=True)
        elif name == "report":
            print(json.dumps(self.report()), flush=True)


def answer(action: str) -> dict[str, Any]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if action == "BootNotification":
        return {"status": "Accepted", "currentTime": now, "interval": 900}
    if action == "Heartbeat":
        return {"currentTime": now}
    return {}


async def main(port: int) -> None:
    upstream = Upstream()
    loop = asyncio.get_running_loop()
    finished = asyncio.Event()

    def read_stdin() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(upstream.command, line)
        loop.call_soon_threadsafe(finished.set)

    async with serve(
        upstream.handle,
        "127.0.0.1",
        port,
        subprotocols=["ocpp1.6", "ocpp2.0.1"],  # type: ignore[list-item]
        compression=None,
        ping_interval=None,
        max_queue=None,
    ):
        print("ready", flush=True)
        threading.Thread(target=read_stdin, daemon=True).start()
        await finished.wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
