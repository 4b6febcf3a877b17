"""The driver interface: what the engine asks of a head-end, whatever protocol it speaks.

The engine holds a :class:`Driver` and calls it with batches; the
HTTP driver (:mod:`reconciler.drivers.http`) implements it, and tests of the
engine may pass a fake.  Every method raises only
:class:`~reconciler.errors.HeadendError` subclasses: a
:class:`~reconciler.errors.TransientHeadendError` once the driver's own retries
are exhausted, a :class:`~reconciler.errors.PermanentHeadendError` at once.

The values here are plain frozen dataclasses: they cross the layer boundary in
bulk (100,000 gateways), so they cost no validation beyond what the driver
already did when decoding the answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from reconciler.model.inventory import InventoryGateway

MAX_BATCH = 500
"""The head-end takes at most this many entries in one batch call (docs/reference/headend-api.md)."""

JobState = Literal["requested", "sent", "accepted", "declined"]
JOB_STATES: tuple[JobState, ...] = ("requested", "sent", "accepted", "declined")

RebootPolicy = Literal["never", "when_idle"]
REBOOT_POLICIES: tuple[RebootPolicy, ...] = ("never", "when_idle")

EventKind = Literal["connected", "disconnected", "booted", "firmware_changed"]
EVENT_KINDS: tuple[EventKind, ...] = ("connected", "disconnected", "booted", "firmware_changed")


@dataclass(frozen=True, slots=True)
class JobRequest:
    """One configuration job: set ``parameters`` (wire keys, without sections) on a gateway.

    ``idempotency_key`` is chosen by the caller and stored before the call, so
    that a job resubmitted after a crash or a timeout is not created twice.
    """

    gateway_id: str
    parameters: dict[str, Any]
    idempotency_key: str
    reboot: RebootPolicy = "never"
    """``when_idle``: the head-end may reset the device, outside a charging session, to apply values."""

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "gateway_id": self.gateway_id,
            "parameters": self.parameters,
            "idempotency_key": self.idempotency_key,
        }
        if (
            self.reboot != "never"
        ):  # the first API version knows no "reboot"; send it only when asked
            body["reboot"] = self.reboot
        return body


@dataclass(frozen=True, slots=True)
class JobSubmission:
    """The head-end's answer to one :class:`JobRequest` of a batch.

    Either ``job_id`` and ``status`` (the job exists), or ``error_code`` and
    ``error_message`` (this entry was refused, e.g. ``not_found`` for an unknown
    gateway; the other entries of the batch are unaffected).
    """

    gateway_id: str
    idempotency_key: str
    job_id: str | None = None
    status: JobState | None = None
    error_code: str | None = None
    error_message: str | None = None

    @property
    def ok(self) -> bool:
        return self.job_id is not None


@dataclass(frozen=True, slots=True)
class JobStatus:
    """Where a job stands.  ``reason`` is set when declined; ``rejected_parameters`` maps
    each refused key to why (a key outside the firmware's syntax, a value out of bounds)."""

    job_id: str
    gateway_id: str
    status: JobState
    reason: str | None = None
    rejected_parameters: dict[str, str] = field(default_factory=dict)
    applied_parameters: tuple[str, ...] = ()
    """Keys a declined job applied nonetheless (the device took part of it)."""
    reboot_required: bool = False
    """The device took values that take effect after its next reboot."""


@dataclass(frozen=True, slots=True)
class HeadendEvent:
    """Something happened to a device: it connected, disconnected, booted or changed firmware."""

    gateway_id: str
    kind: EventKind
    at: str
    """RFC 3339."""


@dataclass(frozen=True, slots=True)
class EventPage:
    """One answer of the events long poll: the events after a cursor and the cursor to ask next."""

    events: tuple[HeadendEvent, ...]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class InventoryPage:
    """One page of the inventory and the cursor of the next (``None``: this was the last)."""

    gateways: tuple[InventoryGateway, ...]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class LiveConfig:
    """A gateway's configuration as the head-end reads it back (secrets are write-only: absent)."""

    gateway_id: str
    firmware: str
    parameters: dict[str, Any]


class Driver(Protocol):
    """A head-end, as the engine sees it.  All methods are coroutines; batching is the driver's job."""

    async def inventory(self) -> list[InventoryGateway]:
        """Every gateway the head-end knows (following all pages)."""
        ...

    async def inventory_page(self, cursor: str | None, limit: int) -> InventoryPage:
        """Up to ``limit`` gateways from ``cursor`` (``None``: the first page).

        For a caller that reads the inventory at a pace (the daemon), one page at a time.
        """
        ...

    async def read_configs(self, gateway_ids: Sequence[str]) -> dict[str, LiveConfig]:
        """Live configurations by gateway id; ids the head-end does not know are left out."""
        ...

    async def submit_jobs(self, jobs: Sequence[JobRequest]) -> list[JobSubmission]:
        """Create jobs (idempotently, by key); one result per request, in request order."""
        ...

    async def job_status(self, job_ids: Sequence[str]) -> list[JobStatus]:
        """The status of each known job; ids the head-end does not know are left out."""
        ...

    async def events(self, after: str | None, wait_s: float) -> EventPage | None:
        """Events after cursor ``after`` (``None``: from now), waiting up to ``wait_s`` for one.

        ``None`` when the head-end has no events endpoint (it answered 404).
        """
        ...

    async def aclose(self) -> None:
        """Release connections; the driver is not used afterwards."""
        ...
