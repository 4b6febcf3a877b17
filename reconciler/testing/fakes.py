"""In-memory test seams for the engine: a scriptable head-end driver and virtual time.

:class:`FakeDriver` implements :class:`reconciler.drivers.base.Driver` without a
network (as httpx's ``MockTransport`` stands in for one): per gateway it
accepts or declines, answers after N polls or never, loses jobs (a restart
without its job table, or a head-end that keeps losing them), refuses
entries, and raises transient errors for the next K calls; accepted jobs
update the live configurations that read-back sees.  It pages its inventory
in id order, and answers the events long poll (with :attr:`FakeDriver.has_events`)
with what :meth:`FakeDriver.emit` gave.  :class:`FakeClock` is a
``now()`` plus an ``async sleep()`` that advances virtual time at once, so
pacing, timeouts and backoff are tested in milliseconds::

    clock = FakeClock()
    driver = FakeDriver({"LSX-000001": "LSX"}, clock=clock.now)
    engine = Engine(driver=driver, ..., clock=clock.now, sleep=clock.sleep)

Used by ``tests/engine``; re-exported by :mod:`reconciler.testing`.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler import errors
from reconciler.drivers.base import (
    Driver,
    EventPage,
    HeadendEvent,
    InventoryPage,
    JobRequest,
    JobState,
    JobStatus,
    JobSubmission,
    LiveConfig,
)
from reconciler.model.inventory import INVENTORY_LIST, InventoryGateway
from reconciler.testing.repos import gateway_id, inventory_for

FINAL: tuple[JobState, ...] = ("accepted", "declined")


class FakeClock:
    """Virtual time: :meth:`now` reads it; :meth:`sleep` advances it instantly (and yields)."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.start = start
        self.time = start
        self.sleeps: list[float] = []
        """Every sleep asked for, in order."""

    def now(self) -> float:
        return self.time

    @property
    def elapsed(self) -> float:
        """Virtual seconds since the clock was made."""
        return self.time - self.start

    def advance(self, seconds: float) -> None:
        self.time += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.time += max(0.0, seconds)
        await asyncio.sleep(0)


@dataclass
class FakeJob:
    """One job the fake head-end holds."""

    job_id: str
    request: JobRequest
    created_at: float
    polls: int = 0
    status: JobState = "requested"
    reason: str | None = None
    rejected: dict[str, str] = field(default_factory=dict)

    @property
    def gateway_id(self) -> str:
        return self.request.gateway_id


class FakeDriver(Driver):
    """An in-memory head-end; script it per gateway before (or while) the engine runs.

    ``gateways``: inventory objects, or ``{id: type}`` (firmware chosen from the
    field releases, deterministic).  A job reports ``requested`` until the
    poll before its answer, ``sent`` then, and its answer on poll number
    ``answer_after`` (1: the first poll already answers).  Job creation is
    idempotent by key, as on the real head-end.  ``clock`` stamps job creation
    (pass a :class:`FakeClock`'s ``now``).
    """

    def __init__(
        self,
        gateways: Iterable[InventoryGateway] | Mapping[str, str] = (),
        *,
        answer_after: int = 1,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if isinstance(gateways, Mapping):
            gateways = fake_inventory(gateways)
        self.gateways: dict[str, InventoryGateway] = {g.id: g for g in gateways}
        self.live: dict[str, LiveConfig] = {
            g.id: LiveConfig(g.id, g.firmware, {}) for g in self.gateways.values()
        }
        """Live configurations by gateway id, as :meth:`read_configs` returns them."""
        self.answer_after = answer_after
        self.clock = clock
        self.jobs: dict[str, FakeJob] = {}
        """Every job created, by id (lost ones included: see :attr:`dropped`)."""
        self.requests: list[JobRequest] = []
        """Every job request received, replays included."""
        self.calls: Counter[str] = Counter()
        """Calls per method name (failed ones included)."""
        self.active_at_submit: list[frozenset[str]] = []
        """After each submission: the gateways whose job has no answer yet."""
        self.closed = False
        self._keys: dict[str, str] = {}
        self._declines: dict[str, tuple[str, dict[str, str]]] = {}
        self._answer_after: dict[str, int] = {}
        self._silent: set[str] = set()
        self._forgotten: set[str] = set()
        self._dropped: set[str] = set()
        self._before_poll: dict[int, list[Callable[[], object]]] = {}
        self._unapplied: set[str] = set()
        self._refused: dict[str, tuple[str, str]] = {}
        self._failures: dict[str, list[BaseException]] = {}
        self.has_events = False
        """Whether :meth:`events` answers (``False``: no events endpoint, as the simulator)."""
        self._events: list[HeadendEvent] = []
        self._event_ready = asyncio.Event()

    # --- scripting -------------------------------------------------------------------------

    def decline(
        self,
        *gateway_ids: str,
        reason: str = "declined by the gateway",
        rejected: Mapping[str, str] | None = None,
    ) -> None:
        """Jobs for these gateways end declined, with ``reason`` and ``rejected`` parameters."""
        for gid in gateway_ids:
            self._declines[gid] = (reason, dict(rejected or {}))

    def accept(self, *gateway_ids: str) -> None:
        """Jobs for these gateways are accepted again (undo :meth:`decline`, :meth:`never_answer`)."""
        for gid in gateway_ids:
            self._declines.pop(gid, None)
            self._silent.discard(gid)

    def answer_later(self, polls: int, *gateway_ids: str) -> None:
        """Jobs for these gateways answer on poll number ``polls``."""
        for gid in gateway_ids:
            self._answer_after[gid] = polls

    def never_answer(self, *gateway_ids: str) -> None:
        """Jobs for these gateways stay ``requested`` forever."""
        self._silent.update(gateway_ids)

    def forget(self, *gateway_ids: str) -> None:
        """The head-end keeps losing these gateways' jobs: each is dropped when its status is
        asked (:meth:`job_status` leaves it out, its idempotency key is forgotten, so a
        resubmission creates it again, to be lost again).  See :meth:`drop_jobs` for once."""
        self._forgotten.update(gateway_ids)

    def drop_jobs(self, *gateway_ids: str) -> int:
        """The head-end restarts without its job table: the jobs it holds now (of these
        gateways; none given: all) are gone with their idempotency keys.  :meth:`job_status`
        leaves them out; a resubmission with the same key creates the job once more.
        Returns how many were dropped."""
        chosen = set(gateway_ids)
        held = [j for j in self.jobs.values() if j.job_id not in self._dropped]
        dropped = [j for j in held if not chosen or j.gateway_id in chosen]
        for job in dropped:
            self._drop(job)
        return len(dropped)

    def before_poll(self, poll: int, action: Callable[[], object]) -> None:
        """Run ``action`` just before answering :meth:`job_status` call number ``poll`` (from 1),
        e.g. ``driver.before_poll(2, driver.drop_jobs)``: a restart while jobs are in flight."""
        self._before_poll.setdefault(poll, []).append(action)

    def keep_live(self, *gateway_ids: str) -> None:
        """These gateways accept jobs but keep their live values (drift right after acceptance)."""
        self._unapplied.update(gateway_ids)

    def refuse(
        self, *gateway_ids: str, code: str = "not_found", message: str = "unknown gateway"
    ) -> None:
        """Submissions for these gateways are refused entry by entry (``error_code``)."""
        for gid in gateway_ids:
            self._refused[gid] = (code, message)

    def fail_next(
        self, calls: int = 1, *, method: str = "submit_jobs", error: BaseException | None = None
    ) -> None:
        """The next ``calls`` calls of ``method`` raise ``error`` (default: a transient error)."""
        failure = error or errors.ServerError("simulated outage", endpoint=method, status=503)
        self._failures.setdefault(method, []).extend([failure] * calls)

    def emit(self, *events: HeadendEvent) -> None:
        """Hand these events to the next :meth:`events` call (which then answers at once)."""
        self._events.extend(events)
        self._event_ready.set()

    def drift(self, gateway_id: str, parameters: Mapping[str, Any]) -> None:
        """Force live values on one gateway."""
        config = self.live[gateway_id]
        self.live[gateway_id] = LiveConfig(
            gateway_id, config.firmware, {**config.parameters, **parameters}
        )

    # --- what happened ---------------------------------------------------------------------

    @property
    def created(self) -> list[FakeJob]:
        """Jobs in order of creation (replays create none)."""
        return list(self.jobs.values())

    def active(self) -> list[FakeJob]:
        """Jobs without an answer yet (lost ones are not active: the head-end has them no more)."""
        return [
            j for j in self.jobs.values() if j.status not in FINAL and j.job_id not in self._dropped
        ]

    @property
    def dropped(self) -> list[FakeJob]:
        """Jobs the head-end lost (:meth:`drop_jobs`, :meth:`forget`), in order of creation."""
        return [j for j in self.jobs.values() if j.job_id in self._dropped]

    def peak_active(self, among: Collection[str] | None = None) -> int:
        """The most jobs without an answer at once (of ``among``'s gateways), over all submissions."""
        return max(
            (len(s if among is None else s & set(among)) for s in self.active_at_submit),
            default=0,
        )

    def jobs_for(self, gateway_id: str) -> list[FakeJob]:
        return [j for j in self.jobs.values() if j.gateway_id == gateway_id]

    # --- the Driver interface --------------------------------------------------------------

    async def _call(self, method: str) -> None:
        self.calls[method] += 1
        await asyncio.sleep(0)
        pending = self._failures.get(method)
        if pending:
            raise pending.pop(0)

    async def inventory(self) -> list[InventoryGateway]:
        await self._call("inventory")
        return list(self.gateways.values())

    async def inventory_page(self, cursor: str | None, limit: int) -> InventoryPage:
        """Pages in id order; the cursor is the last id handed out (gateways may come and go)."""
        await self._call("inventory_page")
        order = sorted(self.gateways)
        start = 0 if cursor is None else bisect.bisect_right(order, cursor)
        ids = order[start : start + max(1, limit)]
        more = start + len(ids) < len(order)
        return InventoryPage(tuple(self.gateways[g] for g in ids), ids[-1] if more else None)

    async def read_configs(self, gateway_ids: Sequence[str]) -> dict[str, LiveConfig]:
        await self._call("read_configs")
        return {gid: self.live[gid] for gid in gateway_ids if gid in self.live}

    async def submit_jobs(self, jobs: Sequence[JobRequest]) -> list[JobSubmission]:
        await self._call("submit_jobs")
        answers: list[JobSubmission] = []
        for request in jobs:
            self.requests.append(request)
            gid, key = request.gateway_id, request.idempotency_key
            refused = self._refused.get(gid) or (
                None if gid in self.gateways else ("not_found", f"unknown gateway {gid}")
            )
            if refused and key not in self._keys:
                answers.append(
                    JobSubmission(gid, key, error_code=refused[0], error_message=refused[1])
                )
                continue
            job_id = self._keys.get(key)
            if job_id is None:
                job_id = self._keys[key] = f"job-{len(self.jobs) + 1:06d}"
                self.jobs[job_id] = FakeJob(job_id, request, self.clock())
            answers.append(JobSubmission(gid, key, job_id=job_id, status=self.jobs[job_id].status))
        self.active_at_submit.append(frozenset(j.gateway_id for j in self.active()))
        return answers

    async def job_status(self, job_ids: Sequence[str]) -> list[JobStatus]:
        await self._call("job_status")
        for action in self._before_poll.pop(self.calls["job_status"], []):
            action()
        found: list[JobStatus] = []
        for job_id in job_ids:
            job = self.jobs.get(job_id)
            if job is not None and job.gateway_id in self._forgotten:
                self._drop(job)
            if job is None or job_id in self._dropped:
                continue
            self._advance(job)
            found.append(
                JobStatus(job.job_id, job.gateway_id, job.status, job.reason, dict(job.rejected))
            )
        return found

    async def events(self, after: str | None, wait_s: float) -> EventPage | None:
        """Without :attr:`has_events` none, as the LG2WAN simulator; else what :meth:`emit` gave."""
        await self._call("events")
        if not self.has_events:
            return None
        if not self._events:
            self._event_ready.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event_ready.wait(), wait_s)
        found, self._events = tuple(self._events), []
        return EventPage(found, str(self.calls["events"]))

    async def aclose(self) -> None:
        self.closed = True

    def _drop(self, job: FakeJob) -> None:
        self._dropped.add(job.job_id)
        if self._keys.get(job.request.idempotency_key) == job.job_id:
            del self._keys[job.request.idempotency_key]

    def _advance(self, job: FakeJob) -> None:
        gid = job.gateway_id
        if job.status in FINAL or gid in self._silent:
            return
        job.polls += 1
        answer_after = self._answer_after.get(gid, self.answer_after)
        if job.polls < answer_after:
            job.status = "sent" if job.polls == answer_after - 1 else "requested"
            return
        if gid in self._declines:
            job.status = "declined"
            job.reason, job.rejected = self._declines[gid]
            return
        job.status = "accepted"
        if gid not in self._unapplied:
            self.drift(gid, job.request.parameters)


def fake_inventory(gateways: Mapping[str, str], *, seed: int = 1) -> list[InventoryGateway]:
    """Inventory objects for ``{id: type}`` (firmware from the field releases, by ``seed``)."""
    return INVENTORY_LIST.validate_python(inventory_for(gateways, seed=seed))


def fleet(count: int, *, types: Sequence[str] = ("LSX", "LSG"), start: int = 0) -> dict[str, str]:
    """``{id: type}`` for ``count`` gateways, types taking turns (``LSX-000000``, ``LSG-000001``, ...)."""
    return {
        gateway_id(types[n % len(types)], n): types[n % len(types)]
        for n in range(start, start + count)
    }
