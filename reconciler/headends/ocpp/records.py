"""What the OCPP head-end remembers: chargers, jobs and events, as plain in-memory records.

The durable copy lives in SQLite (:mod:`.state`, rows made by :func:`charger_json`); these records are the
in-memory indexes the hot paths read (chargers by id, jobs by id and by
idempotency key).  Slotted dataclasses: the head-end holds one
:class:`Charger` per charge point that ever connected (10,000 and more), so
per-record overhead matters.  Used by :mod:`.state`, :mod:`.hub`, :mod:`.jobs`
and :mod:`.sessions`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from reconciler.headends.ocpp.wire import compact_json

BUSY_STATUSES_16 = frozenset({"Charging", "SuspendedEV", "SuspendedEVSE"})
"""OCPP 1.6 connector statuses that mean a charging session is under way."""

FINAL_STATUSES = frozenset({"accepted", "declined"})


def rfc3339(epoch: float) -> str:
    """``epoch`` as an RFC 3339 UTC time with seconds (``2024-05-01T12:00:00Z``)."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_text() -> str:
    """The current time as OCPP wants ``currentTime`` (RFC 3339, UTC, milliseconds)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass(slots=True)
class Limits:
    """A 2.0.1 charger's DeviceDataCtrlr limits (``None``: the charger did not say)."""

    set_items: int | None = None
    set_bytes: int | None = None
    get_items: int | None = None
    get_bytes: int | None = None


@dataclass(slots=True)
class Charger:
    """One charge point that has connected at least once."""

    id: str
    protocol: str
    type: str = ""
    vendor: str = ""
    model: str = ""
    serial: str = ""
    firmware: str = ""
    ports: list[str] = field(default_factory=list)
    transactions: set[str] = field(default_factory=set)
    """Active transactions (1.6 transactionId, 2.0.1 transactionId): ``busy`` while any."""
    charging_ports: set[str] = field(default_factory=set)
    """1.6 connectors whose last StatusNotification said Charging/SuspendedEV/SuspendedEVSE."""
    heartbeat: int | None = None
    """The HeartbeatInterval the charger last accepted through a job."""
    limits: Limits | None = None
    """2.0.1 only: read once per charger; ``None`` until read."""
    keys_set: set[str] = field(default_factory=set)
    """Keys this head-end set through jobs: what read-back asks for."""
    last_seen: float = 0.0
    connected: bool = False
    booted: bool = False
    """A BootNotification arrived on the current connection."""

    @property
    def busy(self) -> bool:
        return bool(self.transactions) or bool(self.charging_ports)

    def stations(self) -> list[dict[str, Any]]:
        return [{"id": self.id, "ports": list(self.ports)}]

    def seen(self) -> None:
        self.last_seen = time.time()


@dataclass(slots=True)
class Job:
    """One configuration job.  ``parameters`` is dropped from memory once the job is final."""

    seq: int
    job_id: str
    gateway_id: str
    key: str
    reboot: str
    parameters: dict[str, Any] | None
    status: str = "requested"
    result: dict[str, Any] = field(default_factory=dict)
    """The final status fields beyond ``status``: reason, rejected_parameters, ..."""
    progress: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Per key: (verdict, reason) for the keys answered so far."""
    phase: str = ""
    """``""`` running or waiting; ``reset``: waits for an idle charger to reset; ``boot``: reset sent."""
    ended: float = 0.0
    """When the job became final (epoch seconds; 0 while open): its retention counts from then."""

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES

    def view(self) -> dict[str, Any]:
        """The job as ``jobs:status`` shows it."""
        item: dict[str, Any] = {
            "job_id": self.job_id,
            "gateway_id": self.gateway_id,
            "status": self.status,
            "reason": self.result.get("reason") if self.status == "declined" else None,
        }
        for name in ("rejected_parameters", "applied_parameters", "reboot_required"):
            if name in self.result:
                item[name] = self.result[name]
        return item


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of the events feed; ``seq`` is its cursor."""

    seq: int
    gateway_id: str
    kind: str
    at: str

    def view(self) -> dict[str, str]:
        return {"gateway_id": self.gateway_id, "kind": self.kind, "at": self.at}


def charger_json(charger: Charger) -> tuple[str, str]:
    """The ``chargers`` row of ``charger``: its id and its facts as JSON."""
    data: dict[str, Any] = {
        "protocol": charger.protocol,
        "type": charger.type,
        "vendor": charger.vendor,
        "model": charger.model,
        "serial": charger.serial,
        "firmware": charger.firmware,
        "ports": charger.ports,
        "transactions": sorted(charger.transactions),
        "charging_ports": sorted(charger.charging_ports),
        "heartbeat": charger.heartbeat,
        "keys_set": sorted(charger.keys_set),
        "last_seen": charger.last_seen,
    }
    if charger.limits is not None:
        limits = charger.limits
        data["limits"] = [limits.set_items, limits.set_bytes, limits.get_items, limits.get_bytes]
    return charger.id, compact_json(data)


def charger_from_json(ident: str, text: str) -> Charger:
    """The charger of a ``chargers`` row."""
    data = json.loads(text)
    limits = data.get("limits")
    return Charger(
        id=ident,
        protocol=data["protocol"],
        type=data.get("type", ""),
        vendor=data.get("vendor", ""),
        model=data.get("model", ""),
        serial=data.get("serial", ""),
        firmware=data.get("firmware", ""),
        ports=list(data.get("ports", [])),
        transactions=set(data.get("transactions", [])),
        charging_ports=set(data.get("charging_ports", [])),
        heartbeat=data.get("heartbeat"),
        limits=Limits(*limits) if limits else None,
        keys_set=set(data.get("keys_set", [])),
        last_seen=float(data.get("last_seen", 0.0)),
    )


class Passwords:
    """Charger password digests: the current one, and the one it replaced until the new is used."""

    __slots__ = ("current", "previous", "source")

    def __init__(
        self, current: str | None = None, previous: str | None = None, source: str | None = None
    ) -> None:
        self.current = current
        self.previous = previous
        self.source = source
        """The digest the identities source last gave (to notice that the source changed)."""
