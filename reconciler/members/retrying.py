"""The one "may this profile be retried" rule (Retry Upload), pure.

A member may be retried when it is Declined, in Mismatch, or still Initial in a
rollout that was aborted (the abort policy stopped starting jobs before it got
one).  A profile may be retried when at least one member may.  Used by the
engine's ``retry`` (which members to push again), the daemon's retry endpoint
(refuse or accept), the reports' ``retry_possible`` and the console's button,
so they can never disagree.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from reconciler.model.state import AppliedGateway, Status

RETRIED = (Status.DECLINED, Status.MISMATCH)
"""Statuses whose members Retry Upload pushes again."""


def may_retry(state: AppliedGateway, aborted_rollouts: Collection[int]) -> bool:
    """Whether Retry Upload pushes to this member again."""
    return state.status in RETRIED or (
        state.status is Status.INITIAL and state.rollout_id in aborted_rollouts
    )


def retry_candidates(
    states: Iterable[AppliedGateway], aborted_rollouts: Collection[int], profile: str
) -> list[AppliedGateway]:
    """The members of ``profile`` that Retry Upload would push to (empty: refuse)."""
    return [s for s in states if s.profile == profile and may_retry(s, aborted_rollouts)]


def retryable_profiles(
    states: Iterable[AppliedGateway], aborted_rollouts: Collection[int]
) -> dict[str, int]:
    """Per profile, how many members Retry Upload would push to (profiles with none left out)."""
    counts: dict[str, int] = {}
    for state in states:
        if state.profile is not None and may_retry(state, aborted_rollouts):
            counts[state.profile] = counts.get(state.profile, 0) + 1
    return counts
