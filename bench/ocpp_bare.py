"""The baseline of ``bench/bench_ocpp.py``: a bare ``websockets`` server and client doing OCPP-shaped round trips.

Run by bench_ocpp.py as two processes (``python bench/ocpp_bare.py serve PORT`` and
``python bench/ocpp_bare.py client URL CONNECTIONS CALLS``), the same layout as
``reconciler ocpp serve`` and ``reconciler ocpp simulate``: the server sends
``CALLS`` CALL frames to each connected client one after another (one outstanding
per connection, as OCPP 1.6 requires) and the client answers each with a
CALLRESULT.  No schema validation, no state, no HTTP: the floor for the same
number of request/response round trips.  The server prints one JSON line when
done: connect time, round-trip time, and its RSS before and after the clients
connected.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time

import websockets


def rss_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def serve(port: int, connections: int, calls: int) -> None:
    connected: list[websockets.ServerConnection] = []
    all_in = asyncio.Event()
    first_at: list[float] = []
    before = rss_kib()

    async def handler(ws: websockets.ServerConnection) -> None:
        if not first_at:
            first_at.append(time.perf_counter())
        connected.append(ws)
        if len(connected) == connections:
            all_in.set()
        await ws.wait_closed()

    async with websockets.serve(
        handler, "127.0.0.1", port, subprotocols=["ocpp1.6"], compression=None, max_queue=4
    ):
        print("ready", flush=True)
        await all_in.wait()
        connect_s = time.perf_counter() - first_at[0]
        after = rss_kib()

        async def drive(ws: websockets.ServerConnection) -> None:
            for n in range(calls):
                await ws.send(
                    json.dumps([2, str(n), "ChangeConfiguration", {"key": "K", "value": "1"}])
                )
                json.loads(await ws.recv())

        started = time.perf_counter()
        await asyncio.gather(*(drive(ws) for ws in connected))
        calls_s = time.perf_counter() - started
        print(
            json.dumps(
                {
                    "connect_s": connect_s,
                    "calls_s": calls_s,
                    "round_trips": connections * calls,
                    "rss_per_connection_kib": (after - before) / connections,
                }
            ),
            flush=True,
        )
        for ws in connected:
            await ws.close()


async def client(url: str, connections: int) -> None:
    async def one(n: int, gate: asyncio.Semaphore) -> None:
        async with gate:
            ws = await websockets.connect(
                f"{url}/CP{n:06d}", subprotocols=["ocpp1.6"], compression=None, open_timeout=60
            )
        try:
            async for frame in ws:
                message = json.loads(frame)
                await ws.send(json.dumps([3, message[1], {"status": "Accepted"}]))
        except websockets.ConnectionClosed:
            pass

    gate = asyncio.Semaphore(200)
    await asyncio.gather(*(one(n, gate) for n in range(connections)), return_exceptions=True)


def main() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if sys.argv[1] == "serve":
        asyncio.run(serve(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))
    else:
        asyncio.run(client(sys.argv[2], int(sys.argv[3])))


if __name__ == "__main__":
    main()
