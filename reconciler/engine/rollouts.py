"""The rollout engine: carries out a plan's actions through a driver, durably.

Each gateway moves Initial -> Requested -> Sent -> Accepted or Declined
(DESIGN.md section 5); every transition is written to the store, in one
transaction per batch, before the next call to the head-end, so that
:meth:`Engine.resume` can pick up after a crash (even ``kill -9``): Initial
gateways are resubmitted with their stored idempotency key (no second job),
Requested and Sent ones are polled again.

Limits: the engine-wide ``max_in_flight``; per profile ``rollout.max_in_flight``
and ``max_per_minute``; and the abort criteria (once ``min_attempted`` jobs of a
profile's rollout were attempted and the declined share exceeds
``max_declined_ratio``, no more are started: the rest stay Initial, their
rollout is marked aborted, and a retry or a new commit starts them).

Transport errors are retried by the driver; when it gives up, the job is
resubmitted after a backoff, up to ``submit_attempts`` times, then Declined
("retries exhausted").  A decline is never retried automatically.  After
Accepted the live configuration is read back; a difference is Mismatch, and
with ``on_mismatch: reapply`` the accepted values are pushed once more.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from reconciler import errors
from reconciler.drivers.base import MAX_BATCH, Driver, JobRequest, JobStatus
from reconciler.engine import jobs, readback
from reconciler.engine.settings import EngineSettings
from reconciler.model.catalogs import Catalog, parse_version
from reconciler.model.files import RolloutPolicy
from reconciler.model.state import ACTIVE, AppliedGateway, Status
from reconciler.plan.planning import Action, GatewayPlan, Plan, group_of
from reconciler.store.base import StateStore

log = logging.getLogger("reconciler.engine")

DEFAULT_POLICY = RolloutPolicy()


@dataclass
class GroupProgress:
    """One profile's rollout as it runs: counts per status, attempts, declines, abort state."""

    profile: str | None
    rollout_id: int
    policy: RolloutPolicy
    total: int = 0
    counts: Counter[Status] = field(default_factory=Counter)
    attempted: int = 0
    declined: int = 0
    submitted: int = 0
    started_at: float = 0.0
    aborted: str = ""
    """Why no more jobs are started, or empty."""

    @property
    def done(self) -> bool:
        return not any(self.counts[s] for s in (Status.INITIAL, *ACTIVE)) or bool(
            self.aborted and not any(self.counts[s] for s in ACTIVE)
        )


@dataclass
class Outcome:
    """Where every rollout of one :meth:`Engine.apply` (or resume, or retry) ended."""

    groups: dict[str | None, GroupProgress] = field(default_factory=dict)
    forgotten: int = 0

    @property
    def all_accepted(self) -> bool:
        return all(
            g.counts[Status.ACCEPTED] == sum(g.counts.values()) and not g.aborted
            for g in self.groups.values()
        )

    def counts(self) -> Counter[Status]:
        total: Counter[Status] = Counter()
        for group in self.groups.values():
            total.update(group.counts)
        return total


@dataclass(slots=True)
class _Job:
    state: AppliedGateway
    group: GroupProgress
    not_before: float = 0.0
    submitted_at: float = 0.0
    reapplied: bool = False


class NothingToRetry(errors.ReconcilerError):
    """Retry Upload refused: no Declined or Mismatch member (the seed's rule)."""


ProgressHook = Callable[[Outcome], None]
TransitionHook = Callable[[Status, int], None]


class Engine:
    """Executes plans against a head-end; one engine per store."""

    def __init__(
        self,
        *,
        driver: Driver,
        store: StateStore,
        catalog: Catalog,
        resolve_secret: Callable[[str], str | None],
        settings: EngineSettings | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_progress: ProgressHook | None = None,
        on_transition: TransitionHook | None = None,
    ) -> None:
        self.driver = driver
        self.store = store
        self.catalog = catalog
        self.resolve_secret = resolve_secret
        self.settings = settings or EngineSettings()
        self.clock = clock
        self.sleep = sleep
        self.on_progress = on_progress
        self.on_transition = on_transition
        self.stopping = asyncio.Event()
        """Set to stop starting new jobs (SIGTERM); active ones are left to a resume."""

    # --- entry points --------------------------------------------------------------------------

    async def apply(
        self, plan: Plan, *, commit: str | None, policies: Mapping[str, RolloutPolicy]
    ) -> Outcome:
        """Carry out every actionable gateway plan; returns when every rollout has ended."""
        outcome = Outcome()
        queues: dict[str | None, deque[_Job]] = {}
        now = self.clock()
        by_group: dict[str | None, list[GatewayPlan]] = {}
        for planned in plan.actionable():
            by_group.setdefault(group_of(planned), []).append(planned)
        finished: list[AppliedGateway] = []
        forget: list[str] = []
        for name, members in by_group.items():
            policy = policies.get(name, DEFAULT_POLICY) if name else DEFAULT_POLICY
            rollout_id = self.store.start_rollout(commit, name, now)
            group = GroupProgress(name, rollout_id, policy, started_at=now)
            outcome.groups[name] = group
            initial: list[AppliedGateway] = []
            for p in members:
                state = _initial_state(p, rollout_id, commit, now)
                if not p.send:
                    # Membership-only change (a move to an identical configuration): nothing to send.
                    if _leaves_management(state):
                        forget.append(p.gateway_id)
                    else:
                        finished.append(_accepted(state, now))
                    continue
                initial.append(state)
            self.store.write(initial)
            self._count(Status.INITIAL, len(initial))
            group.total = len(initial)
            group.counts[Status.INITIAL] = len(initial)
            queues[name] = deque(_Job(state, group) for state in initial)
            # 500 profiles' rollouts are recorded one transaction each: let the loop breathe
            # between them (the daemon's /metrics stalled ~8 s at 100,000 gateways otherwise).
            await asyncio.sleep(0)
        if finished:
            self.store.write(finished)
        if forget:
            self.store.forget(forget)
            outcome.forgotten += len(forget)
        planned_ids = {p.gateway_id for p in plan.actionable()}
        self._restart_aborted(commit, planned_ids, outcome, queues, policies, now)
        await self._run(queues, {}, outcome, policies)
        return outcome

    def _restart_aborted(
        self,
        commit: str | None,
        planned: set[str],
        outcome: Outcome,
        queues: dict[str | None, deque[_Job]],
        policies: Mapping[str, RolloutPolicy],
        now: float,
    ) -> None:
        """A new commit starts the gateways an aborted rollout left Initial (they join its rollouts)."""
        aborted = {r.rollout_id for r in self.store.rollouts() if r.state == "aborted"}
        if not aborted:
            return
        waiting = [
            s
            for s in self.store.applied().values()
            if s.status is Status.INITIAL
            and s.rollout_id in aborted
            and s.commit != commit
            and s.gateway_id not in planned
        ]
        restarted: list[AppliedGateway] = []
        for state in waiting:
            group = outcome.groups.get(state.profile)
            if group is None:
                policy = (
                    policies.get(state.profile, DEFAULT_POLICY) if state.profile else DEFAULT_POLICY
                )
                group = GroupProgress(
                    state.profile,
                    self.store.start_rollout(commit, state.profile, now),
                    policy,
                    started_at=now,
                )
                outcome.groups[state.profile] = group
            key = jobs.idempotency_key(group.rollout_id, state.gateway_id, state.send)
            restarted.append(
                replace(
                    state, rollout_id=group.rollout_id, job_key=key, commit=commit, updated_at=now
                )
            )
            group.total += 1
            group.counts[Status.INITIAL] += 1
            queues.setdefault(state.profile, deque()).append(_Job(restarted[-1], group))
        self._write(restarted)

    async def resume(self, policies: Mapping[str, RolloutPolicy]) -> Outcome:
        """Continue what a previous process left: resubmit Initial (same key), poll Requested/Sent."""
        outcome = Outcome()
        aborted = {r.rollout_id for r in self.store.rollouts() if r.state == "aborted"}
        running = {r.rollout_id: r for r in self.store.rollouts(active_only=True)}
        queues: dict[str | None, deque[_Job]] = {}
        in_flight: dict[str, _Job] = {}
        for state in self.store.applied().values():
            if state.status not in (Status.INITIAL, *ACTIVE):
                continue
            if state.status is Status.INITIAL and state.rollout_id in aborted:
                continue
            name = state.profile
            group = outcome.groups.get(name)
            if group is None:
                rollout = running.get(state.rollout_id or -1)
                rollout_id = (
                    rollout.rollout_id
                    if rollout
                    else self.store.start_rollout(state.commit, name, self.clock())
                )
                policy = policies.get(name, DEFAULT_POLICY) if name else DEFAULT_POLICY
                group = GroupProgress(name, rollout_id, policy, started_at=self.clock())
                outcome.groups[name] = group
            group.total += 1
            group.counts[state.status] += 1
            job = _Job(state, group, submitted_at=state.updated_at)
            if state.status is Status.INITIAL:
                queues.setdefault(name, deque()).append(job)
            elif state.job_id is not None:
                group.attempted += 1
                in_flight[state.job_id] = job
        if queues or in_flight:
            log.info(
                "resuming %d queued and %d active jobs",
                sum(map(len, queues.values())),
                len(in_flight),
            )
            await self._run(queues, in_flight, outcome, policies)
        return outcome

    async def retry(
        self, profile: str, *, policies: Mapping[str, RolloutPolicy], commit: str | None = None
    ) -> Outcome:
        """Retry Upload: push again to the Declined and Mismatch members of ``profile``."""
        aborted = {r.rollout_id for r in self.store.rollouts() if r.state == "aborted"}
        members = [
            s
            for s in self.store.applied().values()
            if s.profile == profile
            and (
                s.status in (Status.DECLINED, Status.MISMATCH)
                or (s.status is Status.INITIAL and s.rollout_id in aborted)
            )
        ]
        if not members:
            raise NothingToRetry(
                f"profile '{profile}' has no Declined or Mismatch member; nothing to retry"
            )
        return await self._repush({profile: members}, policies, commit)

    async def repair(
        self, policies: Mapping[str, RolloutPolicy], commit: str | None = None
    ) -> Outcome:
        """``on_mismatch: reapply``: push the accepted values again to Mismatch members of such profiles."""
        states: dict[str | None, list[AppliedGateway]] = {}
        for state in self.store.applied().values():
            policy = policies.get(state.profile or "", DEFAULT_POLICY)
            if state.status is Status.MISMATCH and policy.on_mismatch == "reapply":
                states.setdefault(state.profile, []).append(state)
        return await self._repush(states, policies, commit) if states else Outcome()

    async def _repush(
        self,
        members: Mapping[str | None, Sequence[AppliedGateway]],
        policies: Mapping[str, RolloutPolicy],
        commit: str | None,
    ) -> Outcome:
        """A new rollout per profile for gateways that have a state: Declined, Mismatch, aborted."""
        now = self.clock()
        outcome = Outcome()
        queues: dict[str | None, deque[_Job]] = {}
        for profile, states in members.items():
            rollout_id = self.store.start_rollout(commit, profile, now)
            policy = policies.get(profile, DEFAULT_POLICY) if profile else DEFAULT_POLICY
            group = GroupProgress(profile, rollout_id, policy, started_at=now)
            initial = []
            for state in states:
                if state.status is Status.MISMATCH:
                    send = {k: state.accepted[k] for k in state.mismatch if k in state.accepted}
                    target = state.accepted
                else:
                    send = dict(state.send) or _differing(state.target, state.accepted)
                    target = state.target
                key = jobs.idempotency_key(rollout_id, state.gateway_id, send, state.attempts + 1)
                initial.append(
                    replace(
                        state,
                        status=Status.INITIAL,
                        send=send,
                        job_key=key,
                        job_id=None,
                        rollout_id=rollout_id,
                        reason="",
                        updated_at=now,
                        attempts=0,
                        target=target,
                    )
                )
            self.store.write(initial)
            self._count(Status.INITIAL, len(initial))
            group.total = len(initial)
            group.counts[Status.INITIAL] = len(initial)
            outcome.groups[profile] = group
            queues[profile] = deque(_Job(s, group) for s in initial)
        await self._run(queues, {}, outcome, policies)
        return outcome

    async def read_back(self, gateway_ids: Iterable[str] | None = None) -> list[str]:
        """Compare live with accepted configurations; set Mismatch (or clear it).  Returns mismatched ids."""
        states = self.store.applied()
        only = None if gateway_ids is None else set(gateway_ids)
        wanted = [
            s
            for gid, s in states.items()
            if (only is None or gid in only)
            and s.status in (Status.ACCEPTED, Status.MISMATCH)
            and s.accepted
        ]
        changed, mismatched = await self._compare(wanted)
        if changed:
            self.store.write(changed)
        return mismatched

    # --- the loop ------------------------------------------------------------------------------

    async def _run(
        self,
        queues: dict[str | None, deque[_Job]],
        in_flight: dict[str, _Job],
        outcome: Outcome,
        policies: Mapping[str, RolloutPolicy],
    ) -> None:
        while True:
            if not self.stopping.is_set():
                await self._submit(queues, in_flight)
            if in_flight:
                accepted = await self._poll(in_flight, outcome)
                if accepted:
                    await self._verify(accepted, queues)
            self._check_abort(outcome)
            if self.on_progress is not None:
                self.on_progress(outcome)
            waiting = any(q and not q[0].group.aborted for q in queues.values())
            if not in_flight and (not waiting or self.stopping.is_set()):
                break
            await self.sleep(self.settings.poll_interval_s)
        for group in outcome.groups.values():
            if not any(group.counts[s] for s in (Status.INITIAL, *ACTIVE)) or group.aborted:
                self.store.finish_rollout(
                    group.rollout_id,
                    "aborted" if group.aborted else "finished",
                    self.clock(),
                    group.aborted,
                )

    async def _submit(
        self, queues: dict[str | None, deque[_Job]], in_flight: dict[str, _Job]
    ) -> None:
        now = self.clock()
        room = self.settings.max_in_flight - len(in_flight)
        active_per_group = Counter(job.group.profile for job in in_flight.values())
        batch: list[_Job] = []
        for name, queue in queues.items():
            if not queue or room <= 0:
                continue
            group = queue[0].group
            if group.aborted:
                continue
            allowed = min(room, group.policy.max_in_flight - active_per_group[name])
            if group.policy.max_per_minute is not None:
                paced = int((now - group.started_at) * group.policy.max_per_minute / 60) + 1
                allowed = min(allowed, paced - group.submitted)
            deferred: list[_Job] = []
            while queue and allowed > 0:
                job = queue.popleft()
                if job.not_before > now:
                    deferred.append(job)
                    continue
                batch.append(job)
                allowed -= 1
                room -= 1
                group.submitted += 1
            queue.extend(deferred)
        if not batch:
            return
        requests: list[tuple[_Job, JobRequest]] = []
        declined: list[AppliedGateway] = []
        for job in batch:
            try:
                parameters = jobs.wire_parameters(job.state.send, self.resolve_secret)
            except jobs.MissingSecretError as exc:
                declined.append(self._set(job, Status.DECLINED, reason=str(exc)))
                job.group.attempted += 1
                job.group.declined += 1
                continue
            key = job.state.job_key or jobs.idempotency_key(
                job.group.rollout_id, job.state.gateway_id, job.state.send
            )
            requests.append((job, JobRequest(job.state.gateway_id, parameters, key)))
        chunks = [requests[i : i + MAX_BATCH] for i in range(0, len(requests), MAX_BATCH)]
        results = await asyncio.gather(
            *(self.driver.submit_jobs([r for _, r in chunk]) for chunk in chunks),
            return_exceptions=True,
        )
        updates = declined
        for chunk, result in zip(chunks, results, strict=True):
            if isinstance(result, errors.AuthenticationError):
                raise result
            if isinstance(result, BaseException):
                updates.extend(self._submit_failed([job for job, _ in chunk], result, queues))
                continue
            for (job, _), submission in zip(chunk, result, strict=True):
                job.group.attempted += 1
                if submission.ok and submission.job_id is not None:
                    job.submitted_at = now
                    updates.append(self._set(job, Status.REQUESTED, job_id=submission.job_id))
                    in_flight[submission.job_id] = job
                else:
                    job.group.declined += 1
                    reason = f"{submission.error_code}: {submission.error_message}"
                    updates.append(self._set(job, Status.DECLINED, reason=reason))
        self._write(updates)

    def _submit_failed(
        self, failed: Sequence[_Job], error: BaseException, queues: dict[str | None, deque[_Job]]
    ) -> list[AppliedGateway]:
        updates = []
        for job in failed:
            attempts = job.state.attempts + 1
            if (
                isinstance(error, errors.TransientHeadendError)
                and attempts < self.settings.submit_attempts
            ):
                job.state = replace(job.state, attempts=attempts)
                job.not_before = self.clock() + self.settings.resubmit_backoff_s * 2 ** (
                    attempts - 1
                )
                job.group.submitted -= 1
                queues.setdefault(job.group.profile, deque()).append(job)
                updates.append(job.state)
                continue
            job.group.attempted += 1
            job.group.declined += 1
            prefix = (
                "retries exhausted: " if isinstance(error, errors.TransientHeadendError) else ""
            )
            updates.append(
                self._set(job, Status.DECLINED, reason=f"{prefix}{error}", attempts=attempts)
            )
        if failed:
            log.warning("submitting %d jobs failed: %s", len(failed), error)
        return updates

    async def _poll(self, in_flight: dict[str, _Job], outcome: Outcome) -> list[_Job]:
        ids = list(in_flight)
        chunks = [ids[i : i + MAX_BATCH] for i in range(0, len(ids), MAX_BATCH)]
        results = await asyncio.gather(
            *(self.driver.job_status(c) for c in chunks), return_exceptions=True
        )
        now = self.clock()
        updates: list[AppliedGateway] = []
        accepted: list[_Job] = []
        forget: list[str] = []
        for result in results:
            if isinstance(result, BaseException):
                if isinstance(result, errors.AuthenticationError):
                    raise result
                log.warning("polling job status failed, trying again: %s", result)
                continue
            for status in result:
                job = in_flight.get(status.job_id)
                if job is None:
                    continue
                if (
                    status.status in ("accepted", "declined")
                    and job.state.status is Status.REQUESTED
                ):
                    # The head-end sent it between two polls: Sent is a fact, record it too.
                    updates.append(self._set(job, Status.SENT))
                update = self._on_status(job, status)
                if update is None:
                    continue
                if update.status in (Status.ACCEPTED, Status.DECLINED):
                    del in_flight[status.job_id]
                    if update.status is Status.ACCEPTED:
                        if _leaves_management(update):
                            forget.append(update.gateway_id)
                            outcome.forgotten += 1
                        else:
                            accepted.append(job)
                updates.append(update)
        for job_id, job in list(in_flight.items()):
            # Also catches a job the head-end no longer reports at all.
            if now - job.submitted_at > self.settings.job_timeout_s:
                del in_flight[job_id]
                job.group.declined += 1
                updates.append(
                    self._set(
                        job,
                        Status.DECLINED,
                        reason=f"no answer within {self.settings.job_timeout_s:.0f} s",
                    )
                )
        self._write(updates)
        if forget:
            self.store.forget(forget)
        return accepted

    def _on_status(self, job: _Job, status: JobStatus) -> AppliedGateway | None:
        current = job.state.status
        if status.status == "sent" and current is Status.REQUESTED:
            return self._set(job, Status.SENT)
        if status.status == "accepted":
            return self._set(
                job, Status.ACCEPTED, accepted=job.state.target, send={}, reason="", mismatch={}
            )
        if status.status == "declined":
            job.group.declined += 1
            reason = status.reason or "declined"
            if status.rejected_parameters:
                reason += "; rejected: " + ", ".join(
                    f"{k}: {v}" for k, v in sorted(status.rejected_parameters.items())
                )
            return self._set(job, Status.DECLINED, reason=reason)
        return None

    async def _verify(self, accepted: list[_Job], queues: dict[str | None, deque[_Job]]) -> None:
        """Read back what was just accepted; Mismatch where it differs, and reapply if the policy says so."""
        changed, mismatched = await self._compare([job.state for job in accepted])
        if changed:
            self._write(changed)
        by_id = {job.state.gateway_id: job for job in accepted}
        states = {s.gateway_id: s for s in changed}
        for gateway_id in mismatched:
            job = by_id[gateway_id]
            job.state = states.get(gateway_id, job.state)
            if job.group.policy.on_mismatch == "reapply" and not job.reapplied:
                send = {
                    k: job.state.accepted[k] for k in job.state.mismatch if k in job.state.accepted
                }
                key = jobs.idempotency_key(job.group.rollout_id, gateway_id, send, generation=1)
                job.state = replace(job.state, send=send, job_key=key, target=job.state.accepted)
                job.reapplied = True
                job.group.submitted -= 1
                self._write([self._set(job, Status.INITIAL)])
                queues.setdefault(job.group.profile, deque()).append(job)

    async def _compare(
        self, states: Sequence[AppliedGateway]
    ) -> tuple[list[AppliedGateway], list[str]]:
        ids = [s.gateway_id for s in states]
        size = self.settings.readback_batch
        try:
            results = await asyncio.gather(
                *(self.driver.read_configs(ids[i : i + size]) for i in range(0, len(ids), size))
            )
        except errors.HeadendError as exc:
            log.warning("reading configurations back failed, trying later: %s", exc)
            return [], []
        live: dict[str, Any] = {}
        for result in results:
            live.update(result)
        now = self.clock()
        changed: list[AppliedGateway] = []
        mismatched: list[str] = []
        for state in states:
            config = live.get(state.gateway_id)
            if config is None:
                continue
            version = parse_version(config.firmware)
            syntax = self.catalog.for_gateway(state.type, version) if version else {}
            drift = readback.differences(state.accepted, config.parameters, syntax)
            if drift:
                mismatched.append(state.gateway_id)
                if state.status is not Status.MISMATCH or dict(state.mismatch) != drift:
                    keys = ", ".join(sorted(drift))
                    changed.append(
                        replace(
                            state,
                            status=Status.MISMATCH,
                            mismatch=drift,
                            updated_at=now,
                            reason=f"live configuration differs: {keys}",
                        )
                    )
            elif state.status is Status.MISMATCH:
                changed.append(
                    replace(state, status=Status.ACCEPTED, mismatch={}, reason="", updated_at=now)
                )
        for state in changed:
            self._count(state.status, 1)
        return changed, mismatched

    # --- bookkeeping ---------------------------------------------------------------------------

    def _set(self, job: _Job, status: Status, **changes: Any) -> AppliedGateway:
        previous = job.state.status
        job.state = replace(job.state, status=status, updated_at=self.clock(), **changes)
        if previous is not status:
            job.group.counts[previous] -= 1
            job.group.counts[status] += 1
            self._count(status, 1)
        return job.state

    def _write(self, updates: list[AppliedGateway]) -> None:
        if updates:
            self.store.write(updates)

    def _count(self, status: Status, count: int) -> None:
        if self.on_transition is not None and count:
            self.on_transition(status, count)

    def _check_abort(self, outcome: Outcome) -> None:
        for group in outcome.groups.values():
            abort = group.policy.abort
            if group.aborted or abort is None or group.attempted < abort.min_attempted:
                continue
            share = group.declined / group.attempted
            if share > abort.max_declined_ratio:
                group.aborted = (
                    f"aborted: {group.declined} of {group.attempted} declined "
                    f"({share:.0%} > {abort.max_declined_ratio:.0%})"
                )
                log.warning(
                    "profile %s: %s; the rest stay Initial until a retry or a new commit",
                    group.profile,
                    group.aborted,
                )
                self.store.finish_rollout(group.rollout_id, "aborted", self.clock(), group.aborted)


def _initial_state(
    p: GatewayPlan, rollout_id: int, commit: str | None, now: float
) -> AppliedGateway:
    # The plan's mappings are shared and read-only (most gateways of a profile share one
    # desired configuration); copying them here cost ~4 KB per gateway at fleet scale.
    return AppliedGateway(
        p.gateway_id,
        p.type,
        p.firmware,
        p.profile if p.declared else None,
        Status.INITIAL,
        accepted=p.old,
        target=p.desired,
        commit=commit,
        updated_at=now,
        skipped=_skipped_texts(p),
        send=p.send,
        job_key=jobs.idempotency_key(rollout_id, p.gateway_id, p.send),
        rollout_id=rollout_id,
    )


_SKIPPED: dict[tuple[object, ...], tuple[str, ...]] = {}


def _skipped_texts(p: GatewayPlan) -> tuple[str, ...]:
    """Skip reasons as texts, one shared tuple per distinct set (gateways of a profile share them)."""
    if not p.skipped:
        return ()
    key = tuple(p.skipped)
    found = _SKIPPED.get(key)
    if found is None:
        found = _SKIPPED[key] = tuple(str(s) for s in p.skipped)
    return found


def _accepted(state: AppliedGateway, now: float) -> AppliedGateway:
    return replace(state, status=Status.ACCEPTED, accepted=state.target, send={}, updated_at=now)


def _leaves_management(state: AppliedGateway) -> bool:
    return state.profile is None and not state.target


def _differing(target: Mapping[str, Any], accepted: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in target.items() if k not in accepted or accepted[k] != v}


__all__ = ["Action", "Engine", "GroupProgress", "NothingToRetry", "Outcome"]
