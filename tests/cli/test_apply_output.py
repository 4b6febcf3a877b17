"""What ``apply`` and ``retry`` print: ``--format json``, ``--quiet``, and progress in a CI log.

Processes against the head-end simulator, as in a CI job (stdout a pipe); the
progress printer is also driven directly, with a real ``rich`` console writing
to a file, to pin "a line only when it changed".
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from reconciler.cli.outcomes import Progress, outcome_json
from reconciler.engine.progress import GroupProgress, Outcome
from reconciler.model.files import RolloutPolicy
from reconciler.model.state import Status
from reconciler.store.sqlite import SQLiteStore
from reconciler.testing import SimulatorHandle, running_simulator
from tests.cli.test_apply_command import TOKEN, apply
from tests.cli.test_apply_command import config_repo as config_repo
from tests.cli.test_apply_command import environment as environment
from tests.cli.test_apply_command import simulator as simulator

STATUSES = ["Initial", "Requested", "Sent", "Accepted", "Declined", "Mismatch"]


def head(repo: Path) -> str:
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()


def test_apply_format_json_prints_one_document_with_the_outcome(
    config_repo: Path, simulator: SimulatorHandle, tmp_path: Path, environment: dict[str, str]
) -> None:
    state = tmp_path / "state.db"
    result = apply(config_repo, simulator, state, {**environment, "RECONCILER_FORMAT": "json"})
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)  # stdout: the document, nothing else
    assert document["format_version"] == 1
    assert (document["command"], document["commit"]) == ("apply", head(config_repo))
    assert (document["result"], document["exit_code"]) == ("accepted", 0)
    with SQLiteStore(state) as store:
        applied = store.applied()
    rollout = document["rollout"]
    assert list(rollout["statuses"]) == STATUSES
    assert rollout["statuses"]["Accepted"] == len(applied) and rollout["all_accepted"] is True
    profiles = {s.profile or "(no profile)" for s in applied.values()}
    assert set(rollout["profiles"]) == profiles
    for name, group in rollout["profiles"].items():
        members = sum(1 for s in applied.values() if (s.profile or "(no profile)") == name)
        assert group["gateways"] == group["statuses"]["Accepted"] == members
        assert group["aborted"] == "" and isinstance(group["rollout_id"], int)
    plan = document["plan"]
    assert plan["actionable"] == len(applied) and plan["errors"] == [] and plan["held"] == ""
    assert plan["totals"].startswith("Plan: ")
    assert document["resumed"] is not None and document["resumed"]["profiles"] == {}
    assert "Plan: " in result.stderr, "what people read goes to stderr"

    again = apply(config_repo, simulator, state, environment, "--format", "json", "--quiet")
    nothing = json.loads(again.stdout)
    assert (nothing["result"], nothing["rollout"]["profiles"]) == ("accepted", {})
    assert again.stderr == ""


def test_apply_format_json_says_not_accepted_with_exit_1_when_gateways_decline(
    config_repo: Path, simulator: SimulatorHandle, tmp_path: Path, environment: dict[str, str]
) -> None:
    simulator.set_faults(decline_rate=1.0)
    state = tmp_path / "state.db"
    result = apply(config_repo, simulator, state, environment, "--format", "json")
    assert result.returncode == 1
    document = json.loads(result.stdout)
    assert (document["result"], document["exit_code"]) == ("not_accepted", 1)
    assert document["rollout"]["statuses"]["Declined"] > 0

    simulator.set_faults(decline_rate=0.0)
    args = ["retry", "public-ac", "--repo", str(config_repo), "--headend", simulator.url]
    retried = subprocess.run(
        [
            sys.executable,
            "-m",
            "reconciler",
            *args,
            "--state",
            str(state),
            "--format",
            "json",
            "-q",
        ],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert retried.returncode == 0, retried.stderr
    retry = json.loads(retried.stdout)
    assert (retry["command"], retry["profile"], retry["commit"]) == (
        "retry",
        "public-ac",
        head(config_repo),
    )
    assert (retry["result"], retry["exit_code"]) == ("accepted", 0)
    group = retry["rollout"]["profiles"]["public-ac"]
    assert group["statuses"]["Accepted"] == group["gateways"] > 0
    assert retried.stderr == "", "quiet: no progress"


def test_apply_quiet_prints_only_the_summary(
    config_repo: Path, simulator: SimulatorHandle, tmp_path: Path, environment: dict[str, str]
) -> None:
    result = apply(
        config_repo, simulator, tmp_path / "state.db", {**environment, "RECONCILER_QUIET": "1"}
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Rollout:", lines
    names = [line.split(":")[0].strip() for line in lines[1:]]
    assert len(names) == len(set(names)) > 1, "one summary line per profile, no progress"
    assert all(": Accepted " in line for line in lines[1:])
    assert "Plan: " not in result.stdout and result.stderr == ""


def test_apply_in_a_pipe_never_repeats_a_progress_line(
    config_repo: Path, tmp_path: Path, environment: dict[str, str]
) -> None:
    """Slow jobs: a rollout of several 2 s ticks, where small profiles finish early and stay put."""
    with running_simulator(
        gateways_repo=config_repo, token=TOKEN, latency_ms=5, job_step_ms=700, seed=7
    ) as slow:
        result = apply(config_repo, slow, tmp_path / "state.db", environment)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Plan: ")
    progress = lines[1 : lines.index("Rollout:")]
    assert progress, "some progress was printed"
    assert len(progress) == len(set(progress)), progress


def outcome(**counts: dict[Status, int]) -> Outcome:
    result = Outcome()
    for index, (name, by_status) in enumerate(counts.items()):
        group = GroupProgress(name, index + 1, RolloutPolicy())
        group.counts.update(by_status)
        result.groups[name] = group
    return result


def test_progress_in_a_log_prints_a_profiles_line_only_when_its_counts_changed() -> None:
    log = io.StringIO()
    console = Console(file=log, force_terminal=False, width=80)
    with Progress(console, every_s=0.0) as progress:
        assert progress.live is None
        first = outcome(a={Status.SENT: 2}, b={Status.ACCEPTED: 3})
        progress(first)
        progress(first)  # nothing moved: nothing printed
        progress(outcome(a={Status.ACCEPTED: 2}, b={Status.ACCEPTED: 3}))
        progress(outcome(a={Status.ACCEPTED: 2}, b={Status.ACCEPTED: 3}))
    assert log.getvalue().splitlines() == ["  a: Sent 2", "  b: Accepted 3", "  a: Accepted 2"]


def test_progress_waits_between_lines_and_quiet_prints_nothing() -> None:
    log = io.StringIO()
    console = Console(file=log, force_terminal=False)
    with Progress(console, every_s=3600.0) as progress:
        progress(outcome(a={Status.SENT: 2}))
        progress(outcome(a={Status.ACCEPTED: 2}))  # within every_s of the last line
    assert log.getvalue().splitlines() == ["  a: Sent 2"]
    quiet = io.StringIO()
    with Progress(Console(file=quiet, force_terminal=True), quiet=True) as progress:
        assert progress.live is None, "no live table either"
        progress(outcome(a={Status.SENT: 2}))
    assert quiet.getvalue() == ""


def test_outcome_json_has_every_status_and_the_abort_reason() -> None:
    o = outcome(a={Status.DECLINED: 1, Status.INITIAL: 4})
    o.groups["a"].aborted = "declined 1 of 1 (100% > 50%)"
    document = outcome_json(o)
    assert document["statuses"] == dict.fromkeys(STATUSES, 0) | {"Initial": 4, "Declined": 1}
    assert document["profiles"]["a"]["aborted"].startswith("declined")
    assert document["all_accepted"] is False
