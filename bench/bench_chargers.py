"""Benchmark: simulated OCPP charge points -- connect time, RSS per charger, answer latency.

Run: ``python bench/bench_chargers.py [--count N] [--protocol mixed|ocpp1.6|ocpp2.0.1]``.

Setup: a trivial central system (plain ``websockets``; answers every CALL at
once: BootNotification Accepted with a 3,600 s interval, everything else ``{}``)
runs in its own process, so its memory and CPU are not counted.  This process
measures its RSS before the fleet is built and once all ``--count`` chargers
(default 2,000, half 1.6, half 2.0.1) are connected and booted: the difference
divided by the count is the figure per charger (the WebSocket connection
included).  Then the server sends one GetConfiguration / GetVariables to every
charger and reports the answers per second.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from pathlib import Path

SERVER = r"""
import asyncio, json, sys
from websockets.asyncio.server import serve

connections = []

async def handler(ws):
    connections.append(ws)
    async for raw in ws:
        msg = json.loads(raw)
        if msg[0] == 2:
            body = {"status": "Accepted", "interval": 3600, "currentTime": "2026-01-01T00:00:00Z"} \
                if msg[2] == "BootNotification" else {}
            await ws.send(json.dumps([3, msg[1], body]))
        elif msg[0] == 3 and msg[1].startswith("q"):
            print("A", flush=True)

async def main():
    async with serve(handler, "127.0.0.1", 0, subprotocols=["ocpp1.6", "ocpp2.0.1"],
                     ping_interval=None, compression=None, max_queue=4) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(port, flush=True)
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while True:
            line = await reader.readline()
            if not line:
                return
            for n, ws in enumerate(list(connections)):
                if ws.subprotocol == "ocpp1.6":
                    frame = [2, f"q{n}", "GetConfiguration", {"key": ["HeartbeatInterval"]}]
                else:
                    frame = [2, f"q{n}", "GetVariables", {"getVariableData": [
                        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]}]
                try:
                    await ws.send(json.dumps(frame))
                except Exception:
                    pass

asyncio.run(main())
"""


def rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def main(count: int, protocol: str) -> None:
    from reconciler.headends.ocpp.simfleet import Fleet, FleetOptions
    from reconciler.loading.catalogs import shipped_catalog

    server = subprocess.Popen(
        [sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert server.stdout is not None and server.stdin is not None
    port = int(server.stdout.readline())
    shipped_catalog()  # loaded before the baseline: shared by every charger anyway
    import websockets.asyncio.client  # noqa: F401  (imports before the baseline too)

    baseline = rss_kb()
    fleet = Fleet(
        FleetOptions(connect=f"ws://127.0.0.1:{port}/ocpp", count=count, protocol=protocol)
    )
    start = time.perf_counter()
    fleet.start()
    while fleet.status()["booted"] < count:
        await asyncio.sleep(0.05)
    connected = time.perf_counter() - start
    after = rss_kb()
    print(f"{count} chargers ({protocol}) connected and booted in {connected:.2f} s")
    print(
        f"RSS: {baseline / 1024:.1f} MB before, {after / 1024:.1f} MB after: "
        f"{(after - baseline) / count:.1f} KB per charger"
    )

    loop = asyncio.get_running_loop()
    start = time.perf_counter()
    server.stdin.write("ask\n")
    server.stdin.flush()
    answered = 0
    while answered < count:
        line = await loop.run_in_executor(None, server.stdout.readline)
        answered += line.startswith("A")
    elapsed = time.perf_counter() - start
    print(f"{count} Get* calls answered in {elapsed:.2f} s: {count / elapsed:,.0f} answers/s")
    await fleet.stop()
    server.stdin.close()
    server.wait(timeout=10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--protocol", default="mixed")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.count, arguments.protocol))
