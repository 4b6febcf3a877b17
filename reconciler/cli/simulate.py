"""``reconciler simulate``: serve the head-end simulator (its API, a synthetic fleet, faults).

Thin: turns options into :class:`~reconciler.headends.simulator.SimulatorOptions`
and serves :class:`~reconciler.headends.simulator.Simulator` until SIGINT or
SIGTERM.  Every option also reads ``RECONCILER_<OPTION>`` (``RECONCILER_LISTEN``,
``RECONCILER_LATENCY_MS``, ...); the token defaults to RECONCILER_HEADEND_TOKEN,
then to the development token ``dev-token``.  ``--listen 127.0.0.1:0`` picks a
free port; the URL is printed on start either way.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from reconciler.cli.common import listen_address, plural
from reconciler.headends.simulator import DEV_TOKEN, Simulator, SimulatorOptions, serving


def _rate(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        f"--{name}-rate",
        type=click.FloatRange(0, 1),
        default=0.0,
        show_default=True,
        envvar=f"RECONCILER_{name.upper()}_RATE",
    )


@click.command("simulate", short_help="Serve the head-end API over a simulated fleet.")
@click.option(
    "--listen",
    default="127.0.0.1:8080",
    show_default=True,
    envvar="RECONCILER_LISTEN",
    help="HOST:PORT to serve on; port 0 picks a free one.",
)
@click.option(
    "--fleet",
    type=click.IntRange(0),
    default=1000,
    show_default=True,
    envvar="RECONCILER_FLEET",
    help="Number of synthetic gateways (ids LSX-000000, LSG-000001, ACCU-000002, ...).",
)
@click.option(
    "--gateways",
    "gateways_repo",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    envvar="RECONCILER_GATEWAYS",
    help="Take gateway ids and types from this config repository's gateways.d instead.",
)
@click.option("--seed", type=int, default=0, show_default=True, envvar="RECONCILER_SEED")
@click.option(
    "--latency-ms",
    type=click.FloatRange(0),
    default=0.0,
    show_default=True,
    envvar="RECONCILER_LATENCY_MS",
    help="Added to every API request.",
)
@_rate("decline")
@_rate("error")
@_rate("throttle")
@_rate("timeout")
@click.option(
    "--drift-rate",
    type=click.FloatRange(0),
    default=0.0,
    show_default=True,
    envvar="RECONCILER_DRIFT_RATE",
    help="Drift events per second, each changing one live value of a random gateway.",
)
@click.option(
    "--job-step-ms",
    type=click.FloatRange(0),
    envvar="RECONCILER_JOB_STEP_MS",
    help="Time per job step requested -> sent -> accepted; default max(5, latency).",
)
@click.option(
    "--token",
    envvar="RECONCILER_TOKEN",
    help="Bearer token to require; default RECONCILER_HEADEND_TOKEN, else 'dev-token'.",
)
def command(listen: str, token: str | None, **options: Any) -> None:
    """Serve the head-end API over a simulated fleet, with injectable faults."""
    host, port = listen_address(listen)
    token = token or os.environ.get("RECONCILER_HEADEND_TOKEN") or DEV_TOKEN
    simulator = Simulator(SimulatorOptions(token=token, **options))
    asyncio.run(_serve(simulator, host, port))


async def _serve(simulator: Simulator, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with serving(simulator, host, port) as url:
        click.echo(
            f"head-end simulator serving {plural(len(simulator.fleet.gateways), 'gateway')} at {url}",
            err=False,
        )
        await stop.wait()
    click.echo("head-end simulator stopped")
