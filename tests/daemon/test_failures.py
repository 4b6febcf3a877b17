"""Failures that must not leave the daemon's reports stale or its readiness wrong."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import pytest
from prometheus_client.parser import text_string_to_metric_families

from reconciler.daemon.reconciling import FAILING_AFTER, cause_of
from reconciler.daemon.running import Daemon
from reconciler.errors import GitError, ServerError, StoreError
from reconciler.testing import SimulatorHandle
from reconciler.testing.reports import with_members
from tests.daemon.conftest import (
    DaemonThread,
    applied_sha,
    commit,
    get_json,
    git,
    http,
    replace,
    settled,
    wait_for,
)

StartDaemon = Callable[..., DaemonThread]


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD")


def gauges(daemon: DaemonThread) -> dict[tuple[str, str], float]:
    _, body = http(daemon.url + "/metrics")
    return {
        (s.labels["profile"], s.labels["status"]): s.value
        for f in text_string_to_metric_families(body.decode())
        for s in f.samples
        if s.name == "reconciler_gateways" and s.value
    }


def counter(daemon: DaemonThread, name: str, **labels: str) -> float:
    _, body = http(daemon.url + "/metrics")
    return sum(
        s.value
        for f in text_string_to_metric_families(body.decode())
        for s in f.samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def counted(report: dict[str, Any]) -> dict[tuple[str, str], float]:
    """The gauges a report's gateways make (non-zero ones)."""
    found: dict[tuple[str, str], float] = {}
    for g in report["gateways"]:
        key = (g["profile"] or "(none)", g["status"] or "none")
        found[key] = found.get(key, 0) + 1
    return found


def move_one_gateway(config_repo: Path, report: dict[str, Any]) -> tuple[str, str]:
    """Commit a move of one fleet-depot member to workplace: (its id, the commit)."""
    member = next(g for g in report["gateways"] if g["profile"] == "fleet-depot" and g["status"])
    path = next(
        p
        for p in sorted((config_repo / "gateways.d").rglob("*.yaml"))
        if member["id"] in p.read_text()
    )
    text = path.read_text(encoding="utf-8")
    start = text.index(f"id: {member['id']}")
    at = text.index("profile: fleet-depot", start)
    moved = text[:at] + "profile: workplace" + text[at + len("profile: fleet-depot") :]
    relative = str(path.relative_to(config_repo))
    return member["id"], commit(config_repo, "move one", {relative: lambda _: moved})


def test_reports_catch_up_after_the_report_directory_comes_back_without_a_new_commit(
    start_daemon: StartDaemon, config_repo: Path, tmp_path: Path
) -> None:
    daemon = start_daemon()
    seed = head(config_repo)
    wait_for(lambda: settled(daemon, seed), what="the first rollout")
    report_dir = daemon.settings.report_dir
    on_disk = report_dir / "report.json"
    failures = counter(daemon, "reconciler_report_write_failures_total")

    before = daemon.report()
    # The report directory goes away (a full or unmounted volume): writes fail.
    shutil.move(report_dir, tmp_path / "report-away")
    report_dir.write_text("not a directory\n", encoding="utf-8")
    gateway, change = move_one_gateway(config_repo, before)
    wait_for(lambda: applied_sha(daemon) == change, what="the move to be rolled out")
    wait_for(
        lambda: counter(daemon, "reconciler_report_write_failures_total") > failures,
        what="a failed report write",
    )

    # Served from memory meanwhile, and the gauges follow the record, not the files.
    def showing_the_move() -> dict[str, Any]:
        report: dict[str, Any] = get_json(daemon.url + "/api/v1/status")
        done = report["applied_commit"]["sha"] == change and not report["rollout_running"]
        return {**report, "gateways": daemon.call(lambda d: d.gateways())} if done else {}

    served = wait_for(showing_the_move, what="/api/v1/status to show the move")
    assert next(g for g in served["gateways"] if g["id"] == gateway)["profile"] == "workplace"
    wait_for(lambda: gauges(daemon) == counted(served), what="the gauges to follow the record")
    assert f"<code>{change[:12]}</code>" in http(daemon.url + "/report.html")[1].decode()

    report_dir.unlink()
    shutil.move(tmp_path / "report-away", report_dir)
    assert json.loads(on_disk.read_text())["applied_commit"]["sha"] == seed

    def caught_up() -> dict[str, Any]:
        report: dict[str, Any] = json.loads(on_disk.read_text())
        caught = report["applied_commit"]["sha"] == change
        return with_members(report, report_dir) if caught else {}

    written = wait_for(caught_up, what="report.json to catch up without a new commit")
    assert head(config_repo) == change
    assert counted(written) == counted(served)


def test_readyz_is_503_with_the_cause_while_the_store_keeps_failing_and_recovers(
    start_daemon: StartDaemon, config_repo: Path, simulator: SimulatorHandle
) -> None:
    daemon = start_daemon()
    seed = head(config_repo)
    wait_for(lambda: settled(daemon, seed), what="the first rollout")

    def full(*args: object, **kwargs: object) -> NoReturn:
        raise sqlite3.OperationalError("database or disk is full")

    def break_store(d: Daemon) -> None:
        d.store.write = full  # type: ignore[method-assign]
        d.store.start_rollout = full  # type: ignore[method-assign]

    def mend_store(d: Daemon) -> None:
        del d.store.write, d.store.start_rollout  # the class's methods again

    daemon.call(break_store)
    change = commit(
        config_repo,
        "during the full disk",
        {
            "profiles.d/fleet-depot.yaml": replace(
                "HeartbeatInterval: 1800", "HeartbeatInterval: 1200"
            )
        },
    )
    wait_for(lambda: http(daemon.url + "/readyz")[0] == 503, what="/readyz to report the failures")
    (reason,) = get_json(daemon.url + "/readyz")["reasons"]
    assert reason.startswith(f"store: {FAILING_AFTER} attempts in a row failed")
    assert "database or disk is full" in reason
    assert counter(daemon, "reconciler_loop_failures_total", cause="store") >= FAILING_AFTER
    assert counter(daemon, "reconciler_loop_failures_total", cause="internal") == 0
    wait_for(lambda: daemon.report()["ready"] is False, what="the report to say so")

    daemon.call(mend_store)
    wait_for(lambda: settled(daemon, change), what="the rollout once the store works")
    wait_for(lambda: http(daemon.url + "/readyz")[0] == 200, what="/readyz to recover")


@pytest.mark.parametrize(
    ("error", "cause"),
    [
        (ServerError("down", endpoint="jobs", status=503), "headend"),
        (GitError("no branch"), "git"),
        (StoreError("state.db: locked"), "store"),
        (sqlite3.OperationalError("database or disk is full"), "store"),
        (OSError(28, "No space left on device"), "store"),
        (KeyError("a bug"), "internal"),
    ],
)
def test_failures_are_counted_by_cause(error: BaseException, cause: str) -> None:
    assert cause_of(error) == cause
