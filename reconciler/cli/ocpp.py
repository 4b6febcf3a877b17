"""``reconciler ocpp``: the OCPP head-end (``serve``) and simulated OCPP charge points (``simulate``).

A group of two commands, each in its own module (:mod:`reconciler.cli.ocpp_serve`,
:mod:`reconciler.cli.ocpp_simulate`) and imported only when it runs.
"""

from __future__ import annotations

import importlib

import click

from reconciler.cli import WholeHelpGroup

SUBCOMMANDS = {
    "serve": "reconciler.cli.ocpp_serve",
    "simulate": "reconciler.cli.ocpp_simulate",
}


class _Lazy(WholeHelpGroup):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = SUBCOMMANDS.get(cmd_name)
        if module is None:
            return None
        found: click.Command = importlib.import_module(module).command
        return found


@click.group("ocpp", cls=_Lazy, short_help="The OCPP head-end and simulated OCPP charge points.")
def command() -> None:
    """The OCPP head-end and simulated OCPP charge points (OCPP-J 1.6 and 2.0.1)."""
