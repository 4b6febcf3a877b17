"""The daemon's status record: readiness, updates and their listeners, metrics recorded from it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from reconciler.daemon.metrics import Metrics
from reconciler.daemon.reportbook import ReportBook, Tally
from reconciler.daemon.status import DaemonStatus, Loaded, StatusBoard
from reconciler.daemon.watching import CommitInfo
from reconciler.loading.repos import load_repo
from reconciler.loading.sources import DirectorySource
from reconciler.members.counts import STATUS_KEYS
from reconciler.model.state import AppliedGateway, Status
from reconciler.store.sqlite import SQLiteStore

EXAMPLE = Path(__file__).resolve().parents[2]


def loaded(sha: str = "a" * 40) -> Loaded:
    info = CommitInfo(sha, "A <a@example.invalid>", "2026-01-01T00:00:00+00:00", 1.7e9, "m")
    return Loaded(info, load_repo(DirectorySource(EXAMPLE)))


def test_ready_needs_a_commit_and_answering_git_and_head_end() -> None:
    assert DaemonStatus().reasons == ["no commit loaded yet"]
    status = DaemonStatus(head=loaded(), git_error="gone", failed_request="jobs 503")
    assert not status.ready
    assert status.reasons == ["git: gone", "head-end: last request failed (jobs 503)"]
    failing = DaemonStatus(head=status.head, headend_error="down", failed_request="jobs 503")
    assert failing.reasons == ["head-end: down"]
    assert DaemonStatus(head=status.head).ready


def test_an_update_tells_the_listeners_only_when_something_differs() -> None:
    changes: list[None] = []
    records: list[DaemonStatus] = []
    board = StatusBoard(on_change=lambda: changes.append(None), on_record=records.append)
    first = board.current
    assert board.update(git_error="") is first and not changes and not records
    board.update(git_error="gone")
    assert board.current.git_error == "gone" and len(changes) == len(records) == 1
    assert first.git_error == "", "a record a reader holds never changes"
    board.update(git_error="gone")
    assert len(records) == 1


def counted(status: DaemonStatus, states: list[AppliedGateway], tmp_path: Path) -> Tally:
    """The member pages' counts of ``status``'s valid commit over a store holding ``states``."""
    assert status.good is not None
    with SQLiteStore(tmp_path / "state.db") as store:
        store.write(states)
        return ReportBook(tmp_path / "report").update(
            status.good.repo, status.inventory, store, frozenset(), now=1.0
        )


def test_counts_are_recorded_without_asking_for_another_report(tmp_path: Path) -> None:
    changes: list[None] = []
    board = StatusBoard(on_change=lambda: changes.append(None))
    board.update(good=loaded())
    changes.clear()
    census = counted(board.current, [], tmp_path)
    board.update(totals=census.totals, counts=census.counts)
    assert board.current.counts == census.counts
    assert changes == [], "the counts follow a report; they must not trigger one"


def test_the_gauges_are_the_records_counts(tmp_path: Path) -> None:
    commit = loaded()
    some = next(iter(commit.repo.gateways.values()))
    states = [AppliedGateway(some.id, some.type, None, some.profile, Status.DECLINED)]
    status = DaemonStatus(head=commit, good=commit, applied=commit)
    census = counted(status, states, tmp_path)
    metrics = Metrics()
    metrics.record(replace(status, counts=census.counts))
    registry = metrics.registry
    for group in census.counts:
        for key in STATUS_KEYS:
            labels = {"profile": group.profile or "(none)", "status": key}
            value = registry.get_sample_value("reconciler_gateways", labels)
            assert value == group.statuses[key]
    assert registry.get_sample_value("reconciler_last_commit_valid") == 1
    assert registry.get_sample_value("reconciler_applied_commit_timestamp_seconds") == 1.7e9
    assert census.totals[Status.DECLINED.value] == 1
    assert sum(census.totals.values()) == len(commit.repo.gateways)
    assert sum(page["members"] for page in census.pages) == len(commit.repo.gateways)


def test_a_stalled_rollout_makes_the_daemon_unready_until_it_moves_again() -> None:
    board = StatusBoard()
    board.update(head=loaded())
    assert board.current.ready
    board.update(stalled="the head-end keeps losing jobs")
    assert not board.current.ready
    assert board.current.reasons == ["rollout stalled: the head-end keeps losing jobs"]
    board.update(stalled="")
    assert board.current.ready
