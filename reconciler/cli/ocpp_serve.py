"""``reconciler ocpp serve``: the OCPP head-end (charge points southbound, the head-end API northbound).

Thin: turns options into :class:`~reconciler.headends.ocpp.server.HeadendOptions`
and runs :func:`~reconciler.headends.ocpp.server.serving` until SIGINT or
SIGTERM; SIGHUP re-reads the identities source.  Every option also reads
``RECONCILER_<OPTION>`` (``RECONCILER_LISTEN_OCPP``, ``RECONCILER_STATE``, ...);
the token defaults to RECONCILER_HEADEND_TOKEN, then to ``dev-token``.  On
start it prints one line per listener (``ocpp ws://HOST:PORT/ocpp/`` and
``api http://HOST:PORT``), so that a script can read the URLs when a port
was 0.  With ``--upstream URL`` it relays every charger to that central
system (relay mode, docs/ocpp.md).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import click

from reconciler.cli.common import StateLocation, env_option, listen_address, server_gc
from reconciler.errors import IdentitiesError, StoreError


def _path(**kwargs: Any) -> Any:
    return click.Path(path_type=Path, **kwargs)


@click.command("serve", short_help="Serve OCPP charge points and the head-end API over them.")
@env_option(
    "--listen-ocpp",
    default="127.0.0.1:9000",
    help="HOST:PORT for the charge points' WebSocket (ws[s]://HOST:PORT/ocpp/{id}); port 0: a free one.",
)
@env_option(
    "--listen",
    default="127.0.0.1:8080",
    help="HOST:PORT for the head-end API (plain HTTP); port 0: a free one.",
)
@env_option(
    "--state",
    type=StateLocation(
        urls=False,
        refusal="the head-end runs as one replica on its own file; "
        "only the daemon's replicas share PostgreSQL",
    ),
    required=True,
    help="SQLite state file (its key file STATE.key is created beside it, mode 0600); "
    "the head-end runs as one replica per state file.",
)
@env_option("--tls-cert", type=_path(exists=True, dir_okay=False))
@env_option("--tls-key", type=_path(exists=True, dir_okay=False))
@env_option(
    "--accept-unknown",
    is_flag=True,
    help="Let in charge points the identities source does not list.",
)
@env_option(
    "--repo",
    type=_path(exists=True, file_okay=False),
    help="Config repository: its OCPP gateways are the known identities (passwords from subsettings).",
)
@env_option(
    "--identities",
    type=_path(exists=True, dir_okay=False),
    help="YAML file: chargers: [{id: CP-1, password: {secret: NAME}}].",
)
@env_option(
    "--authorize",
    type=click.Choice(["accept", "reject"]),
    default="reject",
    help="Answer to Authorize / StartTransaction / TransactionEvent id tags.",
)
@env_option(
    "--call-timeout",
    type=click.FloatRange(0.1),
    default=30.0,
    help="Seconds to wait for a charger's answer to a call.",
)
@env_option(
    "--max-frame-bytes",
    type=click.IntRange(1024),
    default=65536,
)
@env_option(
    "--max-messages-per-s",
    type=click.FloatRange(0.1),
    default=20.0,
    help="Per charger; bursts of 5x this are allowed.",
)
@env_option(
    "--ping-interval",
    type=click.FloatRange(0),
    default=60.0,
    help="Seconds between WebSocket pings to each charger; 0: none.",
)
@env_option(
    "--job-retention",
    type=click.FloatRange(0),
    default=3600.0,
    help="Seconds a finished job (and its idempotency key) is kept after it ended.",
)
@env_option(
    "--upstream",
    metavar="URL",
    help="Relay mode: ws[s]://HOST[:PORT]/PATH of a central system; charger CP-1 is relayed to URL/CP-1.",
)
@env_option(
    "--upstream-ca",
    type=_path(exists=True, dir_okay=False),
    help="CA file to verify a wss:// upstream against (default: the system's CA store).",
)
@env_option(
    "--upstream-cert",
    type=_path(exists=True, dir_okay=False),
    help="The relay's own TLS client certificate towards the upstream (with --upstream-key).",
)
@env_option("--upstream-key", type=_path(exists=True, dir_okay=False))
@env_option(
    "--upstream-user-from",
    type=click.Choice(["charger", "none"]),
    default="charger",
    help="HTTP Basic credentials towards the upstream: the charger's own, or none.",
)
@env_option(
    "--upstream-wait",
    type=click.FloatRange(0.1),
    default=10.0,
    help="Seconds a charger's CALL waits for the upstream's answer before a CALLERROR.",
)
@env_option(
    "--token",
    help="API bearer token; default RECONCILER_HEADEND_TOKEN, else 'dev-token'.",
)
def command(
    listen_ocpp: str,
    listen: str,
    state: Path,
    tls_cert: Path | None,
    tls_key: Path | None,
    accept_unknown: bool,
    repo: Path | None,
    identities: Path | None,
    authorize: str,
    call_timeout: float,
    max_frame_bytes: int,
    max_messages_per_s: float,
    ping_interval: float,
    job_retention: float,
    upstream: str | None,
    upstream_ca: Path | None,
    upstream_cert: Path | None,
    upstream_key: Path | None,
    upstream_user_from: str,
    upstream_wait: float,
    token: str | None,
) -> None:
    """Serve OCPP 1.6 / 2.0.1 charge points and the head-end API over them."""
    from reconciler.headends.ocpp.server import DEV_TOKEN, HeadendOptions

    if repo is not None and identities is not None:
        raise click.UsageError("--repo and --identities exclude each other")
    if (tls_cert is None) != (tls_key is None):
        raise click.UsageError("TLS needs both --tls-cert and --tls-key")
    if (upstream_cert is None) != (upstream_key is None):
        raise click.UsageError("--upstream-cert and --upstream-key go together")
    if upstream is not None and not upstream.startswith(("ws://", "wss://")):
        raise click.UsageError("--upstream must be a ws:// or wss:// URL")
    if upstream is None and (upstream_ca or upstream_cert):
        raise click.UsageError("--upstream-ca/--upstream-cert need --upstream")
    ocpp_host, ocpp_port = listen_address(listen_ocpp)
    api_host, api_port = listen_address(listen)
    options = HeadendOptions(
        state=state,
        ocpp_host=ocpp_host,
        ocpp_port=ocpp_port,
        api_host=api_host,
        api_port=api_port,
        token=token or os.environ.get("RECONCILER_HEADEND_TOKEN") or DEV_TOKEN,
        tls_cert=tls_cert,
        tls_key=tls_key,
        accept_unknown=accept_unknown,
        repo=repo,
        identities=identities,
        authorize=authorize == "accept",
        call_timeout_s=call_timeout,
        max_frame_bytes=max_frame_bytes,
        max_messages_per_s=max_messages_per_s,
        ping_interval_s=ping_interval or None,
        job_retention_s=job_retention,
        upstream=upstream,
        upstream_ca=upstream_ca,
        upstream_cert=upstream_cert,
        upstream_key=upstream_key,
        upstream_user_from=upstream_user_from,
        upstream_wait_s=upstream_wait,
    )
    try:
        server_gc()
        asyncio.run(_serve(options))
    except (IdentitiesError, StoreError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


async def _serve(options: Any) -> None:
    from reconciler.headends.ocpp.server import serving

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with serving(options) as running:
        loop.add_signal_handler(signal.SIGHUP, running.reload)
        click.echo(f"ocpp {running.ocpp_url}")
        click.echo(f"api {running.api_url}")
        click.echo(f"OCPP head-end serving {len(running.hub.chargers)} known chargers")
        sys.stdout.flush()
        await stop.wait()
    click.echo("OCPP head-end stopped")
