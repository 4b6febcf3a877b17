"""The rollout runner: the one I/O loop that submits, polls, records and reads back.

One :class:`Runner` per engine entry point (apply, resume, retry, repair): the
:class:`~reconciler.engine.rollouts.Engine` opens the rollouts and queues the Initial
gateways; :meth:`Runner.run` then loops, each tick asking the pure decisions
(:mod:`reconciler.engine.decisions`) which jobs start, what each job status means, whether
to resubmit, time out or abort, and doing what they say through the driver.  Every batch
of transitions is stored in one transaction before the next head-end call, so that a resume
after a crash (even ``kill -9``) finds every fact acted on.  Lost jobs are resubmitted with
their stored key (:mod:`reconciler.engine.stalls`); a run a newer commit supersedes starts
no more jobs and leaves those at the head-end to the engine's next run.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, Protocol

from reconciler import errors
from reconciler.drivers.base import MAX_BATCH, Driver, JobRequest, LiveConfig
from reconciler.engine import decisions, jobs, progress, readback
from reconciler.engine.opening import leaves_management
from reconciler.engine.progress import GroupProgress, Outcome, ProgressHook, TransitionHook
from reconciler.engine.settings import EngineSettings
from reconciler.engine.stalls import StallWatch, report_lost
from reconciler.model.catalogs import Catalog
from reconciler.model.files import RolloutPolicy
from reconciler.model.state import AppliedGateway, Status
from reconciler.store.base import StateStore

log = logging.getLogger("reconciler.engine")


class Wiring(Protocol):
    """What a run uses of its engine (an :class:`~reconciler.engine.rollouts.Engine`, or a shared
    store's :class:`~reconciler.engine.shared.Worker`); read at each use (a new catalog applies)."""

    driver: Driver
    store: StateStore
    catalog: Catalog
    resolve_secret: Callable[[str], str | None]
    settings: EngineSettings
    clock: Callable[[], float]
    sleep: Callable[[float], Awaitable[None]]
    stopping: asyncio.Event
    superseded: asyncio.Event
    on_progress: ProgressHook | None
    on_transition: TransitionHook | None
    on_lost_jobs: progress.LostJobsHook | None


@dataclass(slots=True)
class Job:
    """One gateway's job in a run."""

    state: AppliedGateway
    group: GroupProgress
    not_before: float = 0.0
    submitted_at: float = 0.0
    seen_at: float = 0.0
    """When the head-end last reported the job (or it was submitted): lost after a grace."""
    lost: int = 0  # times the head-end lost this gateway's job in this run
    reapplied: bool = False


def count(wiring: Wiring, status: Status, n: int) -> None:
    """Tell the ``on_transition`` hook that ``n`` gateways moved into ``status``."""
    if wiring.on_transition is not None and n:
        wiring.on_transition(status, n)


async def read_back(
    wiring: Wiring, states: Sequence[AppliedGateway]
) -> tuple[list[AppliedGateway], list[str]]:
    """Read these gateways' live configurations and compare: ``(changed, mismatched)``; a
    failed read changes nothing (logged; the next read-back tries again)."""
    ids = [s.gateway_id for s in states]
    size = wiring.settings.readback_batch
    try:
        results = await asyncio.gather(
            *(wiring.driver.read_configs(ids[i : i + size]) for i in range(0, len(ids), size))
        )
    except errors.HeadendError as exc:
        log.warning("reading configurations back failed, trying later: %s", exc)
        return [], []
    live: dict[str, LiveConfig] = {}
    for result in results:
        live.update(result)
    changed, mismatched = readback.compare(states, live, wiring.catalog, wiring.clock())
    for state in changed:
        count(wiring, state.status, 1)
    return changed, mismatched


class Runner:
    """Queued and in-flight jobs of one run, and the loop that carries them to an end."""

    def __init__(self, wiring: Wiring) -> None:
        self.wiring = wiring
        self.outcome = Outcome()
        self.queues: dict[str | None, deque[Job]] = {}  # waiting to start, per profile, in order
        self.in_flight: dict[str, Job] = {}  # at the head-end, by job id
        self.watch = StallWatch(moved_at=wiring.clock())

    # --- filling the run -------------------------------------------------------------------

    def open_group(
        self, profile: str | None, rollout_id: int, policy: RolloutPolicy, now: float
    ) -> GroupProgress:
        """Track rollout ``rollout_id`` of ``profile`` in this run's outcome."""
        group = GroupProgress(profile, rollout_id, policy, started_at=now)
        self.outcome.groups[profile] = group
        return group

    def enqueue(self, group: GroupProgress, states: Sequence[AppliedGateway]) -> None:
        """Queue Initial states (already stored) to start in ``group``'s rollout."""
        group.total += len(states)
        group.counts[Status.INITIAL] += len(states)
        self.queues.setdefault(group.profile, deque()).extend(Job(s, group) for s in states)

    def adopt(self, group: GroupProgress, state: AppliedGateway) -> None:
        """Take over what an earlier process left: Initial is queued, Requested/Sent polled."""
        group.total += 1
        group.counts[state.status] += 1
        job = Job(state, group, submitted_at=state.updated_at, seen_at=self.wiring.clock())
        if state.status is Status.INITIAL:
            self.queues.setdefault(group.profile, deque()).append(job)
        elif state.job_id is not None:
            group.attempted += 1
            self.in_flight[state.job_id] = job

    # --- the loop --------------------------------------------------------------------------

    async def run(self) -> Outcome:
        """Tick until every job has ended (or the engine is stopping); returns the outcome."""
        wiring = self.wiring
        while True:
            if wiring.superseded.is_set():
                self._supersede()
                break
            if not wiring.stopping.is_set():
                await self._submit()
            if self.in_flight:
                accepted = await self._poll()
                if accepted:
                    await self._verify(accepted)
            self._check_abort()
            self.outcome.stalled = self.watch.check(
                len(self.in_flight), wiring.clock(), wiring.settings.stall_after_s
            )
            if wiring.on_progress is not None:
                wiring.on_progress(self.outcome)
            waiting = any(q and not q[0].group.aborted for q in self.queues.values())
            if not self.in_flight and (not waiting or wiring.stopping.is_set()):
                break
            await wiring.sleep(wiring.settings.poll_interval_s)
        self.outcome.stalled = ""
        self._finish()
        return self.outcome

    def _finish(self) -> None:
        """Record how each rollout ended (a shared store's worker leaves that to its supervisor)."""
        for g in self.outcome.groups.values():
            if g.ending:
                self.wiring.store.finish_rollout(g.rollout_id, g.ending, self.wiring.clock(), g.why)

    def _supersede(self) -> None:
        """Start nothing more: queued gateways stay Initial in a rollout recorded finished (no
        resume submits them; the newer commit plans them); the engine's next run polls in_flight."""
        self.outcome.superseded = True
        self.outcome.left = sum(map(len, self.queues.values()))
        self.queues.clear()
        for group in self.outcome.groups.values():
            if not group.ending:
                group.superseded = "superseded by a newer commit"

    async def _submit(self) -> None:
        now = self.wiring.clock()
        active = Counter(job.group.profile for job in self.in_flight.values())
        groups = {key: queue[0].group for key, queue in self.queues.items() if queue}
        carried = sum(1 for job in self.in_flight.values() if job.group.superseded)
        room = decisions.room(self.wiring.settings.max_in_flight, len(self.in_flight), carried)
        chosen = decisions.admit(self.queues, groups, active=active, room=room, now=now)
        batch: list[Job] = []
        for key, admission in chosen.items():
            queue = self.queues[key]
            for _ in range(admission.taken):
                queue.popleft()
            queue.extend(admission.deferred)
            groups[key].submitted += len(admission.start)
            batch += admission.start
        if batch:
            await self._send(batch)

    async def _send(self, batch: list[Job]) -> None:
        """Submit these jobs (admitted, or lost and taken again); record what the head-end says."""
        now = self.wiring.clock()
        requests: list[tuple[Job, JobRequest]] = []
        updates: list[AppliedGateway] = []
        catalog = self.wiring.catalog
        for job in batch:
            try:
                parameters = jobs.wire_parameters(
                    job.state.send,
                    self.wiring.resolve_secret,
                    partial(catalog.spec, job.state.type),
                )
            except (jobs.MissingSecretError, jobs.InvalidSecretError) as exc:
                updates.append(self._set(job, Status.DECLINED, reason=str(exc)))
                job.group.attempted += 1
                job.group.declined += 1
                continue
            key = job.state.job_key or jobs.idempotency_key(
                job.group.rollout_id, job.state.gateway_id, job.state.send
            )
            request = JobRequest(job.state.gateway_id, parameters, key, job.group.policy.reboot)
            requests.append((job, request))
        chunks = [requests[i : i + MAX_BATCH] for i in range(0, len(requests), MAX_BATCH)]
        results = await asyncio.gather(
            *(self.wiring.driver.submit_jobs([r for _, r in chunk]) for chunk in chunks),
            return_exceptions=True,
        )
        for chunk, result in zip(chunks, results, strict=True):
            if isinstance(result, errors.AuthenticationError):
                raise result
            if isinstance(result, BaseException):
                updates += self._submit_failed([job for job, _ in chunk], result)
                continue
            for (job, _), submission in zip(chunk, result, strict=True):
                job.group.attempted += 1
                if submission.ok and submission.job_id is not None:
                    job.submitted_at = job.seen_at = now
                    if not job.lost:
                        self.watch.moved_at = now
                    updates.append(self._set(job, Status.REQUESTED, job_id=submission.job_id))
                    self.in_flight[submission.job_id] = job
                else:
                    job.group.declined += 1
                    reason = f"{submission.error_code}: {submission.error_message}"
                    updates.append(self._set(job, Status.DECLINED, reason=reason))
        self._write(updates)

    def _submit_failed(self, failed: Sequence[Job], error: BaseException) -> list[AppliedGateway]:
        updates = []
        for job in failed:
            verdict = decisions.resubmission(
                job.state.attempts, error, self.wiring.settings, self.wiring.clock()
            )
            if verdict.retry_at is not None:
                job.state = replace(job.state, attempts=verdict.attempts)
                job.not_before = verdict.retry_at
                job.group.submitted -= 1
                self.queues.setdefault(job.group.profile, deque()).append(job)
                updates.append(job.state)
                continue
            job.group.attempted += 1
            job.group.declined += 1
            updates.append(
                self._set(job, Status.DECLINED, reason=verdict.reason, attempts=verdict.attempts)
            )
        if failed:
            log.warning("submitting %d jobs failed: %s", len(failed), error)
        return updates

    async def _poll(self) -> list[Job]:
        """Poll every job in flight; record what changed; returns the jobs just accepted."""
        ids = list(self.in_flight)
        chunks = [ids[i : i + MAX_BATCH] for i in range(0, len(ids), MAX_BATCH)]
        results = await asyncio.gather(
            *(self.wiring.driver.job_status(c) for c in chunks), return_exceptions=True
        )
        now = self.wiring.clock()
        updates: list[AppliedGateway] = []
        accepted: list[Job] = []
        forget: list[str] = []
        unreported: list[str] = []
        for chunk, result in zip(chunks, results, strict=True):
            if isinstance(result, BaseException):
                if isinstance(result, errors.AuthenticationError):
                    raise result
                log.warning("polling job status failed, trying again: %s", result)
                continue
            reported: set[str] = set()
            for status in result:
                job = self.in_flight.get(status.job_id)
                if job is None or status.gateway_id != job.state.gateway_id:
                    continue  # not ours (a head-end that lost its jobs may reuse their ids)
                reported.add(status.job_id)
                job.seen_at = now
                reboots = partial(decisions.reboots, self.wiring.catalog, job.state.type)
                steps = decisions.next_status(job.state, status, reboots)
                for new, fields in steps:
                    updates.append(self._set(job, new, **fields))
                    self.watch.moved_at = now
                ended = steps[-1][0] if steps else None
                if ended is Status.DECLINED:
                    job.group.declined += 1
                if ended in (Status.ACCEPTED, Status.DECLINED):
                    del self.in_flight[status.job_id]
                if ended is Status.ACCEPTED:
                    if leaves_management(job.state):
                        forget.append(job.state.gateway_id)
                        self.outcome.forgotten += 1
                    else:
                        accepted.append(job)
            unreported += [i for i in chunk if i not in reported]
        grace = self.wiring.settings.lost_job_grace_s
        lost = [i for i in unreported if decisions.is_lost(self.in_flight[i].seen_at, now, grace)]
        again = self._lost(lost, now, updates)
        timeout = self.wiring.settings.job_timeout_s
        for job_id, job in list(self.in_flight.items()):
            reason = decisions.timeout_reason(job.submitted_at, now, timeout)
            if reason:
                del self.in_flight[job_id]
                job.group.declined += 1
                updates.append(self._set(job, Status.DECLINED, reason=reason))
        self._write(updates)
        if forget:
            self.wiring.store.forget(forget)
        if again:
            await self._send(again)
        return accepted

    def _lost(self, lost: list[str], now: float, updates: list[AppliedGateway]) -> list[Job]:
        """Take lost jobs out of flight: returns those to resubmit (same key); Declines the
        gateways whose job was lost ``lost_job_attempts`` times (into ``updates``)."""
        again: list[Job] = []
        for job_id in lost:
            job = self.in_flight.pop(job_id)
            job.lost += 1
            if job.lost > 1:
                self.watch.lost_again(now)
            reason = decisions.lost_reason(job.lost, self.wiring.settings)
            if reason:
                job.group.declined += 1
                updates.append(self._set(job, Status.DECLINED, reason=reason))
            else:
                job.group.attempted -= 1  # counted again when its resubmission is answered
                again.append(job)
        if lost:
            self.outcome.lost_jobs += len(lost)
            if self.wiring.on_lost_jobs is not None:
                self.wiring.on_lost_jobs(len(lost))
            report_lost(len(lost), len(again), self.wiring.settings)
        return again

    async def _verify(self, accepted: list[Job]) -> None:
        """Read back what was just accepted; Mismatch where it differs, and reapply if the policy says so."""
        changed, mismatched = await read_back(self.wiring, [job.state for job in accepted])
        self._write(changed)
        by_id = {job.state.gateway_id: job for job in accepted}
        states = {s.gateway_id: s for s in changed}
        for gateway_id in mismatched:
            job = by_id[gateway_id]
            job.state = states.get(gateway_id, job.state)
            if decisions.reapplies(job.group.policy, job.reapplied or job.group.superseded != ""):
                # Counted Accepted when its job ended; it starts again from Mismatch.
                job.group.move(Status.ACCEPTED, Status.MISMATCH)
                send = readback.reapply_values(job.state)
                key = jobs.idempotency_key(job.group.rollout_id, gateway_id, send, generation=1)
                job.state = replace(job.state, send=send, job_key=key, target=job.state.accepted)
                job.reapplied = True
                job.group.submitted -= 1
                self._write([self._set(job, Status.INITIAL)])
                self.queues.setdefault(job.group.profile, deque()).append(job)

    def _check_abort(self) -> None:
        for group in self.outcome.groups.values():
            if group.aborted:
                continue
            group.aborted = decisions.abort_reason(group.attempted, group.declined, group.policy)
            if group.aborted:
                log.warning(
                    "profile %s: %s; the rest stay Initial until a retry or a new commit",
                    group.profile,
                    group.aborted,
                )
                self.wiring.store.finish_rollout(
                    group.rollout_id, "aborted", self.wiring.clock(), group.aborted
                )

    # --- bookkeeping -----------------------------------------------------------------------

    def _set(self, job: Job, status: Status, **changes: Any) -> AppliedGateway:
        previous = job.state.status
        job.state = replace(job.state, status=status, updated_at=self.wiring.clock(), **changes)
        if previous is not status:
            job.group.move(previous, status)
            count(self.wiring, status, 1)
        return job.state

    def _write(self, updates: list[AppliedGateway]) -> None:
        if updates:
            self.wiring.store.write(updates)
