"""The rollout engine's decisions, pure: plain values in, plain values out.

Which queued jobs may start now (engine-wide and per-profile ``max_in_flight``,
``max_per_minute`` pacing, backoff), what a job status from the head-end makes
of a gateway's status, when a rollout is aborted, when a failed submission is
resubmitted, when a job has waited too long, when the head-end lost a job and
when a run is stalled.  No asyncio, no driver, no
store: the runner (:mod:`reconciler.engine.runner`) asks these once per tick
and does the I/O, the way httpx's ``_redirect_method``/``_redirect_url`` sit
beside its one send loop.  Unit-tested with plain values in
``tests/engine/test_decisions.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from reconciler import errors
from reconciler.drivers.base import JobStatus
from reconciler.engine.settings import EngineSettings
from reconciler.model.catalogs import Catalog
from reconciler.model.files import RolloutPolicy
from reconciler.model.state import AppliedGateway, Status

DEFAULT_POLICY = RolloutPolicy()


def policy_for(policies: Mapping[str, RolloutPolicy], profile: str | None) -> RolloutPolicy:
    """The rollout policy of ``profile``; the default for gateways without one (subsettings only)."""
    return policies.get(profile, DEFAULT_POLICY) if profile else DEFAULT_POLICY


# --- admission: which jobs start now ---------------------------------------------------------


class Waiting(Protocol):
    """A queued job as admission sees it: not to be started before ``not_before`` (backoff)."""

    @property
    def not_before(self) -> float: ...


class Paced(Protocol):
    """A profile's rollout as admission sees it (:class:`~reconciler.engine.progress.GroupProgress` is one)."""

    @property
    def policy(self) -> RolloutPolicy: ...

    @property
    def started_at(self) -> float: ...

    @property
    def submitted(self) -> int: ...

    @property
    def aborted(self) -> str: ...


W = TypeVar("W", bound=Waiting)
K = TypeVar("K")


@dataclass(frozen=True, slots=True)
class Admission(Generic[W]):
    """What to do with the front of one queue: ``start`` these now; ``deferred`` are still
    backing off and go to the back of the queue.  Both came off the front, in queue order."""

    start: list[W]
    deferred: list[W]

    @property
    def taken(self) -> int:
        """How many jobs left the front of the queue."""
        return len(self.start) + len(self.deferred)


def quota(policy: RolloutPolicy, *, room: int, active: int, submitted: int, elapsed: float) -> int:
    """How many more jobs of one profile's rollout may start now (0 or less: none).

    ``room``: free engine-wide slots; ``active``: this profile's jobs in flight;
    ``submitted``: jobs started in this rollout so far; ``elapsed``: seconds
    since it started.  With ``max_per_minute`` the n-th job (from 0) starts no
    earlier than ``n * 60 / max_per_minute`` seconds after the rollout began.
    """
    allowed = min(room, policy.max_in_flight - active)
    if policy.max_per_minute is not None:
        paced = int(elapsed * policy.max_per_minute / 60) + 1
        allowed = min(allowed, paced - submitted)
    return allowed


def room(max_in_flight: int, in_flight: int, carried: int) -> int:
    """Free engine-wide slots: ``max_in_flight`` less the jobs in flight.

    ``carried`` of those are a superseded rollout's, left at the head-end: they never take
    the last tenth of the slots (at least one), so that a newer commit's first jobs start
    at once; the head-end then holds at most a tenth more than ``max_in_flight`` per
    superseded rollout whose jobs are still running.
    """
    reserve = max(1, max_in_flight // 10)
    return max_in_flight - (in_flight - carried) - min(carried, max_in_flight - reserve)


def admissible(queue: Iterable[W], limit: int, now: float) -> Admission[W]:
    """From the front of ``queue``: the first ``limit`` jobs whose backoff has passed start;
    jobs still backing off that are passed over on the way are deferred."""
    start: list[W] = []
    deferred: list[W] = []
    if limit <= 0:
        return Admission(start, deferred)
    for job in queue:
        if len(start) >= limit:
            break
        (deferred if job.not_before > now else start).append(job)
    return Admission(start, deferred)


def admit(
    queues: Mapping[K, Sequence[W]],
    groups: Mapping[K, Paced],
    *,
    active: Mapping[K, int],
    room: int,
    now: float,
) -> dict[K, Admission[W]]:
    """Which queued jobs start now, per profile (queues left alone are left out).

    The engine-wide ``room`` is shared out in queue order; each profile's
    ``max_in_flight`` (``active``: its jobs in flight) and pace apply; an
    aborted profile starts nothing.
    """
    chosen: dict[K, Admission[W]] = {}
    for key, queue in queues.items():
        if not queue or room <= 0:
            continue
        group = groups[key]
        if group.aborted:
            continue
        allowed = quota(
            group.policy,
            room=room,
            active=active.get(key, 0),
            submitted=group.submitted,
            elapsed=now - group.started_at,
        )
        admission = admissible(queue, allowed, now)
        if admission.taken:
            chosen[key] = admission
            room -= len(admission.start)
    return chosen


# --- what a head-end answer means ------------------------------------------------------------

Step = tuple[Status, dict[str, Any]]
"""A new status and the fields of the gateway's state that change with it."""


def declined_reason(reason: str | None, rejected: Mapping[str, str]) -> str:
    """A decline's reason as kept: the head-end's, with each rejected parameter and why."""
    text = reason or "declined"
    if rejected:
        text += "; rejected: " + ", ".join(f"{k}: {v}" for k, v in sorted(rejected.items()))
    return text


def next_status(
    state: AppliedGateway, reported: JobStatus, reboot_keys: Callable[[str], bool]
) -> tuple[Step, ...]:
    """The transitions a job status from the head-end makes, in order (none: nothing new).

    The state's ``target`` becomes the accepted configuration.  Accepted or
    declined while still Requested records Sent first: the head-end sent the job
    between two polls, and Sent is a fact.  A declined job that the device
    applied in part (``applied_parameters``) keeps those keys as accepted, so a
    retry sends only the rest.  With ``reboot_required``, the keys sent that
    take effect after a reboot (``reboot_keys``; all sent keys when the catalog
    names none) are "reboot pending" until the device boots.
    """
    current = state.status
    if reported.status == "sent":
        return ((Status.SENT, {}),) if current is Status.REQUESTED else ()
    final: Step
    pending = _pending(state, reported, reboot_keys)
    if reported.status == "accepted":
        fields = {"accepted": state.target, "send": {}, "reason": "", "mismatch": {}}
        final = (Status.ACCEPTED, fields | {"reboot_pending": pending})
    elif reported.status == "declined":
        reason = declined_reason(reported.reason, reported.rejected_parameters)
        fields = {"reason": reason}
        applied = {k: state.target[k] for k in reported.applied_parameters if k in state.target}
        if applied:
            fields |= {"accepted": {**state.accepted, **applied}, "reboot_pending": pending}
        final = (Status.DECLINED, fields)
    else:
        return ()
    return ((Status.SENT, {}), final) if current is Status.REQUESTED else (final,)


def reboots(catalog: Catalog, gateway_type: str, key: str) -> bool:
    """Whether the catalog says ``key`` of ``gateway_type`` takes effect after a reboot."""
    spec = catalog.spec(gateway_type, key)
    return spec is not None and spec.reboot


def _pending(
    state: AppliedGateway, reported: JobStatus, reboot_keys: Callable[[str], bool]
) -> tuple[str, ...]:
    if not reported.reboot_required:
        return state.reboot_pending
    sent = [
        k for k in state.send if reported.status == "accepted" or k in reported.applied_parameters
    ]
    marked = [k for k in sent if reboot_keys(k)]
    return tuple(sorted(set(state.reboot_pending) | set(marked or sent)))


# --- giving up --------------------------------------------------------------------------------


def abort_reason(attempted: int, declined: int, policy: RolloutPolicy) -> str:
    """Why the rollout starts no more jobs, or ``""``: once ``abort.min_attempted`` jobs were
    attempted, a declined share above ``abort.max_declined_ratio`` aborts it."""
    abort = policy.abort
    if abort is None or attempted < abort.min_attempted or attempted <= 0:
        return ""
    share = declined / attempted
    if share <= abort.max_declined_ratio:
        return ""
    return (
        f"aborted: {declined} of {attempted} declined "
        f"({share:.0%} > {abort.max_declined_ratio:.0%})"
    )


@dataclass(frozen=True, slots=True)
class Resubmission:
    """After a failed submission: resubmit at ``retry_at``, or (``None``) Declined with ``reason``."""

    attempts: int
    """Submissions made so far, the failed one included."""
    retry_at: float | None
    reason: str = ""


def resubmission(
    attempts: int, error: BaseException, settings: EngineSettings, now: float
) -> Resubmission:
    """What follows a submission that failed with ``error`` after ``attempts`` earlier ones.

    A transient error (the driver's own retries gave up) is resubmitted after
    ``resubmit_backoff_s``, doubled per attempt, until ``submit_attempts``
    submissions were made; then "retries exhausted: ...".  Any other error
    declines at once with its message.
    """
    made = attempts + 1
    transient = isinstance(error, errors.TransientHeadendError)
    if transient and made < settings.submit_attempts:
        return Resubmission(made, now + settings.resubmit_backoff_s * 2 ** (made - 1))
    prefix = "retries exhausted: " if transient else ""
    return Resubmission(made, None, f"{prefix}{error}")


def timeout_reason(submitted_at: float, now: float, job_timeout_s: float) -> str:
    """Why a job still active is given up, or ``""``: no answer for over ``job_timeout_s``."""
    if now - submitted_at > job_timeout_s:
        return f"no answer within {job_timeout_s:.0f} s"
    return ""


# --- lost jobs and stalls ---------------------------------------------------------------------


def is_lost(seen_at: float, now: float, grace_s: float) -> bool:
    """Whether a job the head-end left out of a job status answer is lost: it was last
    reported (or submitted) over ``grace_s`` ago.  A job absent for less may be one the
    head-end has not indexed yet; one absent for longer was dropped (a restart without
    its job table), and waiting ``job_timeout_s`` for it would hold its slot for nothing."""
    return now - seen_at > grace_s


def lost_reason(losses: int, settings: EngineSettings) -> str:
    """After a gateway's job was lost ``losses`` times: ``""`` (resubmit it with its stored
    idempotency key) or, from ``lost_job_attempts`` losses on, why it is Declined."""
    if losses < settings.lost_job_attempts:
        return ""
    return (
        f"lost by the head-end {losses} times (left out of its job status answers "
        f"for over {settings.lost_job_grace_s:.0f} s each time)"
    )


def stall_reason(
    *,
    in_flight: int,
    quiet_s: float,
    relost: int,
    relost_ago: float | None,
    stall_after_s: float,
) -> str:
    """Why a run is stalled, or ``""``: the head-end keeps losing jobs (a resubmitted job
    was lost again, ``relost_ago`` seconds ago, within ``stall_after_s``), or jobs are in
    flight and none of them moved for over ``stall_after_s`` (``quiet_s``: seconds since a
    job last started or changed status).  A head-end that loses its jobs once and takes
    them back is not a stall: the resubmissions carry the rollout on."""
    if relost and relost_ago is not None and relost_ago <= stall_after_s:
        return (
            f"the head-end keeps losing jobs: {relost} lost again after a resubmission, "
            f"the last {relost_ago:.0f} s ago"
        )
    if in_flight and quiet_s > stall_after_s:
        return f"{in_flight} jobs in flight and none moved for {quiet_s:.0f} s"
    return ""


def reapplies(policy: RolloutPolicy, already_reapplied: bool) -> bool:
    """Whether drift found right after acceptance is pushed again (once per detection)."""
    return policy.on_mismatch == "reapply" and not already_reapplied
