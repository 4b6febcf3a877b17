"""The daemon's status: one record of what the loop knows, read by everything that shows it.

The loop (:mod:`reconciler.daemon.reconciling` and the tasks it starts) writes
it through :meth:`StatusBoard.update`; the report writer
(:mod:`reconciler.daemon.running`) adds the member counts it computed for a
report (the member pages' :class:`~reconciler.daemon.reportbook.Tally`).  Readers take :attr:`StatusBoard.current`: the
reports (:class:`reconciler.daemon.reports.Snapshot` carries a record), the
HTTP endpoints (``/readyz``, the retry endpoint), the metrics
(:meth:`reconciler.daemon.metrics.Metrics.record`, called on every update)
and the demo.  Readers never read one another's output.

A record is frozen and every update makes a new one, so a reader holding one
(a report rendered in a worker thread) sees one consistent moment.  Update it
on the event loop's thread only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from reconciler.daemon.watching import CommitInfo
from reconciler.members.counts import ProfileCounts
from reconciler.model.files import RolloutPolicy
from reconciler.model.inventory import InventoryGateway
from reconciler.model.repos import Repo


@dataclass(frozen=True, slots=True)
class Loaded:
    """One loaded commit: what the report shows about it, and its contents."""

    info: CommitInfo
    repo: Repo


@dataclass(frozen=True, slots=True)
class Held:
    """A valid commit the prune guard holds (:mod:`reconciler.plan.guards`): nothing of it rolled out."""

    info: CommitInfo
    reason: str
    """``would reset 80 of 80 managed gateways ...``."""
    resets: int
    managed: int

    def as_dict(self) -> dict[str, object]:
        """``report.json``'s ``held`` and ``/readyz``'s."""
        return {
            "commit": self.info.as_dict(),
            "reason": self.reason,
            "resets": self.resets,
            "managed": self.managed,
        }

    @property
    def line(self) -> str:
        """One line for people: what is held, why, and how to let it through."""
        return (
            f"commit {self.info.sha[:12]} held, nothing rolled out: it {self.reason}; "
            f"a later commit that passes, or --allow-reset {self.info.sha}, lets the fleet move"
        )


@dataclass(frozen=True, slots=True)
class Replicas:
    """The replicas of a shared store as this one last saw them (the console, metrics, ``/readyz``)."""

    replica: str
    """This replica's name."""
    leader: str = ""
    """The leading replica's name; empty while nobody leads (a lease ran out, not yet taken)."""
    leading: bool = False
    epoch: int = 0
    """The leader lease's epoch: one more with every change of hands."""
    live: int = 0
    claims: Mapping[str, int] = field(default_factory=dict)
    """Gateways in work per live replica (by name)."""
    unowned: int = 0
    """Gateways Requested or Sent that no live replica holds (should stay 0)."""


@dataclass(frozen=True, slots=True)
class DaemonStatus:
    """Everything the daemon knows that others show: commits, work, errors, readiness, counts."""

    head: Loaded | None = None
    """The newest commit on the branch (valid or not)."""
    good: Loaded | None = None
    """The newest valid commit (what is being rolled out)."""
    applied: Loaded | None = None
    """The commit whose plan was last carried out to the end."""
    inventory: Mapping[str, InventoryGateway] | None = None
    """The head-end's inventory as last read (``None``: not read yet)."""
    busy: bool = False
    """A task of the loop runs (a rollout, a read-back): statuses may still move."""
    rollout_running: bool = False
    """A commit's rollout runs (resume, plan, jobs)."""
    git_error: str = ""
    """Why the repository cannot be read, fetched or resolved; empty while it can."""
    git_unsafe: bool = False
    """git refuses the repository because another user owns it (``safe.directory``); ``git_error``
    says which path and the fix."""
    headend_error: str = ""
    """Why the last engine work failed at the head-end; empty once work succeeds again."""
    failed_request: str = ""
    """``endpoint code`` of the last head-end answer when it failed (5xx, no answer), else empty."""
    headend_up: bool | None = None
    """Whether the last head-end request got a non-5xx answer (``None``: no request yet)."""
    held: Held | None = None
    """The newest valid commit, when the prune guard holds it (an operator decision, not a failure)."""
    failing: str = ""
    """``cause: ...`` while the loop or its tasks failed several times in a row; empty otherwise."""
    stalled: str = ""
    """Why the rollout in progress does not move (the head-end keeps losing its jobs, or no job
    changed status for ``stall_after_s``); empty while it moves or none runs."""
    last_rollout: Mapping[str, int] = field(default_factory=dict)
    """Statuses the gateways of the last finished rollout ended in (``Accepted: 11``)."""
    totals: Mapping[str, int] = field(default_factory=dict)
    """Gateways per status, as the last report counted them (every status key)."""
    counts: tuple[ProfileCounts, ...] = ()
    """Gateways per profile and status, as the last report counted them (``None``: no profile)."""
    replicas: Replicas | None = None
    """Who leads and who works, with a shared store (``None``: one process, SQLite)."""

    @property
    def reasons(self) -> list[str]:
        """Why the daemon is not ready (``/readyz``); empty when it is."""
        reasons = []
        if self.head is None:
            reasons.append("no commit loaded yet")
        if self.git_error:
            reasons.append(f"git: {self.git_error}")
        if self.headend_error:
            reasons.append(f"head-end: {self.headend_error}")
        elif self.failed_request:
            reasons.append(f"head-end: last request failed ({self.failed_request})")
        if self.failing:
            reasons.append(self.failing)
        if self.stalled:
            reasons.append(f"rollout stalled: {self.stalled}")
        return reasons

    @property
    def ready(self) -> bool:
        """A commit is loaded, git and the head-end answer, and attempts do not keep failing.

        A held commit does not make the daemon unready: like an invalid commit it is
        the repository's content, waiting for an operator (``held`` says so).
        """
        return not self.reasons

    @property
    def policies(self) -> dict[str, RolloutPolicy]:
        """The rollout policies of the newest valid commit (empty before one is loaded)."""
        repo = self.good.repo if self.good else None
        return {name: p.rollout for name, p in repo.profiles.items()} if repo else {}


DERIVED = frozenset({"totals", "counts"})
"""Fields computed from a report's inputs: updating them does not ask for a new report."""


class StatusBoard:
    """Holds the current :class:`DaemonStatus`; every update replaces it and tells the listeners."""

    def __init__(
        self,
        *,
        on_change: Callable[[], None] = lambda: None,
        on_record: Callable[[DaemonStatus], None] = lambda status: None,
    ) -> None:
        self.current = DaemonStatus()
        self.on_change = on_change
        """Called when something a report shows changed (not for :data:`DERIVED` fields)."""
        self.on_record = on_record
        """Called with every new record (the metrics)."""

    def update(self, **changes: Any) -> DaemonStatus:
        """Replace the fields in ``changes``; listeners are told only when something differs."""
        old = self.current
        differing = {k for k, v in changes.items() if not _same(k, getattr(old, k), v)}
        if not differing:
            return old
        self.current = replace(old, **changes)
        self.on_record(self.current)
        if differing - DERIVED:
            self.on_change()
        return self.current


def _same(name: str, old: object, new: object) -> bool:
    if old is new:
        return True
    if name in DERIVED or isinstance(new, str | bool | int | float):
        return old == new
    return False  # commits, repos, inventories: by identity (comparing them costs seconds)
