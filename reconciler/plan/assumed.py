"""Applied states a plan implies: after its jobs are accepted, or for a base revision.  Pure.

``plan --base REV`` plans against the state ``REV`` would have left
(:func:`assume_applied`); tests build stores from plans (:func:`accepted_state`).
"""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.model.inventory import InventoryGateway
from reconciler.model.repos import Repo
from reconciler.model.state import AppliedGateway, Status
from reconciler.plan.planning import Action, GatewayPlan, Planner


def assume_applied(
    planner: Planner, repo: Repo, inventory: Mapping[str, InventoryGateway] | None
) -> dict[str, AppliedGateway]:
    """The applied state as if ``repo`` had been rolled out completely (``plan --base REV``)."""
    applied: dict[str, AppliedGateway] = {}
    for gateway_id, entry in repo.gateways.items():
        planned = planner.plan_gateway(gateway_id, repo, inventory, {})
        if planned is None or planned.action is Action.ERROR:
            continue
        applied[gateway_id] = AppliedGateway(
            gateway_id,
            entry.type,
            planned.firmware,
            entry.profile,
            Status.ACCEPTED,
            accepted=planned.desired,
            target=planned.desired,
        )
    return applied


def accepted_state(
    p: GatewayPlan, *, at: float = 0.0, commit: str | None = None
) -> AppliedGateway | None:
    """The applied state once ``p``'s job is accepted; ``None`` when the gateway leaves management."""
    if not p.declared or (p.profile is None and not p.desired):
        return None
    return AppliedGateway(
        p.gateway_id,
        p.type,
        p.firmware,
        p.profile,
        Status.ACCEPTED,
        accepted=dict(p.desired),
        target=dict(p.desired),
        commit=commit,
        updated_at=at,
        skipped=tuple(str(s) for s in p.skipped),
    )
