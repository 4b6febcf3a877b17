"""``reconciler inventory --headend URL [--output FILE]``: the head-end's inventory as an ``--inventory`` file.

Reads every page of ``GET /api/v1/gateways`` through the HTTP driver
(:func:`reconciler.cli.inputs.headend_inventory`, the same read as
``plan --headend``) and writes the JSON list that ``plan --inventory``,
``status``, ``search`` and ``assign`` read
(:func:`reconciler.loading.inventories.read_inventory`).  Used by the CI
templates (deploy/ci) before a pull-request plan, and by hand to refresh a
committed ``inventory.json``.

The file diffs well: gateways sorted by id, fields in the API's order, two
spaces of indentation, UTF-8, one trailing newline; facts of the moment
(``connected``, ``last_seen``, ``busy``) are left out, since they change
between two reads of an unchanged fleet and no plan depends on them.  A file
is replaced atomically, and only after the whole inventory was read: a failed
read leaves an earlier file as it was.

Exit codes: 0 written; 1 the head-end could not be read (unreachable, token
refused or missing, a malformed answer) or the file could not be written, one
line on stderr; 2 usage.  The token is never printed.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click

from reconciler.cli import inputs
from reconciler.cli.common import plural
from reconciler.model.inventory import INVENTORY_LIST, InventoryGateway

MOMENTARY = frozenset({"connected", "last_seen", "busy"})
"""GATEWAY fields that describe the moment of the read, not the fleet: not written."""


def document(gateways: Iterable[InventoryGateway]) -> list[dict[str, Any]]:
    """The ``--inventory`` JSON list: sorted by id, unreported (``None``) and momentary fields left out."""
    ordered = sorted(gateways, key=lambda g: g.id)
    rows: list[dict[str, Any]] = INVENTORY_LIST.dump_python(ordered, mode="json", exclude_none=True)
    return [{k: v for k, v in row.items() if k not in MOMENTARY} for row in rows]


def render(gateways: Iterable[InventoryGateway]) -> bytes:
    """:func:`document` as UTF-8 JSON text, the same bytes for the same fleet."""
    return (json.dumps(document(gateways), indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` in one rename (a reader sees the old file or the new one)."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        with partial.open("wb") as out:
            out.write(data)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


@click.command("inventory")
@click.option(
    "--headend",
    "headend_url",
    envvar="RECONCILER_HEADEND_URL",
    metavar="URL",
    required=True,
    help="Head-end base URL (env RECONCILER_HEADEND_URL); the token comes from "
    "RECONCILER_HEADEND_TOKEN or RECONCILER_HEADEND_TOKEN_FILE.",
)
@click.option(
    "--output",
    "-o",
    "output",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    default=None,
    metavar="FILE",
    help="Write the JSON list here (replaced atomically); '-' or none: standard output.",
)
def command(headend_url: str, output: Path | None) -> None:
    """Write the head-end's inventory as the JSON list `plan --inventory FILE` reads.

    \b
    Sorted by id, stable formatting: a committed inventory.json diffs well.
      reconciler inventory --headend https://headend.example.com -o inventory.json
      reconciler plan . --base origin/main --inventory inventory.json

    Exit 0 written, 1 the head-end could not be read or the file not written, 2 usage.
    """
    try:
        gateways = inputs.headend_inventory(headend_url)
    except inputs.InputError as exc:
        click.echo(f"reconciler: {exc}", err=True)
        sys.exit(1)
    data = render(gateways.values())
    if output is None or str(output) == "-":
        sys.stdout.flush()
        sys.stdout.buffer.write(data)  # bytes: UTF-8 whatever the locale
        sys.stdout.buffer.flush()
        return
    try:
        write_atomically(output, data)
    except OSError as exc:
        click.echo(f"reconciler: cannot write {output}: {exc.strerror or exc}", err=True)
        sys.exit(1)
    click.echo(
        f"reconciler: wrote {plural(len(gateways), 'gateway')} from {headend_url} to {output}",
        err=True,
    )
