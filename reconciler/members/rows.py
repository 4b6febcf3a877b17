"""Member rows: one gateway as an operator sees it, and its one JSON shape.

A :class:`Member` joins a gateway's declaration in ``gateways.d``, the
head-end's inventory facts and its rollout status from the store
(:func:`members`).  :func:`member_json` is the only place a member becomes
JSON: ``reconciler status``/``search --format json``, the daemon's
``report.json`` and its ``GET /api/v1/members`` all use it, and
:func:`member_from_json` reads it back (the daemon searches the rows of its
last report).  Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from reconciler.model.catalogs import Catalog
from reconciler.model.files import GatewayEntry
from reconciler.model.inventory import InventoryGateway
from reconciler.model.repos import Repo
from reconciler.model.state import AppliedGateway, Status

SECRET_SHOWN = "(secret)"
"""How a secret value appears in members: never its value, never its reference name."""

NO_STATUS = "none"
"""The status key of a gateway the store does not know yet (counts, JSON, ``status:none``)."""


@dataclass(frozen=True, slots=True)
class Member:
    """One gateway in the members table: declaration, inventory facts and rollout status."""

    gateway_id: str
    type: str
    firmware: str | None
    """From the inventory; else the firmware last recorded in the store; else unknown."""
    profile: str | None
    """The declared profile; ``None`` for no profile, and for gateways no longer declared."""
    status: Status | None
    """``None``: not managed yet (the store has no record of it)."""
    reason: str = ""
    station_ids: tuple[str, ...] = ()
    port_ids: tuple[str, ...] = ()
    provider: str = ""
    address: str = ""
    owner: str = ""
    subsettings: Mapping[str, Any] = field(default_factory=dict)
    """Flat ``Key -> value``; secrets are :data:`SECRET_SHOWN`."""
    labels: Mapping[str, str] = field(default_factory=dict)
    skipped: tuple[str, ...] = ()
    reboot_pending: tuple[str, ...] = ()
    """Accepted keys that take effect at the device's next boot ("reboot pending")."""
    updated_at: float | None = None
    """When the store last changed its state (seconds since the epoch)."""
    declared: bool = True
    """``False``: only the store knows it (its entry was deleted; it is being reset)."""
    mismatch: tuple[tuple[str, Any, Any], ...] = ()
    """A Mismatch gateway's differing keys, ``(key, live, expected)`` in key order: the value
    read back and the accepted one; secrets are :data:`SECRET_SHOWN`.  Not in
    :func:`member_json` (see :func:`mismatch_json`)."""

    @property
    def status_key(self) -> str:
        """The status as counted: a :class:`Status` value, or :data:`NO_STATUS`."""
        return self.status.value if self.status is not None else NO_STATUS


def members(
    repo: Repo,
    inventory: Mapping[str, InventoryGateway] | None,
    applied: Mapping[str, AppliedGateway],
    *,
    include_inventory: bool = False,
) -> list[Member]:
    """Every gateway declared in ``repo`` plus those only the store knows, sorted by id.

    ``include_inventory`` adds the inventory's gateways that neither knows
    (``declared=False``, no status): the candidates of ``reconciler assign``.
    """
    inventory = inventory or {}
    rows = [
        _member(
            entry.id,
            entry.type,
            entry,
            inventory.get(entry.id),
            applied.get(entry.id),
            repo.catalog,
        )
        for entry in repo.gateways.values()
    ]
    rows += [
        _member(gateway_id, state.type, None, inventory.get(gateway_id), state, repo.catalog)
        for gateway_id, state in applied.items()
        if gateway_id not in repo.gateways
    ]
    if include_inventory:
        rows += [
            _member(gateway_id, known.type, None, known, None, repo.catalog)
            for gateway_id, known in inventory.items()
            if gateway_id not in repo.gateways and gateway_id not in applied
        ]
    rows.sort(key=lambda m: m.gateway_id)
    return rows


def member_row(
    repo: Repo,
    inventory: Mapping[str, InventoryGateway] | None,
    gateway_id: str,
    state: AppliedGateway | None,
) -> Member | None:
    """One gateway's row as :func:`members` makes it; ``None`` when neither ``repo`` nor ``state`` knows it."""
    entry = repo.gateways.get(gateway_id)
    gateway_type = entry.type if entry is not None else state.type if state is not None else None
    if gateway_type is None:
        return None
    known = inventory.get(gateway_id) if inventory else None
    return _member(gateway_id, gateway_type, entry, known, state, repo.catalog)


def _member(
    gateway_id: str,
    gateway_type: str,
    entry: GatewayEntry | None,
    known: InventoryGateway | None,
    state: AppliedGateway | None,
    catalog: Catalog,
) -> Member:
    stations = known.stations if known else []
    subsettings = entry.subsettings if entry else {}
    return Member(
        gateway_id=gateway_id,
        type=gateway_type,
        firmware=known.firmware if known else (state.firmware if state else None),
        profile=entry.profile if entry else None,
        status=state.status if state else None,
        reason=state.reason if state else "",
        station_ids=tuple(s.id for s in stations),
        port_ids=tuple(port for s in stations for port in s.ports),
        provider=known.provider if known else "",
        address=known.address if known else "",
        owner=known.owner if known else "",
        subsettings={
            key: _shown(catalog, gateway_type, key, value)
            for keys in subsettings.values()
            for key, value in keys.items()
        },
        labels=dict(entry.labels) if entry else {},
        skipped=tuple(state.skipped) if state else (),
        reboot_pending=tuple(state.reboot_pending) if state else (),
        updated_at=(state.updated_at or None) if state else None,
        declared=entry is not None,
        mismatch=_mismatch(catalog, gateway_type, state) if state and state.mismatch else (),
    )


def _mismatch(
    catalog: Catalog, gateway_type: str, state: AppliedGateway
) -> tuple[tuple[str, Any, Any], ...]:
    """``(key, live, expected)`` of each key read back differently from the accepted value."""
    return tuple(
        (
            key,
            _shown(catalog, gateway_type, key, live),
            _shown(catalog, gateway_type, key, state.accepted.get(key)),
        )
        for key, live in sorted(state.mismatch.items())
    )


def _shown(catalog: Catalog, gateway_type: str, key: str, value: Any) -> Any:
    """Mask secrets: by their ``{secret: NAME}`` form, and by catalog type as a second guard."""
    if isinstance(value, dict) and "secret" in value:
        return SECRET_SHOWN
    spec = catalog.spec(gateway_type, key)
    return SECRET_SHOWN if spec is not None and spec.type == "secret" else value


def value_text(value: Any) -> str:
    """A parameter value as members show it and ``subsetting:KEY=VALUE`` matches it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(value_text(item) for item in value)
    return str(value)


# --- the one JSON shape ----------------------------------------------------------------------


def member_json(m: Member) -> dict[str, Any]:
    """A member as JSON: the ``members[]`` of ``reconciler status`` and ``gateways[]`` of report.json.

    Every key is always present: ``profile``, ``firmware``, ``status`` and
    ``updated_at`` may be ``null``; ``updated_at`` is ISO 8601 UTC
    (``2024-05-01T12:00:00Z``); secret subsettings read ``"(secret)"``.
    """
    return {
        "id": m.gateway_id,
        "profile": m.profile,
        "type": m.type,
        "firmware": m.firmware,
        "status": m.status.value if m.status is not None else None,
        "reason": m.reason,
        "station_ids": list(m.station_ids),
        "port_ids": list(m.port_ids),
        "provider": m.provider,
        "address": m.address,
        "owner": m.owner,
        "subsettings": {key: _json_value(value) for key, value in m.subsettings.items()},
        "labels": dict(m.labels),
        "skipped": list(m.skipped),
        "reboot_pending": list(m.reboot_pending),
        "updated_at": utc_text(m.updated_at),
        "declared": m.declared,
    }


def mismatch_json(m: Member) -> list[dict[str, Any]]:
    """``[{"key", "live", "expected"}]``: a Mismatch member's differing keys (empty otherwise).

    ``reconciler status``/``search --format json`` add it to each member as
    ``mismatch``; :func:`member_json` (and so report.json) leaves it out.
    """
    return [
        {"key": key, "live": _json_value(live), "expected": _json_value(expected)}
        for key, live, expected in m.mismatch
    ]


def member_from_json(data: Mapping[str, Any]) -> Member:
    """The member that :func:`member_json` wrote (subsetting values as JSON holds them)."""
    return Member(
        gateway_id=data["id"],
        type=data["type"],
        firmware=data["firmware"],
        profile=data["profile"],
        status=Status(data["status"]) if data["status"] is not None else None,
        reason=data["reason"],
        station_ids=tuple(data["station_ids"]),
        port_ids=tuple(data["port_ids"]),
        provider=data["provider"],
        address=data["address"],
        owner=data["owner"],
        subsettings=dict(data["subsettings"]),
        labels=dict(data["labels"]),
        skipped=tuple(data["skipped"]),
        reboot_pending=tuple(data.get("reboot_pending", ())),
        updated_at=utc_seconds(data["updated_at"]),
        declared=data["declared"],
    )


def utc_text(at: float | None) -> str | None:
    """Seconds since the epoch as ISO 8601 UTC to the second (``2024-05-01T12:00:00Z``)."""
    if at is None:
        return None
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_seconds(text: str | None) -> float | None:
    """The inverse of :func:`utc_text` (any ISO 8601 time with an offset)."""
    if text is None:
        return None
    return datetime.fromisoformat(text).timestamp()


def _json_value(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return value_text(value)
