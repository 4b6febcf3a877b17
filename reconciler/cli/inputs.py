"""Inputs of the read-only member views: the repo, the store and the inventory, joined into members.

Used by ``reconciler status``, ``search`` and ``plan``, and by ``assign`` and
``unassign`` to select gateways with a query.  Pure option handling: the store
is read by :func:`reconciler.store.reading.read_state` (read-only; a missing
store file is not created), the inventory by
:func:`reconciler.loading.inventories.read_inventory` or the HTTP driver, and
the join into members is :func:`reconciler.members.search.members`.  The head-end is
asked for its inventory only with ``--headend``; the HTTP stack is imported
only then, so the other paths start fast.

Problems the user can fix (unreadable store or inventory, head-end down, no
token) raise :class:`InputError` with a message that says which input and why;
each command decides its exit code.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from reconciler.cli.common import (
    READ_STATE_HELP,
    StateLocation,
    StateLocationValue,
    describe,
    is_url,
    plural,
)
from reconciler.errors import InputError, StoreError
from reconciler.loading.inventories import InventoryError, read_inventory
from reconciler.loading.repos import load_repo
from reconciler.loading.sources import DirectorySource
from reconciler.members import search
from reconciler.model.inventory import InventoryGateway
from reconciler.model.repos import Repo
from reconciler.model.state import AppliedGateway
from reconciler.store import reading

__all__ = ["Fleet", "InputError", "aborted_notes", "gather", "headend_inventory", "input_options"]

SHOWN_IDS = 5
"""Gateway ids named in a note before "and N more"."""


@dataclass
class Fleet:
    """Every member, the repo they were declared in, and what could not be known."""

    repo: Repo
    members: list[search.Member]
    notes: list[str] = field(default_factory=list)


def input_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """``--state``, ``--inventory`` and ``--headend``, each also from its ``RECONCILER_`` variable."""
    options = (
        click.option(
            "--state",
            "state_path",
            type=StateLocation(),
            envvar="RECONCILER_STATE",
            help=f"{READ_STATE_HELP} with the rollout statuses; an absent file: nothing rolled out yet.",
        ),
        click.option(
            "--inventory",
            "inventory_path",
            type=click.Path(dir_okay=False, exists=True, path_type=Path),
            envvar="RECONCILER_INVENTORY",
            help="JSON list of GATEWAY objects (firmware, stations, provider, address, owner).",
        ),
        click.option(
            "--headend",
            "headend_url",
            metavar="URL",
            envvar="RECONCILER_HEADEND_URL",
            help="Read the inventory from this head-end (token from RECONCILER_HEADEND_TOKEN).",
        ),
    )
    for option in reversed(options):
        function = option(function)
    return function


def gather(
    repo_path: Path,
    *,
    state_path: StateLocationValue | None,
    inventory_path: Path | None,
    headend_url: str | None,
    include_inventory: bool = False,
) -> Fleet:
    """Load the repo's working tree, the store and the inventory; join them into members.

    ``include_inventory``: also the inventory's gateways that are declared
    nowhere (``reconciler assign`` adds entries for them).
    """
    notes: list[str] = []
    inventory: dict[str, InventoryGateway] | None = None
    if inventory_path is not None:
        try:
            inventory = read_inventory(inventory_path)
        except InventoryError as exc:
            raise InputError(str(exc)) from None
    elif headend_url is not None:
        inventory = headend_inventory(headend_url)
    else:
        notes.append(
            "no --inventory or --headend: firmware is the last one the store recorded; "
            "stations, ports, provider, address and owner are unknown"
        )
    repo = load_repo(DirectorySource(repo_path))
    if not repo.valid:
        errors = sum(1 for d in repo.diagnostics if d.severity == "error")
        notes.append(
            f"{repo_path} has {plural(errors, 'error')} (see `reconciler validate`); "
            "gateways of broken entries are missing here"
        )
    applied: dict[str, AppliedGateway] = {}
    if state_path is None:
        notes.append("no --state given: rollout statuses are unknown")
    else:
        try:
            state = reading.read_state(state_path)
        except StoreError as exc:
            raise InputError(str(exc)) from None
        if state is None:
            absent = "holds no state store yet" if is_url(state_path) else "does not exist yet"
            notes.append(f"{describe(state_path)} {absent}: nothing has been rolled out")
        else:
            applied = state.applied
            notes.extend(aborted_notes(state))
    rows = search.members(repo, inventory, applied, include_inventory=include_inventory)
    if inventory is not None:
        missing = [m.gateway_id for m in rows if m.declared and m.gateway_id not in inventory]
        if missing:
            notes.append(f"not in the inventory (firmware and stations unknown): {_ids(missing)}")
    return Fleet(repo, rows, notes)


def aborted_notes(state: reading.StoredState) -> list[str]:
    """A note per profile whose latest rollout was aborted (:meth:`~reconciler.store.reading.StoredState.aborted`)."""
    return [
        f"profile {a.rollout.profile or '(none)'}: rollout {a.rollout.rollout_id} "
        f"{a.rollout.reason or 'aborted'}; {plural(a.waiting, 'member')} "
        f"{'stays' if a.waiting == 1 else 'stay'} Initial until "
        f"`reconciler retry {a.rollout.profile}` or a new commit"
        for a in state.aborted()
    ]


def headend_inventory(url: str) -> dict[str, InventoryGateway]:
    """Every gateway the head-end at ``url`` knows, through the HTTP driver."""
    from pydantic import ValidationError

    from reconciler import errors
    from reconciler.drivers.http import HttpDriver
    from reconciler.drivers.settings import HeadendSettings

    try:
        settings = HeadendSettings.from_env(base_url=url)
    except OSError as exc:
        raise InputError(f"cannot read the head-end token file: {exc}") from None
    except ValidationError as exc:
        fields = {str(error["loc"][0]) for error in exc.errors() if error["loc"]}
        if "token" in fields:
            raise InputError(
                "--headend needs a token: set RECONCILER_HEADEND_TOKEN "
                "(or RECONCILER_HEADEND_TOKEN_FILE)"
            ) from None
        raise InputError(f"head-end settings: {exc.errors()[0]['msg']}") from None

    async def fetch() -> list[InventoryGateway]:
        async with HttpDriver(settings) as driver:
            return await driver.inventory()

    try:
        gateways = asyncio.run(fetch())
    except errors.HeadendError as exc:
        raise InputError(f"head-end {url}: {exc}") from None
    return {g.id: g for g in gateways}


def _ids(ids: list[str]) -> str:
    shown = ", ".join(ids[:SHOWN_IDS])
    return shown if len(ids) <= SHOWN_IDS else f"{shown} and {len(ids) - SHOWN_IDS} more"
