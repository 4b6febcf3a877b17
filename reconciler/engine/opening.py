"""Opening rollouts, pure: the Initial states a rollout starts its gateways with.

From a plan (``apply``), from the gateways an aborted rollout of an earlier
commit left Initial (restarted by a new commit), and from Declined, Mismatch
or aborted members pushed again (Retry Upload, ``on_mismatch: reapply``).
Each state carries its idempotency key, stored with it before any job is
submitted.  Called by :class:`~reconciler.engine.rollouts.Engine`; no I/O.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import replace
from typing import Any

from reconciler.engine import jobs
from reconciler.engine.readback import reapply_values
from reconciler.model.state import AppliedGateway, Status
from reconciler.plan.planning import GatewayPlan


def initial_state(
    p: GatewayPlan, rollout_id: int, commit: str | None, now: float
) -> AppliedGateway:
    """A planned gateway, Initial in rollout ``rollout_id``."""
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
        skipped=skipped_texts(p),
        send=p.send,
        job_key=jobs.idempotency_key(rollout_id, p.gateway_id, p.send),
        rollout_id=rollout_id,
    )


_SKIPPED: dict[tuple[object, ...], tuple[str, ...]] = {}


def skipped_texts(p: GatewayPlan) -> tuple[str, ...]:
    """Skip reasons as texts, one shared tuple per distinct set (gateways of a profile share them)."""
    if not p.skipped:
        return ()
    key = tuple(p.skipped)
    found = _SKIPPED.get(key)
    if found is None:
        found = _SKIPPED[key] = tuple(str(s) for s in p.skipped)
    return found


def accepted_state(state: AppliedGateway, now: float) -> AppliedGateway:
    """Accepted without a job: a membership-only change to an identical configuration."""
    return replace(state, status=Status.ACCEPTED, accepted=state.target, send={}, updated_at=now)


def leaves_management(state: AppliedGateway) -> bool:
    """No profile and nothing managed: once its reset is accepted, the store forgets it."""
    return state.profile is None and not state.target


def differing(target: Mapping[str, Any], accepted: Mapping[str, Any]) -> dict[str, Any]:
    """The keys of ``target`` whose value ``accepted`` lacks or differs in."""
    return {k: v for k, v in target.items() if k not in accepted or accepted[k] != v}


def restartable(
    states: Iterable[AppliedGateway],
    aborted: Collection[int],
    commit: str | None,
    planned: Collection[str],
) -> list[AppliedGateway]:
    """Gateways an aborted rollout of another commit left Initial, and that the new plan
    does not cover itself: a new commit starts them again."""
    return [
        s
        for s in states
        if s.status is Status.INITIAL
        and s.rollout_id in aborted
        and s.commit != commit
        and s.gateway_id not in planned
    ]


def restarted_state(
    state: AppliedGateway, rollout_id: int, commit: str | None, now: float
) -> AppliedGateway:
    """A left-Initial gateway joining rollout ``rollout_id`` of ``commit``, with a new key."""
    key = jobs.idempotency_key(rollout_id, state.gateway_id, state.send)
    return replace(state, rollout_id=rollout_id, job_key=key, commit=commit, updated_at=now)


def repushed_state(state: AppliedGateway, rollout_id: int, now: float) -> AppliedGateway:
    """A member pushed again in rollout ``rollout_id``: a Mismatch member gets the accepted
    values of its differing keys, any other what its last job sent (or what differs)."""
    if state.status is Status.MISMATCH:
        send = reapply_values(state)
        target = state.accepted
    else:
        send = dict(state.send) or differing(state.target, state.accepted)
        target = state.target
    key = jobs.idempotency_key(rollout_id, state.gateway_id, send, state.attempts + 1)
    return replace(
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
