"""The rules of docs/reference/desired-state.md: one action per gateway.  Pure: no I/O, no clock.

Actions:

- ``push``   the keys whose desired value differs from the last accepted one
             (the full managed set for a gateway with none accepted yet);
- ``reset``  a member left its profile (or its entry was deleted): one rollout
             of the firmware defaults of the keys it no longer manages;
- ``move``   profile A -> B, with the keys that differ;
- ``defer``  a change for a gateway whose rollout is active (Requested, Sent):
             planned again once that rollout ends;
- ``error``  for that gateway alone: the inventory lacks it, its declared
             type differs from the inventory's, or a secret it would be sent
             breaks its key's catalog rule (with a :data:`SecretCheck`);
- ``none``   nothing to do (a changed comment, description or order; a
             subsetting equal to the profile value; a Declined gateway whose
             desired state has not changed since: it waits for Retry Upload).

Keys a gateway's syntax lacks are listed as skipped on every plan, whatever
the action.  :class:`Planner` keeps the per-(profile, type, firmware) caches
and the previous plan, so the daemon re-plans only affected gateways.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from reconciler.loading import bulk
from reconciler.model.catalogs import Catalog
from reconciler.model.inventory import InventoryGateway
from reconciler.model.repos import Repo
from reconciler.model.state import ACTIVE, AppliedGateway, Status
from reconciler.plan.desired import DesiredState, Skip, merge_skips, skip_reason
from reconciler.plan.secretchecks import SecretCheck, SecretChecks
from reconciler.plan.values import SecretDigest, no_secrets, same

Config = Mapping[str, Any]
Difference = tuple[Config, frozenset[str], tuple[Skip, ...]]  # send, resets, reset keys skipped


class Action(StrEnum):
    PUSH = "push"
    RESET = "reset"
    MOVE = "move"
    DEFER = "defer"
    ERROR = "error"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Change:
    """One key of a job: ``old`` is ``None`` when the gateway never accepted a value for it."""

    key: str
    old: Any
    new: Any
    reset: bool = False


@dataclass(slots=True, eq=True)
class GatewayPlan:
    """The action for one gateway and everything needed to carry it out and show it.

    Read-only; not ``frozen`` (setting fields through ``object.__setattr__`` made planning ~40% slower)."""

    gateway_id: str
    type: str
    firmware: str | None
    action: Action
    profile: str | None
    """The profile the gateway is declared in now (``None``: subsettings only or deleted)."""
    previous_profile: str | None = None
    """The profile it was last rolled out under, from the store."""
    send: Mapping[str, Any] = field(default_factory=dict)
    """Keys to send and their new values (sealed secrets); resets carry the firmware defaults."""
    old: Mapping[str, Any] = field(default_factory=dict)
    """The accepted configuration the change starts from (empty for a first rollout)."""
    desired: Mapping[str, Any] = field(default_factory=dict)
    """The managed configuration once the job is accepted."""
    resets: frozenset[str] = frozenset()
    skipped: tuple[Skip, ...] = ()
    message: str = ""
    """Why: the error, or what is deferred and why."""
    deferred: Action | None = None
    declared: bool = True
    """False when the gateway's entry was deleted from gateways.d (it leaves management)."""

    @property
    def firmware_known(self) -> bool:
        return self.firmware is not None

    @property
    def first(self) -> bool:
        return not self.old and self.action in (Action.PUSH, Action.MOVE)

    def changes(self) -> list[Change]:
        return [
            Change(k, self.old.get(k), v, k in self.resets) for k, v in sorted(self.send.items())
        ]


@dataclass
class Plan:
    """Every gateway's plan, by id."""

    gateways: dict[str, GatewayPlan]

    def counts(self) -> Counter[str]:
        counts: Counter[str] = Counter(p.action.value for p in self.gateways.values())
        counts["skip"] = sum(1 for p in self.gateways.values() if p.skipped)
        return counts

    @property
    def has_changes(self) -> bool:
        return any(p.action not in (Action.NONE, Action.ERROR) for p in self.gateways.values())

    @property
    def has_errors(self) -> bool:
        return any(p.action is Action.ERROR for p in self.gateways.values())

    def actionable(self) -> list[GatewayPlan]:
        return [
            p
            for p in self.gateways.values()
            if p.action not in (Action.NONE, Action.ERROR, Action.DEFER)
        ]


class Planner:
    """Plans gateways against applied state; keeps caches between plans (the daemon's case)."""

    def __init__(
        self,
        catalog: Catalog,
        *,
        digest: SecretDigest = no_secrets,
        check_secret: SecretCheck | None = None,
    ) -> None:
        self.desired = DesiredState(catalog, digest)
        self.checks = SecretChecks(check_secret) if check_secret is not None else None
        """Secret values checked against the catalog (``None``: not checked, e.g. in CI)."""
        self._differences: dict[tuple[int, int, str, str | None], tuple[Any, Any, Difference]] = {}

    def plan(
        self,
        repo: Repo,
        inventory: Mapping[str, InventoryGateway] | None,
        applied: Mapping[str, AppliedGateway],
        *,
        previous: Plan | None = None,
        affected: Iterable[str] | None = None,
    ) -> Plan:
        """Plan every gateway, or with ``previous`` and ``affected`` only those, reusing the rest."""
        if previous is None or affected is None:
            ids: Iterable[str] = sorted(repo.gateways.keys() | applied.keys())
            result: dict[str, GatewayPlan] = {}
        else:
            ids = affected
            result = dict(previous.gateways)
        if self.checks is not None:
            self.checks.start()
        with bulk.paused_gc():
            for gateway_id in ids:
                planned = self.plan_gateway(gateway_id, repo, inventory, applied)
                if planned is None:
                    result.pop(gateway_id, None)
                else:
                    result[gateway_id] = planned
        self._differences.clear()  # what these two hold belongs to this plan
        self.desired.forget_members()
        return Plan(result)

    def plan_gateway(
        self,
        gateway_id: str,
        repo: Repo,
        inventory: Mapping[str, InventoryGateway] | None,
        applied: Mapping[str, AppliedGateway],
    ) -> GatewayPlan | None:
        """One gateway's plan (``None``: neither declared nor in the store)."""
        planned = self._plan_gateway(gateway_id, repo, inventory, applied)
        if planned is None or self.checks is None or not planned.send:
            return planned
        if planned.action not in (Action.PUSH, Action.MOVE, Action.RESET):
            return planned
        specs = self.desired.syntax(planned.type, planned.firmware)
        if specs is None:
            specs = self.desired.catalog.types[planned.type].specs
        problem = self.checks.problem(planned.type, specs, planned.send)
        if not problem:
            return planned
        return GatewayPlan(
            gateway_id,
            planned.type,
            planned.firmware,
            Action.ERROR,
            planned.profile,
            planned.previous_profile,
            old=planned.old,
            skipped=planned.skipped,
            message=problem,
            declared=planned.declared,
        )

    def _plan_gateway(
        self,
        gateway_id: str,
        repo: Repo,
        inventory: Mapping[str, InventoryGateway] | None,
        applied: Mapping[str, AppliedGateway],
    ) -> GatewayPlan | None:
        entry = repo.gateways.get(gateway_id)
        state = applied.get(gateway_id)
        if entry is None and state is None:
            return None
        declared_type = entry.type if entry is not None else state.type  # type: ignore[union-attr]
        profile_name = entry.profile if entry is not None else None
        previous_profile = state.profile if state is not None else None

        if inventory is not None:
            known = inventory.get(gateway_id)
            if known is None:
                return self._error(
                    gateway_id,
                    declared_type,
                    profile_name,
                    previous_profile,
                    entry is not None,
                    "not in the head-end's inventory",
                )
            if known.type != declared_type:
                return self._error(
                    gateway_id,
                    declared_type,
                    profile_name,
                    previous_profile,
                    entry is not None,
                    f"declared type {declared_type}, but the inventory says {known.type}",
                )
            firmware: str | None = known.firmware
        else:
            firmware = state.firmware if state is not None and state.type == declared_type else None
        # What the gateway should manage from now on.
        skipped: tuple[Skip, ...] = ()
        if entry is None:
            managed: Mapping[str, Any] = {}
        elif entry.profile is not None:
            member = self.desired.for_member(repo.profiles[entry.profile], entry, firmware)
            managed, skipped = member.config, member.skipped
        else:
            managed, skipped = self.desired.subsettings(entry, firmware)

        if state is None:
            # The common case on a first rollout: send the (shared, read-only) desired config as is.
            return GatewayPlan(
                gateway_id,
                declared_type,
                firmware,
                Action.PUSH if managed else Action.NONE,
                profile_name,
                None,
                send=managed,
                desired=managed,
                skipped=skipped,
            )

        accepted = state.accepted
        send, resets, reset_skips = self._difference(accepted, managed, declared_type, firmware)
        skipped = merge_skips(skipped, reset_skips)

        action = self._action(state, profile_name, entry is not None, bool(send))
        message = ""
        deferred: Action | None = None
        if action is not Action.NONE:
            if state.status in ACTIVE:
                if _same_config(state.target, managed):
                    action = Action.NONE  # the rollout in progress already heads there
                else:
                    deferred, action = action, Action.DEFER
                    message = (
                        f"rollout in progress ({state.status.value}); planned again when it ends"
                    )
            elif state.status in (Status.DECLINED, Status.INITIAL) and _same_config(
                state.target, managed
            ):
                # Declined: not retried automatically (Retry Upload).  Initial: the engine resumes it.
                action = Action.NONE
        return GatewayPlan(
            gateway_id,
            declared_type,
            firmware,
            action,
            profile_name,
            previous_profile,
            send=send if action is not Action.NONE else {},
            old=accepted,
            desired=managed,
            resets=resets,
            skipped=skipped,
            message=message,
            deferred=deferred,
            declared=entry is not None,
        )

    @staticmethod
    def _error(
        gateway_id: str,
        gateway_type: str,
        profile: str | None,
        previous: str | None,
        declared: bool,
        message: str,
    ) -> GatewayPlan:
        return GatewayPlan(
            gateway_id,
            gateway_type,
            None,
            Action.ERROR,
            profile,
            previous,
            message=message,
            declared=declared,
        )

    def _difference(
        self, accepted: Config, managed: Config, kind: str, firmware: str | None
    ) -> Difference:
        """``(send, resets, reset skips)`` from ``accepted`` to ``managed``, shared per pair of
        (shared) configurations: a full rollout builds a few hundred, not one per gateway."""
        key = (id(accepted), id(managed), kind, firmware)
        found = self._differences.get(key)
        if found is not None and found[0] is accepted and found[1] is managed:
            return found[2]
        resets, skips = self._resets(accepted, managed, kind, firmware)
        if not accepted:
            send: Mapping[str, Any] = managed if not resets else {**managed, **resets}
        else:
            send = {
                k: v for k, v in managed.items() if k not in accepted or not same(accepted[k], v)
            }
            send.update(resets)
        answer = (send, frozenset(resets), skips)
        if len(self._differences) >= 20_000:  # distinct pairs kept, at most
            self._differences.clear()
        self._differences[key] = (accepted, managed, answer)  # holding both keeps their ids
        return answer

    def _resets(
        self,
        accepted: Mapping[str, Any],
        managed: Mapping[str, Any],
        gateway_type: str,
        firmware: str | None,
    ) -> tuple[dict[str, Any], tuple[Skip, ...]]:
        """Firmware defaults for the keys the gateway managed before but no longer does."""
        gone = [k for k in accepted if k not in managed]
        if not gone:
            return {}, ()
        syntax = self.desired.syntax(gateway_type, firmware)
        defaults = self.desired.defaults(gateway_type, firmware)
        resets: dict[str, Any] = {}
        skips: list[Skip] = []
        for key in gone:
            if syntax is not None and key not in syntax:
                skips.append(Skip(key, f"{skip_reason(gateway_type, firmware)}; no longer managed"))
            elif key in defaults:
                resets[key] = defaults[key]
            else:
                skips.append(Skip(key, "has no firmware default; left as it is"))
        return resets, tuple(skips)

    @staticmethod
    def _action(
        state: AppliedGateway | None, profile: str | None, declared: bool, sends: bool
    ) -> Action:
        if state is None:
            return Action.PUSH if sends else Action.NONE
        before = state.profile
        if not declared or (before is not None and profile is None):
            return Action.RESET
        if before is not None and profile is not None and before != profile:
            return Action.MOVE
        if before is None and profile is not None:
            return Action.PUSH
        return Action.PUSH if sends else Action.NONE


def group_of(p: GatewayPlan) -> str | None:
    """The profile a gateway's change belongs to: where it goes, else where it came from."""
    return p.profile or p.previous_profile


def _same_config(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
