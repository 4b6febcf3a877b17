"""The prune guard: a commit that would reset too much of the fleet to firmware defaults is held.

Pure (no I/O).  Called by ``reconciler apply`` and the daemon after planning and
before anything is rolled out.  A gateway counts as reset when its plan is
``reset``: its entry was deleted from gateways.d or it lost its profile, so it
gets one rollout of its firmware defaults and then leaves management.  Removing
every ``profile:`` line, or deleting ``gateways.d``, is one valid commit that
would reset the whole fleet; like Argo CD's ``allowEmpty`` (off by default)
and the abort thresholds of fleet job services, such a commit is held (treated
like an invalid one: nothing rolled out, the reason reported) unless it resets
at most ``max_share`` of the managed gateways and leaves at least one managed,
or the operator lets exactly that commit through (``--allow-reset COMMIT``).
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.plan.planning import Action, Plan

DEFAULT_MAX_RESET_SHARE = 0.1
"""Share of the managed gateways one commit may reset without an explicit ``--allow-reset``."""


@dataclass(frozen=True, slots=True)
class ResetCheck:
    """How much of the fleet a plan resets; ``held`` with the reason when over the limit."""

    resets: int
    managed: int
    reason: str = ""

    @property
    def held(self) -> bool:
        return bool(self.reason)


def check_resets(plan: Plan, *, managed: int, max_share: float) -> ResetCheck:
    """Whether ``plan`` may roll out; ``managed`` counts the gateways managed before it.

    ``plan`` may be incremental (the daemon plans only the gateways a commit
    affects): every reset is among the affected gateways, so counting its resets
    is exact; ``managed`` comes from the store, not from the plan.
    """
    resets = sum(1 for p in plan.gateways.values() if p.action is Action.RESET)
    if not resets or managed <= 0:
        return ResetCheck(resets, managed)
    share = resets / managed
    if resets >= managed:
        reason = (
            f"would reset all {managed:,} managed gateways to firmware defaults "
            "and leave none managed"
        )
    elif share > max_share:
        reason = (
            f"would reset {resets:,} of {managed:,} managed gateways to firmware defaults "
            f"({share:.0%} > the limit of {max_share:.0%})"
        )
    else:
        return ResetCheck(resets, managed)
    return ResetCheck(resets, managed, reason)


def allowed(commit: str | None, allow_reset: str | None) -> bool:
    """Whether ``--allow-reset`` names ``commit`` (a full sha or an unambiguous prefix of 7+)."""
    if not commit or not allow_reset:
        return False
    given = allow_reset.strip().lower()
    return len(given) >= 7 and commit.lower().startswith(given)
