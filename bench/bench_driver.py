"""Benchmark: HTTP driver throughput (jobs/s) against a bare aiohttp loop, same simulator, same run.

Run: ``python bench/bench_driver.py [--jobs N --concurrency C --latency-ms L --batch B --rounds R]``.

Setup: the simulator (``reconciler simulate``, 100,000 gateways,
20 ms latency) runs in its own process, so neither client shares an event loop
or the GIL with the server; both clients then hit the same server in the same
run, rounds interleaved in ABBA order so machine noise hits both alike.  Each client keeps
``--concurrency`` requests in flight (500) from that many workers over one
pooled keep-alive session, each request a ``POST /api/v1/jobs:batch`` of
``--batch`` new jobs (1: the worst case for per-request driver overhead).

- bare loop: ``aiohttp.ClientSession.post`` + ``json.loads`` of the answer, nothing else.
- driver: :meth:`HttpDriver.submit_jobs` (semaphore, tenacity retry wrapper,
  typed errors, response hook, result decoding into ``JobSubmission``).

Target: driver >= 0.9x the bare loop.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable

import aiohttp

from reconciler.drivers.base import JobRequest
from reconciler.drivers.http import HttpDriver
from reconciler.drivers.settings import HeadendSettings

TOKEN = "bench-token"
FLEET = 100_000
TYPES = ("LSX", "LSG", "ACCU")
CPU: list[float] = []


def gateway(n: int) -> str:
    number = n % FLEET
    return f"{TYPES[number % 3]}-{number:06d}"


def start_simulator(latency_ms: float) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "reconciler", "simulate", "--listen", "127.0.0.1:0"),
            *("--fleet", str(FLEET), "--latency-ms", str(latency_ms), "--token", TOKEN),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if " at http" not in line:
        process.kill()
        raise SystemExit(f"the simulator did not start: {line!r}")
    return process, line.rsplit(" ", 1)[1].strip()


async def run_workers(
    jobs: int, batch: int, concurrency: int, one: Callable[[int], Awaitable[None]]
) -> float:
    """``jobs / batch`` requests from ``concurrency`` workers; returns jobs per second.

    The client's CPU time per job is recorded in :data:`CPU` as a second, less
    noisy figure: throughput is bounded by the simulator's core once the
    client keeps up, CPU per job shows the client's own cost either way.
    """
    requests = iter(range(0, jobs, batch))

    async def worker() -> None:
        for start in requests:
            await one(start)

    began, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    CPU.append((time.process_time() - cpu) / jobs * 1e6)
    return jobs / (time.perf_counter() - began)


def job_list(tag: str, start: int, batch: int) -> list[JobRequest]:
    return [
        JobRequest(gateway(n), {"HeartbeatInterval": 60 + n % 600}, f"{tag}-{n}")
        for n in range(start, start + batch)
    ]


async def bare(url: str, tag: str, jobs: int, batch: int, concurrency: int) -> float:
    connector = aiohttp.TCPConnector(limit=concurrency)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        target = url + "/api/v1/jobs:batch"

        async def one(start: int) -> None:
            body = {"jobs": [j.as_json() for j in job_list(tag, start, batch)]}
            async with session.post(target, data=json.dumps(body).encode()) as response:
                answer = json.loads(await response.read())
                if response.status != 200 or len(answer["results"]) != batch:
                    raise RuntimeError(f"bare loop: HTTP {response.status}")

        return await run_workers(jobs, batch, concurrency, one)


async def driver(url: str, tag: str, jobs: int, batch: int, concurrency: int) -> float:
    settings = HeadendSettings(base_url=url, token=TOKEN, max_concurrency=concurrency)
    async with HttpDriver(settings) as client:

        async def one(start: int) -> None:
            results = await client.submit_jobs(job_list(tag, start, batch))
            if not all(r.ok for r in results):
                raise RuntimeError("driver: a job was refused")

        return await run_workers(jobs, batch, concurrency, one)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=20_000, help="jobs per measurement")
    parser.add_argument("--concurrency", type=int, default=500, help="requests in flight")
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--batch", type=int, default=1, help="jobs per request (<= 500)")
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    process, url = start_simulator(args.latency_ms)
    try:
        runs: dict[str, list[float]] = {"bare": [], "driver": []}
        cpu: dict[str, list[float]] = {"bare": [], "driver": []}
        counter = itertools.count()
        # a warm-up of each, not measured: connections, first-call imports
        for name, client in (("bare", bare), ("driver", driver)):
            asyncio.run(client(url, f"warm-{name}", 2_000, args.batch, args.concurrency))
        clients = [("bare", bare), ("driver", driver)]
        for round_number in range(args.rounds):
            # ABBA order: neither client always runs first after the other's load
            for name, client in clients if round_number % 2 == 0 else clients[::-1]:
                tag = f"{name}-{next(counter)}"
                runs[name].append(
                    asyncio.run(client(url, tag, args.jobs, args.batch, args.concurrency))
                )
                cpu[name].append(CPU.pop())
        with urllib.request.urlopen(url + "/_admin/counters") as response:
            counters = json.loads(response.read())
    finally:
        process.terminate()
        process.wait()
    bare_rate, driver_rate = statistics.median(runs["bare"]), statistics.median(runs["driver"])
    print(
        f"simulator: {FLEET:,} gateways, {args.latency_ms:g} ms latency, own process; "
        f"{args.concurrency} requests in flight, {args.batch} job(s) per request, "
        f"{args.jobs:,} jobs per run"
    )
    print(
        f"bare aiohttp loop:  {bare_rate:9,.0f} jobs/s  (median of {args.rounds}: "
        + ", ".join(f"{r:,.0f}" for r in runs["bare"])
        + ")"
    )
    print(
        f"HttpDriver:         {driver_rate:9,.0f} jobs/s  (median of {args.rounds}: "
        + ", ".join(f"{r:,.0f}" for r in runs["driver"])
        + ")"
    )
    print(f"ratio driver / bare: {driver_rate / bare_rate:5.2f}x  (target >= 0.9x)")
    bare_cpu, driver_cpu = statistics.median(cpu["bare"]), statistics.median(cpu["driver"])
    print(
        f"client CPU per job:  bare {bare_cpu:.0f} us, driver {driver_cpu:.0f} us "
        f"(bare / driver {bare_cpu / driver_cpu:.2f}x)"
    )
    print(
        f"jobs created by the simulator: {counters['jobs_created']:,}; "
        f"replays: {counters['idempotent_replays']}"
    )


if __name__ == "__main__":
    main()
