"""How ``apply`` and ``retry`` show a rollout: live progress, the summary and the JSON document.

Used by :mod:`reconciler.cli.apply` and :mod:`reconciler.cli.retry`; reads
the engine's :class:`~reconciler.engine.progress.Outcome` (counts per status
and profile), changes nothing.  On a terminal progress is a live ``rich``
table; in a log or a pipe it is one line per profile, printed only when that
profile's counts changed (at most every 2 s), so a CI log is not the same
line again and again.  ``--quiet`` prints no progress at all.

The JSON of one outcome (:func:`outcome_json`), part of the documents of
``apply --format json`` and ``retry --format json``::

    {"statuses": {"Initial": n, "Requested": n, "Sent": n, "Accepted": n,
                  "Declined": n, "Mismatch": n},           # every status, zeros included
     "profiles": {NAME or "(no profile)": {"rollout_id": n, "gateways": n,
                  "statuses": {...as above}, "aborted": str, "superseded": str}},
     "all_accepted": bool, "superseded": bool, "left": n, "lost_jobs": n}
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from reconciler.cli.common import text_or_json
from reconciler.engine.progress import Outcome
from reconciler.model.state import Status

if TYPE_CHECKING:  # rich loads with the commands that roll out
    from rich.console import Console
    from rich.table import Table

STATUS_ORDER = (
    Status.INITIAL,
    Status.REQUESTED,
    Status.SENT,
    Status.ACCEPTED,
    Status.DECLINED,
    Status.MISMATCH,
)
NO_PROFILE = "(no profile)"
F = TypeVar("F", bound=Callable[..., Any])


def format_option(f: F) -> F:
    """``--format text|json`` (``RECONCILER_FORMAT``) of ``apply`` and ``retry``."""
    return text_or_json("json: one JSON document on stdout at the end (progress on stderr).")(f)


def quiet_option(f: F) -> F:
    """``-q``/``--quiet`` (``RECONCILER_QUIET``) of ``apply`` and ``retry``."""
    return click.option(
        "--quiet",
        "-q",
        is_flag=True,
        envvar="RECONCILER_QUIET",
        help="Print only the summary and errors: no plan totals, no progress.",
    )(f)


def _sorted_groups(outcome: Outcome) -> list[tuple[str, Any]]:
    return [
        (name or NO_PROFILE, group)
        for name, group in sorted(outcome.groups.items(), key=lambda item: item[0] or "")
    ]


def outcome_table(outcome: Outcome, title: str = "Rollout") -> Table:
    """A ``rich`` table: a row per profile, a column per status, and the abort reason."""
    from rich.table import Table

    table = Table(title=title)
    table.add_column("profile")
    for status in STATUS_ORDER:
        table.add_column(status.value, justify="right")
    table.add_column("note")
    for name, group in _sorted_groups(outcome):
        table.add_row(name, *(str(group.counts[s]) for s in STATUS_ORDER), group.aborted)
    return table


def profile_lines(outcome: Outcome) -> dict[str, str]:
    """Profile -> ``"public-ac: Sent 3, Accepted 30"`` (its non-zero counts, and why it aborted)."""
    lines = {}
    for name, group in _sorted_groups(outcome):
        counts = ", ".join(f"{s.value} {group.counts[s]}" for s in STATUS_ORDER if group.counts[s])
        lines[name] = f"{name}: {counts or 'nothing to do'}" + (
            f" ({group.aborted})" if group.aborted else ""
        )
    return lines


def outcome_lines(outcome: Outcome) -> list[str]:
    """The lines of :func:`profile_lines`, in profile order."""
    return list(profile_lines(outcome).values())


def print_outcome(console: Console, outcome: Outcome, title: str) -> None:
    """The summary: a table on a terminal, plain lines (one per profile) in logs and pipes."""
    if console.is_terminal:
        console.print(outcome_table(outcome, title))
        return
    console.print(f"{title}:", markup=False, highlight=False)
    for line in outcome_lines(outcome):
        console.print(f"  {line}", soft_wrap=True, markup=False, highlight=False)


def status_counts(counts: Any) -> dict[str, int]:
    """Every status (lifecycle order) -> its count, zeros included."""
    return {s.value: int(counts[s]) for s in STATUS_ORDER}


def outcome_json(outcome: Outcome) -> dict[str, Any]:
    """The document of the module docstring."""
    return {
        "statuses": status_counts(outcome.counts()),
        "profiles": {
            name: {
                "rollout_id": group.rollout_id,
                "gateways": sum(group.counts.values()),
                "statuses": status_counts(group.counts),
                "aborted": group.aborted,
                "superseded": group.superseded,
            }
            for name, group in _sorted_groups(outcome)
        },
        "all_accepted": outcome.all_accepted,
        "superseded": outcome.superseded,
        "left": outcome.left,
        "lost_jobs": outcome.lost_jobs,
    }


class Progress:
    """Live progress of a run (the engine's ``on_progress`` hook).

    On a terminal: a ``rich`` table, redrawn in place.  Otherwise: a line per
    profile whose counts changed since it was last printed, at most every
    ``every_s`` seconds; nothing while nothing moves.  ``quiet``: nothing.
    """

    def __init__(self, console: Console, *, every_s: float = 2.0, quiet: bool = False) -> None:
        self.console = console
        self.every_s = every_s
        self.quiet = quiet
        self.live: Any = None
        self.last = 0.0
        self.shown: dict[str, str] = {}
        """Profile -> the line last printed for it."""

    def __enter__(self) -> Progress:
        if self.console.is_terminal and not self.quiet:
            from rich.live import Live

            self.live = Live(console=self.console, refresh_per_second=4, transient=True)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(None, None, None)

    def __call__(self, outcome: Outcome) -> None:
        if self.quiet:
            return
        if self.live is not None:
            self.live.update(outcome_table(outcome, "Rolling out"))
            return
        now = time.monotonic()
        if now - self.last < self.every_s:
            return
        self.last = now
        for name, line in profile_lines(outcome).items():
            if self.shown.get(name) != line:
                self.shown[name] = line
                self.console.print(f"  {line}", soft_wrap=True, markup=False, highlight=False)
