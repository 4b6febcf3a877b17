"""One reconcile cycle: resume what an earlier run left, plan a commit against the store, roll it out.

The one "resume, plan, apply" sequence.  Called by ``reconciler apply``
(:mod:`reconciler.cli.apply`, through :func:`reconcile_once`) and by the
daemon's rollout task (:mod:`reconciler.daemon.rollout`, with an engine and a
planner it keeps between commits).  ``reconciler retry`` uses
:func:`retry_once`.

:func:`reconcile`, in order:

1. reads the head-end's inventory when none is given;
2. with ``resume``, finishes what an earlier run left (Initial, Requested, Sent);
3. with ``affected`` (an incremental plan: only those gateways), reads the
   inventory again when one of them is declared but unknown to it (a gateway
   new to us may be new to the head-end's inventory too);
4. plans in a worker thread (100,000 gateways take seconds; an event loop keeps
   serving meanwhile), reading only the affected gateways' states when few;
5. applies the prune guard (:func:`reconciler.plan.guards.check_resets`): a plan
   that would reset more than ``max_reset_share`` of the gateways in the store
   (managed before this commit), or all of them, is held unless ``allow_reset``
   names the commit: nothing is rolled out and :attr:`PlanSummary.held` says why;
6. summarises the plan (totals line, errors, deferred ids), frees it, the
   declarations and the inventory (~1.5 KB per gateway, before the rollout's
   own peak), calls ``on_planned`` and, unless held, carries out the actionable
   gateways.

A newer commit may supersede the cycle (the engine's ``superseded`` event, set by
the daemon): a plan made meanwhile is not carried out, and a rollout under way
starts no more jobs (:attr:`CycleResult.superseded`).  The gateways it left Initial
sit in a rollout recorded as finished; whenever a plan covers such a gateway (the
daemon plans the superseded cycle's gateways again) it is rolled out afresh for the
new commit, also when the new commit wants what it was already heading for.

Engine errors (a head-end failure) propagate: every status is durable, so the
next cycle resumes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Set
from dataclasses import dataclass, replace

from reconciler.drivers.base import Driver
from reconciler.engine import digests, jobs
from reconciler.engine.rollouts import Engine, Outcome
from reconciler.model.files import RolloutPolicy
from reconciler.model.inventory import InventoryGateway
from reconciler.model.repos import Repo
from reconciler.model.state import AppliedGateway, Status
from reconciler.plan import guards
from reconciler.plan.planning import Action, Plan, Planner
from reconciler.plan.rendering import totals_line
from reconciler.plan.values import same
from reconciler.store.base import StateStore

Inventory = Mapping[str, InventoryGateway]
InventoryReader = Callable[[], Awaitable[Inventory]]

FEW_STATES = 2_000
"""Up to this many affected gateways, their states are read one by one; beyond, in one scan."""


@dataclass(frozen=True, slots=True)
class PlanSummary:
    """What a cycle's plan held, once the plan itself is freed."""

    totals: str
    """The plan's totals line (``Plan: 3 to push, ...; 80 unchanged.``)."""
    planned: int
    """Gateways planned (with ``affected``: only those)."""
    actionable: int
    """Gateways with a job to carry out (push, reset, move)."""
    errors: tuple[tuple[str, str], ...]
    """``(gateway id, message)`` of every gateway planned as an error."""
    deferred: frozenset[str]
    """Gateways whose change waits for their active rollout to end (plan them again later),
    and those whose job a superseded rollout left at the head-end (compared once it ends)."""
    seconds: float
    """Time spent planning."""
    resets: int = 0
    """Gateways the plan resets to firmware defaults (they leave management)."""
    managed: int = 0
    """Gateways in the store before this commit (counted only when the plan resets some)."""
    held: str = ""
    """Why the prune guard holds this plan (nothing is rolled out); empty: it may roll out."""
    allowed: bool = False
    """The guard would have held it, but ``allow_reset`` names this commit."""


@dataclass(frozen=True, slots=True)
class CycleResult:
    """Where one cycle ended: its plan's summary, the resumed work and the rollout."""

    plan: PlanSummary
    resumed: Outcome | None
    """What the resume carried out (``None``: not asked to resume)."""
    applied: Outcome

    @property
    def held(self) -> str:
        """Why the commit was held by the prune guard (nothing rolled out); empty when it was not."""
        return self.plan.held

    @property
    def superseded(self) -> bool:
        """A newer commit superseded the cycle before or while it rolled out."""
        return self.applied.superseded

    @property
    def all_accepted(self) -> bool:
        """Every gateway of the resume and the rollout reached Accepted, no plan error, not held."""
        resumed = self.resumed is None or self.resumed.all_accepted
        return resumed and self.applied.all_accepted and not self.plan.errors and not self.held


def policies_of(repo: Repo) -> dict[str, RolloutPolicy]:
    """Every profile's ``rollout:`` block, by profile name."""
    return {name: profile.rollout for name, profile in repo.profiles.items()}


async def reconcile(
    *,
    engine: Engine,
    planner: Planner,
    repo: Repo,
    store: StateStore,
    commit: str | None,
    policies: Mapping[str, RolloutPolicy],
    read_inventory: InventoryReader,
    inventory: Inventory | None = None,
    affected: Set[str] | None = None,
    resume: bool = True,
    on_resumed: Callable[[Outcome], None] | None = None,
    on_planned: Callable[[PlanSummary], None] | None = None,
    max_reset_share: float = guards.DEFAULT_MAX_RESET_SHARE,
    allow_reset: str | None = None,
) -> CycleResult:
    """Resume, plan ``repo`` (every gateway, or only ``affected``) and carry the plan out.

    ``planner`` must have been made for ``repo.catalog`` (the engine's catalog
    too).  The caller that wants the declarations freed before the rollout
    drops its own reference to ``repo`` before awaiting (see
    :func:`reconcile_once`).  A plan the prune guard holds is not carried out:
    the result's :attr:`CycleResult.held` says why (``allow_reset`` naming
    ``commit`` lets it through).
    """
    if inventory is None:
        inventory = await read_inventory()
    resumed = None
    if resume:
        resumed = await engine.resume(policies)
        if on_resumed is not None:
            on_resumed(resumed)
    if affected is not None and any(i in repo.gateways and i not in inventory for i in affected):
        inventory = await read_inventory()
    started = time.perf_counter()
    plan = await asyncio.to_thread(_plan, planner, repo, inventory, store, affected)
    if engine.superseded.is_set():
        return CycleResult(plan=_empty(plan), resumed=resumed, applied=Outcome(superseded=True))
    check = await _check_resets(plan, store, max_reset_share)
    allowed = check.held and guards.allowed(commit, allow_reset)
    work = Plan({p.gateway_id: p for p in plan.actionable()})
    summary = PlanSummary(
        totals=totals_line(plan),
        planned=len(plan.gateways),
        actionable=len(work.gateways),
        errors=tuple(
            (p.gateway_id, p.message) for p in plan.gateways.values() if p.action is Action.ERROR
        ),
        # A job a superseded run left at the head-end ends in this rollout: compare then.
        deferred=frozenset(p.gateway_id for p in plan.gateways.values() if p.action is Action.DEFER)
        | engine.carried,
        seconds=time.perf_counter() - started,
        resets=check.resets,
        managed=check.managed,
        held="" if allowed else check.reason,
        allowed=allowed,
    )
    # The declarations, the inventory and the unchanged gateways' plans are not needed to
    # roll out: free them before the rollout's own peak.
    del plan, repo, inventory
    if on_planned is not None:
        on_planned(summary)
    if summary.held:
        return CycleResult(plan=summary, resumed=resumed, applied=Outcome())
    rollout = engine.apply(work, commit=commit, policies=policies)
    del work  # the engine frees the gateways' plans once their jobs are queued
    applied = await rollout
    return CycleResult(plan=summary, resumed=resumed, applied=applied)


async def _check_resets(plan: Plan, store: StateStore, max_share: float) -> guards.ResetCheck:
    """The prune guard; the store's gateways are counted (in a worker thread) only when needed."""
    if not any(p.action is Action.RESET for p in plan.gateways.values()):
        return guards.ResetCheck(0, 0)
    managed = await asyncio.to_thread(lambda: len(store.applied()))
    return guards.check_resets(plan, managed=managed, max_share=max_share)


def _empty(plan: Plan) -> PlanSummary:
    """The summary of a plan not carried out (superseded before it started)."""
    return PlanSummary(totals_line(plan), len(plan.gateways), 0, (), frozenset(), 0.0)


def _plan(
    planner: Planner,
    repo: Repo,
    inventory: Inventory,
    store: StateStore,
    affected: Set[str] | None,
) -> Plan:
    """In a worker thread: the states it needs, then the plan (incremental with ``affected``),
    with the gateways a superseded rollout left Initial rolled out afresh (:func:`_restart`)."""
    if affected is not None and len(affected) <= FEW_STATES:
        # Incremental: read only the affected gateways' states (10,000 rows cost ~0.3 s).
        applied = {i: s for i in affected if (s := store.get(i)) is not None}
    else:
        # Many: one scan beats a query per gateway (100,000 queries took 4.4 s).
        everything = store.applied()
        applied = (
            everything
            if affected is None or affected >= everything.keys()  # (no second dict of them all)
            else {i: everything[i] for i in affected if i in everything}
        )
    plan = planner.plan(
        repo,
        inventory,
        applied,
        previous=None if affected is None else Plan({}),
        affected=affected,
    )
    if any(s.status is Status.INITIAL for s in applied.values()):
        ended = {r.rollout_id for r in store.rollouts() if r.state == "finished"}
        _restart(
            plan,
            [s for s in applied.values() if s.status is Status.INITIAL and s.rollout_id in ended],
        )
    return plan


def _restart(plan: Plan, states: Iterable[AppliedGateway]) -> None:
    """Roll out afresh the Initial gateways a superseded rollout left (it ended without them).

    The planner leaves such a gateway alone when the new commit wants what it was heading
    for (it counts on a resume, which skips these): it is pushed again, with what it was to
    be sent.  When the new commit wants what it already has, it is pushed with nothing to
    send (Accepted at once, no job).  Any other action was planned against the new commit.
    """
    for state in states:
        p = plan.gateways.get(state.gateway_id)
        if p is None or p.action is not Action.NONE:
            continue
        heading = state.target.keys() == p.desired.keys() and all(
            same(v, p.desired[k]) for k, v in state.target.items()
        )
        plan.gateways[state.gateway_id] = replace(
            p, action=Action.PUSH, send=state.send if heading else {}
        )


# --- one-shot use: the commands ------------------------------------------------------------------


async def reconcile_once(
    *,
    repo: Repo,
    commit: str | None,
    driver: Driver,
    store: StateStore,
    resolve_secret: Callable[[str], str | None],
    on_progress: Callable[[Outcome], None] | None = None,
    on_planned: Callable[[PlanSummary], None] | None = None,
    max_reset_share: float = guards.DEFAULT_MAX_RESET_SHARE,
    allow_reset: str | None = None,
    shared: bool = False,
) -> CycleResult:
    """One whole cycle of ``repo`` with a fresh engine and planner (``reconciler apply``).

    Drop your own reference to ``repo`` before awaiting this, and the
    declarations are freed once planned.  ``shared``: the engine only opens and
    supervises rollouts (:class:`Engine`'s ``shared``; workers carry them out).
    """
    engine = Engine(
        driver=driver,
        store=store,
        catalog=repo.catalog,
        resolve_secret=resolve_secret,
        on_progress=on_progress,
        shared=shared,
    )
    planner = Planner(
        repo.catalog,
        digest=digests.secret_digest(store, resolve_secret),
        check_secret=jobs.secret_check(resolve_secret),
    )

    async def read_inventory() -> Inventory:
        return {g.id: g for g in await driver.inventory()}

    work = reconcile(
        engine=engine,
        planner=planner,
        repo=repo,
        store=store,
        commit=commit,
        policies=policies_of(repo),
        read_inventory=read_inventory,
        on_planned=on_planned,
        max_reset_share=max_reset_share,
        allow_reset=allow_reset,
    )
    del repo  # the cycle holds the last reference and frees it once planned
    return await work


async def retry_once(
    *,
    profile: str,
    repo: Repo,
    commit: str | None,
    driver: Driver,
    store: StateStore,
    resolve_secret: Callable[[str], str | None],
    on_progress: Callable[[Outcome], None] | None = None,
    shared: bool = False,
) -> Outcome:
    """Retry Upload for ``profile`` with a fresh engine (``reconciler retry``).

    Raises :class:`~reconciler.engine.rollouts.NothingToRetry` when no member
    may be retried.  ``shared`` as for :func:`reconcile_once`.
    """
    engine = Engine(
        driver=driver,
        store=store,
        catalog=repo.catalog,
        resolve_secret=resolve_secret,
        on_progress=on_progress,
        shared=shared,
    )
    return await engine.retry(profile, policies=policies_of(repo), commit=commit)
