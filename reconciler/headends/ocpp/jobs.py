"""Configuration jobs: created idempotently, run per charger in creation order, one at a time.

:class:`JobBook` is owned by the :class:`~reconciler.headends.ocpp.hub.Hub`; the
northbound API creates jobs and reads their status through it, the hub kicks
it when a charger connects, boots or becomes idle.  A charger with work and a
connection gets one runner task (none otherwise); the runner sends the calls
of :mod:`.callplans` through the session's call path (:mod:`.calls`), records
every answer in the job's durable per-key progress, and ends when the
charger has nothing left to do.  A disconnect mid-job puts the job back to
``requested``; on reconnect it resumes with the keys not yet answered.

Retention: a final job is kept (in memory and on disk, with its idempotency
key) for ``job_retention_s`` after it ended; :meth:`JobBook.prune`, called
every minute, drops older ones (oldest first: an O(dropped) walk of the final
jobs in the order they ended).

``reboot: when_idle``: a job whose values need a reboot stays ``sent`` until
the charger has no transaction, then gets a Reset (1.6 Soft, 2.0.1 OnIdle) and
is ``accepted`` when the charger boots again.  A refused Reset (or no answer)
ends the job ``accepted`` with ``reboot_required`` as ``never`` would.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import Counter, deque
from typing import TYPE_CHECKING, Any

from reconciler.drivers import bodies
from reconciler.errors import ChargerGoneError, OcppError
from reconciler.headends.ocpp import calls
from reconciler.headends.ocpp.callplans import JobTally
from reconciler.headends.ocpp.records import Job
from reconciler.headends.ocpp.wire import PASSWORD_KEYS

if TYPE_CHECKING:
    from reconciler.headends.ocpp.hub import Hub
    from reconciler.headends.ocpp.sessions import Session

log = logging.getLogger(__name__)


class JobBook:
    """Every job, indexed by id and idempotency key, with a queue of open jobs per charger."""

    def __init__(self, hub: Hub, jobs: list[Job]) -> None:
        self.hub = hub
        self.by_id: dict[str, Job] = {}
        self.by_key: dict[str, Job] = {}
        self.queues: dict[str, deque[Job]] = {}
        self.counts: Counter[str] = Counter()
        self.runners: dict[str, asyncio.Task[None]] = {}
        self.ended: deque[Job] = deque()
        """Final jobs in the order they ended (what :meth:`prune` walks)."""
        self.next_seq = 1
        for job in sorted(jobs, key=lambda j: (not j.final, j.ended)):
            if job.status == "sent" and not job.phase:
                job.status = "requested"  # no charger is connected yet: it resumes on connect
            self._index(job)
            self.next_seq = max(self.next_seq, job.seq + 1)
        self._publish()

    def _index(self, job: Job) -> None:
        self.by_id[job.job_id] = job
        self.by_key[job.key] = job
        self.counts[job.status] += 1
        if job.final:
            self.ended.append(job)
        else:
            self.queues.setdefault(job.gateway_id, deque()).append(job)

    def _publish(self) -> None:
        metrics = self.hub.metrics
        for status in ("requested", "sent", "accepted", "declined"):
            metrics.set(metrics.jobs, status, self.counts[status])

    def set_status(self, job: Job, status: str) -> None:
        if job.status != status:
            self.counts[job.status] -= 1
            self.counts[status] += 1
            self.hub.metrics.inc(self.hub.metrics.jobs, job.status, -1)
            self.hub.metrics.inc(self.hub.metrics.jobs, status)
            job.status = status
            if job.final:
                job.ended = time.time()
                job.progress = {}  # only the result is kept
                self.ended.append(job)
        self.hub.store.job_changed(job)

    def prune(self, now: float) -> int:
        """Drop final jobs that ended ``job_retention_s`` before ``now``; how many were dropped."""
        horizon = now - self.hub.options.job_retention_s
        dropped: list[Job] = []
        while self.ended and self.ended[0].ended <= horizon:
            job = self.ended.popleft()
            dropped.append(job)
            del self.by_id[job.job_id]
            if self.by_key.get(job.key) is job:
                del self.by_key[job.key]
            self.counts[job.status] -= 1
            self.hub.metrics.inc(self.hub.metrics.jobs, job.status, -1)
        if dropped:
            self.hub.store.jobs_dropped(dropped)
        return len(dropped)

    # --- the API's side ----------------------------------------------------------------------

    def create(self, entry: bodies.JobEntry, reboot: str) -> dict[str, Any]:
        """One job request: ``{"job_id", "status"}``, or ``{"error": ...}`` (not_found, conflict)."""
        gateway_id, parameters, key = entry
        known = self.by_key.get(key)
        if known is not None:
            if known.gateway_id != gateway_id:
                return bodies.error(
                    "conflict", f"idempotency_key already used for {known.gateway_id}"
                )
            return {"job_id": known.job_id, "status": known.status}
        if gateway_id not in self.hub.chargers:
            return bodies.error("not_found", f"unknown gateway {gateway_id}")
        job = Job(
            seq=self.next_seq,
            job_id=str(uuid.uuid4()),
            gateway_id=gateway_id,
            key=key,
            reboot=reboot,
            parameters=dict(parameters),
        )
        self.next_seq += 1
        self._index(job)
        self.hub.metrics.inc(self.hub.metrics.jobs, "requested")
        self.hub.store.job_created(job)
        self.kick(gateway_id)
        return {"job_id": job.job_id, "status": job.status}

    def views(self, ids: list[str]) -> list[dict[str, Any]]:
        return [job.view() for ident in ids if (job := self.by_id.get(ident)) is not None]

    # --- running -----------------------------------------------------------------------------

    def kick(self, charger_id: str) -> None:
        """Start the charger's runner if it has open jobs, a connection, and no runner yet."""
        session = self.hub.sessions.get(charger_id)
        if session is None or charger_id in self.runners or not self._actionable(session):
            return
        task = asyncio.get_running_loop().create_task(self._run(session), name="ocpp-jobs")
        self.runners[charger_id] = task

    def _actionable(self, session: Session) -> bool:
        queue = self.queues.get(session.charger.id)
        if not queue or session.closed:
            return False
        phase = queue[0].phase
        return not phase or (phase == "reset" and not session.charger.busy)

    def booted(self, charger_id: str) -> None:
        """The charger booted: a job waiting for this boot after its Reset is accepted."""
        queue = self.queues.get(charger_id)
        if queue and queue[0].phase == "boot":
            self._finish(queue[0], {**queue[0].result, "status": "accepted"})
        self.kick(charger_id)

    async def stop(self) -> None:
        for task in list(self.runners.values()):
            task.cancel()
        for task in list(self.runners.values()):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self, session: Session) -> None:
        charger_id = session.charger.id
        try:
            # Not actionable: no job, or the first waits for a boot or an idle charger (a kick).
            while self._actionable(session):
                job = self.queues[charger_id][0]
                if job.phase == "reset":
                    await self._reset(session, job)
                else:
                    await self._work(session, job)
        except ChargerGoneError:
            pass
        except Exception:  # a bug must not leave a task with an unretrieved exception
            log.exception("%s: the job runner failed", charger_id)
            queue = self.queues.get(charger_id)
            if queue:
                self._finish(queue[0], {"status": "declined", "reason": "head-end error"})
        finally:
            if self.runners.get(charger_id) is asyncio.current_task():
                del self.runners[charger_id]
            for job in self.queues.get(charger_id, ()):
                if job.status == "sent" and not job.phase:
                    self.set_status(job, "requested")  # resumes on reconnect
            self.kick(charger_id)  # after a failure: the next job

    async def _work(self, session: Session, job: Job) -> None:
        charger = session.charger
        parameters = job.parameters or {}
        tally = JobTally(keys=tuple(sorted(parameters)))
        for key, (verdict, reason) in job.progress.items():
            if key in parameters:
                tally.record_verdict(key, verdict, reason)  # type: ignore[arg-type]
        if job.status == "requested":
            self.set_status(job, "sent")

        def answered(key: str, verdict: str, reason: str) -> None:
            job.progress[key] = (verdict, reason)
            tally.record_verdict(key, verdict, reason)  # type: ignore[arg-type]
            self.hub.store.key_answered(job, key, verdict, reason)

        pending = {key: parameters[key] for key in tally.pending}
        if pending:
            await calls.set_values(self.hub, session, pending, answered)
        applied = {key: parameters[key] for key in tally.applied}
        if applied:
            self.hub.applied(charger, applied)
            if PASSWORD_KEYS[charger.protocol] in applied:
                await self.hub.store.sync()  # a new password must not be lost to a crash
        result = tally.status()
        if result["status"] == "accepted" and tally.reboot_required and job.reboot == "when_idle":
            job.result = result
            job.phase = "reset"
            self.hub.store.job_changed(job)
            return
        self._finish(job, result)

    async def _reset(self, session: Session, job: Job) -> None:
        if session.charger.busy:
            return
        job.phase = "boot"  # before the call: the boot may come before the runner resumes
        self.hub.store.job_changed(job)
        try:
            status = await calls.reset(session)
        except ChargerGoneError:
            raise
        except OcppError as exc:
            status = str(exc)
        if status not in ("Accepted", "Scheduled") and job.phase == "boot":
            log.info("%s: Reset refused (%s): job ends without a reboot", job.gateway_id, status)
            self._finish(job, {**job.result, "status": "accepted"})

    def _finish(self, job: Job, result: dict[str, Any]) -> None:
        status = result.pop("status")
        job.result = result
        job.phase = ""
        job.parameters = None
        self.set_status(job, status)
        queue = self.queues.get(job.gateway_id)
        if queue and queue[0] is job:
            queue.popleft()
        elif queue and job in queue:
            queue.remove(job)
        if queue is not None and not queue:
            del self.queues[job.gateway_id]
