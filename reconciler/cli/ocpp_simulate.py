"""``reconciler ocpp simulate``: N simulated OCPP charge points connecting to a central system.

Thin: turns options into :class:`~reconciler.headends.ocpp.simfleet.FleetOptions`,
runs the fleet (and its control API with ``--control``) until SIGINT or SIGTERM,
then closes every connection.  Every option also reads ``RECONCILER_<OPTION>``
(``RECONCILER_CONNECT``, ``RECONCILER_COUNT``, ...).  docs/ocpp-simulate.md
describes the chargers, the faults and the control API.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from typing import Any

import click

from reconciler.cli.common import env_option, listen_address, server_gc
from reconciler.headends.ocpp.simfleet import PROTOCOL_CHOICES, FleetOptions


@click.command("simulate", short_help="Simulate OCPP charge points connecting to a central system.")
@env_option("--connect", required=True, help="Central system URL; each charger adds /{id}.")
@env_option(
    "--count",
    type=click.IntRange(0),
    help="Chargers to simulate (default 1; with --ids-from: all).",
)
@env_option(
    "--protocol",
    type=click.Choice(PROTOCOL_CHOICES),
    default="mixed",
    help="mixed: even numbers ocpp1.6, odd ones ocpp2.0.1.",
)
@env_option("--id-prefix", default="CP-", help="Ids are PREFIX + a 6-digit number.")
@env_option(
    "--ids-from",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Take ids, types and passwords from this config repository's OCPP gateways.",
)
@env_option("--password-secret", help="Secret NAME holding the initial password (HTTP Basic auth).")
@env_option("--control", help="HOST:PORT of the control API (loopback; no token).")
@env_option("--seed", type=int, default=0)
@env_option(
    "--connect-rate",
    type=click.FloatRange(0),
    default=0.0,
    help="New connections per second; 0: unlimited (200 handshakes at a time).",
)
@env_option("--firmware", default="1.0.0", help="Firmware version every charger reports at start.")
@env_option(
    "--items-per-message",
    type=click.IntRange(1),
    default=16,
    help="DeviceDataCtrlr.ItemsPerMessage of Set/GetVariables (2.0.1).",
)
@env_option(
    "--bytes-per-message",
    type=click.IntRange(64),
    default=8192,
    help="DeviceDataCtrlr.BytesPerMessage of Set/GetVariables (2.0.1).",
)
@env_option(
    "--reboot-keys",
    default="",
    help="Comma-separated keys that answer RebootRequired, besides the catalog's.",
)
@env_option(
    "--reboot-delay",
    type=click.FloatRange(0),
    default=0.2,
    help="Seconds a reboot keeps a charger offline.",
)
@env_option(
    "--slow-s",
    type=click.FloatRange(0),
    default=0.0,
    help="Fault: delay every answer by S seconds.",
)
@env_option(
    "--drop-answers", type=click.IntRange(0), default=0, help="Fault: drop the next K answers."
)
@env_option(
    "--fault-share",
    type=click.FloatRange(0, 1),
    default=1.0,
    help="Share of chargers (seeded pick) the two faults above apply to.",
)
@env_option("--verbose", is_flag=True, help="Log connection events (never payloads).")
def command(control: str | None, reboot_keys: str, verbose: bool, **options: Any) -> None:
    """Simulate OCPP 1.6 / 2.0.1 charge points connecting to a central system, with faults."""
    from reconciler.headends.ocpp.simfleet import Fleet

    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING)
    logging.getLogger("ocpp").setLevel(logging.WARNING)
    logging.getLogger("websockets").setLevel(logging.WARNING)
    keys = tuple(k.strip() for k in reboot_keys.split(",") if k.strip())
    fleet = Fleet(FleetOptions(reboot_keys=keys, **options))
    server_gc()
    asyncio.run(_run(fleet, listen_address(control) if control is not None else None))


async def _run(fleet: Any, control: tuple[str, int] | None) -> None:
    from reconciler.headends.ocpp.simcontrol import simulating

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with simulating(fleet, control) as url:
        shown = f", control API at {url}" if url else ""
        click.echo(
            f"simulating {len(fleet.chargers)} OCPP charge points -> {fleet.options.connect}{shown}"
        )
        await stop.wait()
    click.echo("simulated charge points stopped")
