"""``reconciler demo [--ocpp]``: head-end, a git repo seeded from the shipped example, the daemon, a change.

Thin over :func:`reconciler.daemon.demo.run`.  Runs until Ctrl-C, or with
``--once`` exits after the committed change is rolled out (0: every member
Accepted).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys

import click


def _say(line: str) -> None:
    click.echo(line)
    sys.stdout.flush()  # keep our lines in order with the daemon's log lines on stderr


@click.command("demo", short_help="Show the whole GitOps loop on the shipped example.")
@click.option("--once", is_flag=True, help="Stop after the committed change is rolled out.")
@click.option(
    "--ocpp",
    is_flag=True,
    help="OCPP instead: the OCPP head-end and simulated OCPP 1.6 and 2.0.1 charge points.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=9108,
    show_default=True,
    envvar="RECONCILER_PORT",
    help="Port of the daemon's HTTP endpoints on 127.0.0.1 (0: a free one).",
)
@click.option(
    "--log-format",
    envvar="RECONCILER_LOG_FORMAT",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)
def command(once: bool, ocpp: bool, port: int, log_format: str) -> None:
    """Show the whole GitOps loop on the shipped example, in a temporary directory."""
    from reconciler.daemon import demo, logs

    logs.setup(log_format)
    code = 130
    with contextlib.suppress(KeyboardInterrupt):
        try:
            code = asyncio.run(demo.run(once=once, port=port, say=_say, ocpp=ocpp))
        except OSError as exc:
            click.echo(f"reconciler: {exc} (try --port 0 for a free port)", err=True)
            code = 1
    sys.exit(code)
