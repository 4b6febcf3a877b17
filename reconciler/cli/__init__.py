"""The ``reconciler`` command line: thin commands over the layers below.

Each command lives in its own module and is registered on :data:`cli` here.
Nothing imports this package.  Errors meant for users are printed without a
traceback; exit code 2 is a usage error (click's convention), and an
unexpected internal error prints one line (``RECONCILER_DEBUG=1`` shows the
traceback) and exits 1.
"""

from __future__ import annotations

import os
import sys

import click

from reconciler import __version__
from reconciler.cli import schema, validate


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="reconciler")
def cli() -> None:
    """Declarative profile rollouts for LG2WAN charging gateways (GitOps)."""


cli.add_command(validate.command)
cli.add_command(schema.command)


def main() -> None:
    """Console-script entry point."""
    try:
        cli.main(prog_name="reconciler")
    except Exception as exc:
        if os.environ.get("RECONCILER_DEBUG"):
            raise
        click.echo(
            f"reconciler: internal error: {type(exc).__name__}: {exc} "
            "(set RECONCILER_DEBUG=1 for the traceback)",
            err=True,
        )
        sys.exit(1)
