"""A rig for engine tests without a network or real time: a config repo on disk, a
:class:`FakeDriver`, a :class:`FakeClock` and a real SQLite store (``make_rig`` in conftest)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from reconciler.engine.rollouts import Engine, Outcome
from reconciler.engine.settings import EngineSettings
from reconciler.loading.repos import load_repo
from reconciler.loading.sources import DirectorySource
from reconciler.model.files import RolloutPolicy
from reconciler.model.repos import Repo
from reconciler.model.state import ACTIVE, AppliedGateway, Status
from reconciler.plan.planning import Plan, Planner
from reconciler.store.sqlite import SQLiteStore
from reconciler.testing import FakeClock, FakeDriver, write

T = TypeVar("T")

PROFILE = """\
name: {name}
parameters:
  LSX:
    backend:
      HeartbeatInterval: {heartbeat}
    charging:
      MaxChargingCurrent: 16
  LSG:
    backend:
      HeartbeatInterval: {heartbeat}
"""

VIRTUAL = EngineSettings(
    poll_interval_s=0.25,  # a power of two: virtual times stay exact
    resubmit_backoff_s=2.0,
    submit_attempts=3,
    job_timeout_s=60.0,
    lost_job_grace_s=5.0,
    stall_after_s=20.0,
)
"""Engine settings for virtual time: every figure a test expects is derived from these."""


@dataclass
class Rig:
    """One fleet split over profiles, its fake head-end, virtual time and a store."""

    root: Path
    members: dict[str, dict[str, str]]
    """Per profile: ``{gateway id: type}``."""
    driver: FakeDriver
    clock: FakeClock
    store: SQLiteStore
    settings: EngineSettings = VIRTUAL
    in_flight: list[dict[str | None, int]] = field(default_factory=list)
    """After every tick (``on_progress``): jobs in flight per profile, as the engine counts them."""
    transitions: Counter[Status] = field(default_factory=Counter)
    """Every transition the ``on_transition`` hook was told of."""
    lost: list[int] = field(default_factory=list)
    """What the ``on_lost_jobs`` hook was told, call by call."""
    stalls: list[tuple[float, str]] = field(default_factory=list)
    """After every tick: virtual seconds elapsed and ``Engine.stalled()``."""
    secrets: dict[str, str] = field(default_factory=dict)
    """Secret values the engine resolves, by name."""

    @property
    def gateways(self) -> dict[str, str]:
        return {gid: kind for members in self.members.values() for gid, kind in members.items()}

    def repo(self) -> Repo:
        return load_repo(DirectorySource(self.root))

    def engine(self, repo: Repo) -> Engine:
        def progress(outcome: Outcome) -> None:
            self.in_flight.append(
                {name: sum(g.counts[s] for s in ACTIVE) for name, g in outcome.groups.items()}
            )
            self.stalls.append((self.clock.elapsed, engine.stalled()))

        def transition(status: Status, count: int) -> None:
            self.transitions[status] += count

        engine = Engine(
            driver=self.driver,
            store=self.store,
            catalog=repo.catalog,
            resolve_secret=self.secrets.get,
            settings=self.settings,
            clock=self.clock.now,
            sleep=self.clock.sleep,
            on_progress=progress,
            on_transition=transition,
            on_lost_jobs=self.lost.append,
        )
        return engine

    def plan(self, repo: Repo) -> Plan:
        inventory = dict(self.driver.gateways)
        return Planner(repo.catalog).plan(repo, inventory, self.store.applied())

    def run(self, work: Callable[[Engine, Repo], Awaitable[T]]) -> T:
        repo = self.repo()
        return asyncio.run(work(self.engine(repo), repo))

    def apply(
        self, policies: Mapping[str, RolloutPolicy] | None = None, *, commit: str = "c1"
    ) -> Outcome:
        chosen = dict(policies or {})
        return self.run(lambda e, r: e.apply(self.plan(r), commit=commit, policies=chosen))

    def statuses(self) -> Counter[Status]:
        return Counter(s.status for s in self.store.applied().values())

    def with_status(self, status: Status) -> list[AppliedGateway]:
        return [s for s in self.store.applied().values() if s.status is status]

    def edit_profile(self, name: str, heartbeat: int) -> None:
        """Change a profile's values (a new commit's content)."""
        write(
            self.root, {f"profiles.d/{name}.yaml": PROFILE.format(name=name, heartbeat=heartbeat)}
        )


RigFactory = Callable[..., Rig]
