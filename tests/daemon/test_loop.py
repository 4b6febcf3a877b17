"""The reconcile loop against a real git repository and the simulator over loopback."""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from prometheus_client.parser import text_string_to_metric_families

from reconciler.daemon import reports
from reconciler.loading.repos import load_repo
from reconciler.loading.sources import DirectorySource
from reconciler.testing import SimulatorHandle
from tests.daemon.conftest import (
    DaemonThread,
    commit,
    get_json,
    git,
    http,
    metric,
    replace,
    settled,
    wait_for,
)

StartDaemon = Callable[..., DaemonThread]


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD")


def statuses(report: dict[str, Any]) -> dict[str, str | None]:
    return {g["id"]: g["status"] for g in report["gateways"]}


def test_a_commit_is_rolled_out_until_every_member_is_accepted(
    start_daemon: StartDaemon, config_repo: Path, tmp_path: Path
) -> None:
    daemon = start_daemon()
    seed = head(config_repo)
    wait_for(lambda: settled(daemon, seed), what="the first commit to be rolled out")
    change = commit(
        config_repo,
        "fleet-depot: heartbeat 1800 -> 1200",
        {
            "profiles.d/fleet-depot.yaml": replace(
                "HeartbeatInterval: 1800", "HeartbeatInterval: 1200"
            )
        },
    )
    wait_for(lambda: settled(daemon, change), what="the change to be rolled out")
    report = daemon.report()
    assert report["valid"] is True and report["commit"]["sha"] == change
    assert report["commit"]["author"] == "Test Author <author@example.invalid>"
    managed = [g for g in report["gateways"] if g["status"] is not None]
    assert managed and all(g["status"] == "Accepted" for g in managed)
    depot = next(p for p in report["profiles"] if p["name"] == "fleet-depot")
    assert depot["last_change"]["sha"] == change
    assert depot["members"] == depot["statuses"]["Accepted"] > 0
    assert depot["retry_possible"] is False


def test_the_report_files_match_their_schema_and_hold_no_secret(
    start_daemon: StartDaemon, config_repo: Path, tmp_path: Path
) -> None:
    daemon = start_daemon()
    wait_for(lambda: settled(daemon, head(config_repo)), what="the first rollout")
    written = wait_for(
        lambda: (
            (tmp_path / "report" / "report.json").exists()
            and json.loads((tmp_path / "report" / "report.json").read_text())["applied_commit"]
        ),
        what="report.json with the applied commit",
    )
    assert written
    schema = json.loads(reports.SCHEMA_PATH.read_text())
    report_dir = tmp_path / "report"
    on_disk = json.loads((report_dir / "report.json").read_text())
    jsonschema.validate(on_disk, schema, format_checker=jsonschema.FormatChecker())
    served = get_json(daemon.url + "/api/v1/status")
    jsonschema.validate(served, schema, format_checker=jsonschema.FormatChecker())
    page_schema = {k: v for k, v in schema.items() if k in ("$schema", "$id", "$defs")}
    page_schema["$ref"] = "#/$defs/member_page"
    texts = {name: (report_dir / name).read_text() for name in reports.FILES}
    for entry in on_disk["member_pages"]:
        page = json.loads((report_dir / entry["json"]).read_text())
        jsonschema.validate(page, page_schema, format_checker=jsonschema.FormatChecker())
        assert len(page["gateways"]) == entry["members"]
        for fmt in ("json", "md", "html"):
            texts[entry[fmt]] = (report_dir / entry[fmt]).read_text()
    assert sum(e["members"] for e in on_disk["member_pages"]) == sum(on_disk["totals"].values())
    for name, text in texts.items():
        for value in ("pa-0123456789abcdef", "hh-0123456789abcdef", "4711"):
            assert value not in text, f"a secret value is in {name}"

    parsed = _parse_html(texts["report.html"])
    assert parsed.search_box, "report.html has no search box"
    assert parsed.external == [], "report.html loads external assets"
    members = [_parse_html(texts[e["html"]]) for e in on_disk["member_pages"]]
    assert all(page.external == [] for page in members), "a member page loads external assets"
    everyone = daemon.report()["gateways"]
    assert sum(page.details for page in members) >= len(everyone)
    assert sum(page.rows for page in members) == len(everyone)
    status, body = http(daemon.url + "/report.html")
    assert status == 200 and b"members/profile-" in body


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.search_box = False
        self.external: list[str] = []
        self.details = 0
        self.rows = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "input" and a.get("type") == "search":
            self.search_box = True
        if tag in ("script", "img", "link") and (a.get("src") or a.get("href")):
            self.external.append(str(a.get("src") or a.get("href")))
        if tag == "details":
            self.details += 1
        if tag == "tr" and "gw" in (a.get("class") or "").split():
            self.rows += 1


def _parse_html(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    page.close()
    return page


def test_an_invalid_commit_is_held_back_with_its_errors_in_the_report(
    start_daemon: StartDaemon, config_repo: Path, simulator: SimulatorHandle
) -> None:
    daemon = start_daemon()
    seed = head(config_repo)
    wait_for(lambda: settled(daemon, seed), what="the first rollout")
    jobs = simulator.counters()["jobs_created"]
    bad = commit(
        config_repo,
        "bad value",
        {
            "profiles.d/fleet-depot.yaml": replace(
                "HeartbeatInterval: 1800", 'HeartbeatInterval: "1200"'
            )
        },
    )
    report = wait_for(
        lambda: (r := daemon.report())["commit"]["sha"] == bad and r,
        what="the invalid commit in the report",
    )
    assert report["valid"] is False
    assert report["applied_commit"]["sha"] == seed and report["good_commit"]["sha"] == seed
    (error,) = report["errors"]
    assert error["file"] == "profiles.d/fleet-depot.yaml" and error["line"] > 0
    assert metric(daemon, "reconciler_last_commit_valid") == 0
    assert simulator.counters()["jobs_created"] == jobs, "an invalid commit was rolled out"

    fixed = commit(
        config_repo,
        "fix",
        {
            "profiles.d/fleet-depot.yaml": replace(
                'HeartbeatInterval: "1200"', "HeartbeatInterval: 1200"
            )
        },
    )
    wait_for(lambda: settled(daemon, fixed), what="the fixed commit to be rolled out")
    assert metric(daemon, "reconciler_last_commit_valid") == 1
    assert simulator.counters()["jobs_created"] > jobs


def test_a_force_push_reconciles_the_new_head(start_daemon: StartDaemon, config_repo: Path) -> None:
    daemon = start_daemon()
    seed = head(config_repo)
    wait_for(lambda: settled(daemon, seed), what="the first rollout")
    path = "profiles.d/fleet-depot.yaml"
    first = commit(
        config_repo, "a", {path: replace("HeartbeatInterval: 1800", "HeartbeatInterval: 1500")}
    )
    wait_for(lambda: settled(daemon, first), what="the first commit")
    git(config_repo, "reset", "-q", "--hard", seed)  # history rewritten: `first` is gone
    second = commit(
        config_repo, "b", {path: replace("HeartbeatInterval: 1800", "HeartbeatInterval: 900")}
    )
    wait_for(lambda: settled(daemon, second), what="the rewritten head")
    report = daemon.report()
    assert report["commit"]["sha"] == second
    assert all(g["status"] in ("Accepted", None) for g in report["gateways"])


def every(old: str, new: str) -> Callable[[str], str]:
    """Replace every occurrence (a profile sets a key once per gateway type)."""

    def edit(text: str) -> str:
        assert old in text, f"{old!r} not found"
        return text.replace(old, new)

    return edit


def profile_value(repo: Path, profile: str, key: str) -> int:
    """The first value of ``key`` in ``profile``'s file (the same in each of its type blocks)."""
    text = (repo / "profiles.d" / f"{profile}.yaml").read_text(encoding="utf-8")
    match = re.search(rf"^\s+{key}: (\d+)", text, re.MULTILINE)
    assert match, f"{profile} sets no {key}"
    return int(match.group(1))


def good_sha(daemon: DaemonThread) -> str | None:
    """The newest valid commit the daemon loaded."""
    return daemon.call(lambda d: d.status.good.info.sha if d.status.good else None)


def rolling_out(daemon: DaemonThread) -> str | None:
    """The newest valid commit while a rollout runs, else ``None``."""
    return good_sha(daemon) if daemon.call(lambda d: d.status.rollout_running) else None


BURST_PROFILE = "canary"
"""Its rollout runs one job at a time (``max_in_flight: 1``): slow enough to commit a burst during it."""


# 5 members, one job at a time, three steps each: ~6 s, longer than loading three commits on a
# loaded machine (150 ms steps made it ~2 s, and the burst sometimes came after its end).
@pytest.mark.parametrize("simulator", [{"job_step_ms": 400}], indirect=True)
def test_a_burst_of_commits_during_a_rollout_ends_on_the_newest_superseding_the_rest(
    start_daemon: StartDaemon, config_repo: Path, simulator: SimulatorHandle
) -> None:
    daemon = start_daemon()
    wait_for(lambda: settled(daemon, head(config_repo)), timeout=40, what="the first rollout")
    path, key = f"profiles.d/{BURST_PROFILE}.yaml", "HeartbeatInterval"
    members = load_repo(DirectorySource(config_repo)).members[BURST_PROFILE]
    old = profile_value(config_repo, BURST_PROFILE, key)
    values = [old + 10 * n for n in range(1, 5)]  # one distinctive value per commit
    jobs = simulator.counters()["jobs_created"]

    shas = [
        commit(
            config_repo, f"{key} {values[0]}", {path: every(f"{key}: {old}", f"{key}: {values[0]}")}
        )
    ]
    wait_for(
        lambda: rolling_out(daemon) == shas[0],
        what="the first commit of the burst to be rolling out",
    )
    for before, value in itertools.pairwise(values):
        shas.append(
            commit(
                config_repo, f"{key} {value}", {path: every(f"{key}: {before}", f"{key}: {value}")}
            )
        )
        # Each commit of the burst is noticed and validated while the rollout runs.
        wait_for(lambda: good_sha(daemon) == shas[-1], what="the daemon to load the commit")
    wait_for(lambda: settled(daemon, shas[-1]), timeout=40, what="the newest commit of the burst")

    rollouts = daemon.call(lambda d: d.store.rollouts())
    assert {shas[0], shas[-1]} <= {r.commit for r in rollouts}
    # Each newer commit superseded the rollout under way: its unsubmitted gateways were
    # planned against the newer commit, so the head-end got fewer jobs than two per member.
    superseded = [r for r in rollouts if r.commit in shas[:-1] and r.profile == BURST_PROFILE]
    # (Not sampled as "a rollout runs" right after the last load: at the instant a newer
    # commit supersedes, the old rollout has ended and the new one has not begun.)
    assert superseded, "the rollout ended before the burst was committed: slow the simulator down"
    assert all("superseded" in r.reason for r in superseded)
    assert simulator.counters()["jobs_created"] - jobs < 2 * len(members)
    states = daemon.call(lambda d: d.store.applied())
    assert {states[g].accepted[key] for g in members} == {values[-1]}
    assert {states[g].commit for g in members} == {shas[-1]}


PACED_PROFILE = "highway-hpc"


@pytest.mark.parametrize("config_repo", [{"paced": [PACED_PROFILE]}], indirect=True)
def test_a_profiles_max_per_minute_paces_its_jobs_at_the_head_end(
    start_daemon: StartDaemon, config_repo: Path, simulator: SimulatorHandle
) -> None:
    repo = load_repo(DirectorySource(config_repo))
    per_minute = repo.profiles[PACED_PROFILE].rollout.max_per_minute
    assert per_minute, f"{PACED_PROFILE} lost its max_per_minute"
    members = repo.members[PACED_PROFILE]
    daemon = start_daemon()
    wait_for(
        lambda: settled(daemon, head(config_repo)),
        timeout=10 + 2 * len(members) * 60 / per_minute,
        what="the first rollout",
    )
    key = "HeartbeatInterval"
    old = profile_value(config_repo, PACED_PROFILE, key)
    jobs = simulator.counters()["jobs_created"]

    started = time.monotonic()
    change = commit(
        config_repo,
        f"{PACED_PROFILE}: {key} {old - 60}",
        {f"profiles.d/{PACED_PROFILE}.yaml": every(f"{key}: {old}", f"{key}: {old - 60}")},
    )
    samples: list[tuple[float, int]] = []  # (seconds since the commit, jobs created by then)
    deadline = started + 20 + 2 * len(members) * 60 / per_minute
    while not samples or samples[-1][1] < len(members):
        assert time.monotonic() < deadline, f"jobs created so far: {samples[-1:]}"
        created = simulator.counters()["jobs_created"] - jobs
        samples.append((time.monotonic() - started, created))
        time.sleep(0.02)
    wait_for(lambda: settled(daemon, change), what="the paced rollout")
    assert simulator.counters()["jobs_created"] - jobs == len(members)
    # The engine starts job k (from 0) no sooner than k * 60 / max_per_minute seconds into the
    # rollout, which starts after the commit: at any moment, at most this many were created.
    for seconds, created in samples:
        allowed = int(seconds * per_minute / 60) + 1
        assert created <= allowed, f"{created} jobs {seconds:.2f} s after the commit"
    assert samples[-1][0] >= (len(members) - 1) * 60 / per_minute


def test_a_head_end_outage_is_survived_and_reported(
    start_daemon: StartDaemon, config_repo: Path, simulator: SimulatorHandle
) -> None:
    daemon = start_daemon()
    wait_for(lambda: settled(daemon, head(config_repo)), what="the first rollout")
    simulator.set_faults(error_rate=1.0)
    change = commit(
        config_repo,
        "during the outage",
        {
            "profiles.d/fleet-depot.yaml": replace(
                "HeartbeatInterval: 1800", "HeartbeatInterval: 1200"
            )
        },
    )
    wait_for(lambda: http(daemon.url + "/readyz")[0] == 503, what="/readyz to report the outage")
    ready = get_json(daemon.url + "/readyz")
    assert ready["ready"] is False and any("head-end" in r for r in ready["reasons"])
    assert metric(daemon, "reconciler_headend_up") == 0
    simulator.set_faults(error_rate=0.0)
    wait_for(lambda: settled(daemon, change), timeout=40, what="the rollout after the outage")
    wait_for(lambda: http(daemon.url + "/readyz")[0] == 200, what="/readyz to recover")
    report = daemon.report()
    depot = [g for g in report["gateways"] if g["profile"] == "fleet-depot"]
    assert depot and all(g["status"] == "Accepted" for g in depot)


def test_metrics_are_served_in_the_prometheus_format_without_gateway_ids(
    start_daemon: StartDaemon, config_repo: Path
) -> None:
    daemon = start_daemon()
    wait_for(lambda: settled(daemon, head(config_repo)), what="the first rollout")
    wait_for(
        lambda: metric(daemon, "reconciler_gateways", profile="canary", status="Accepted"),
        what="gauges",
    )
    status, body = http(daemon.url + "/metrics")
    assert status == 200
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    for name in (
        "reconciler_gateways",
        "reconciler_last_commit_valid",
        "reconciler_applied_commit_timestamp_seconds",
        "reconciler_reconcile_duration_seconds",
        "reconciler_headend_requests",
        "reconciler_rollout_transitions",
        "reconciler_build_info",
        "reconciler_commit_to_first_job_seconds",
    ):
        assert name in families, f"{name} missing"
    assert families["reconciler_reconcile_duration_seconds"].type == "histogram"
    samples = [s for f in families.values() for s in f.samples]
    assert not any(set(s.labels) & {"id", "gateway", "gateway_id"} for s in samples)
    ids = {g["id"] for g in daemon.report()["gateways"]}
    assert not any(v in ids for s in samples for v in s.labels.values())
    applied = metric(daemon, "reconciler_applied_commit_timestamp_seconds")
    assert applied == int(git(config_repo, "log", "-1", "--format=%ct"))
    assert metric(
        daemon, "reconciler_headend_requests_total", endpoint="jobs_batch", code="200"
    ) or metric(daemon, "reconciler_headend_requests_total", code="200")
    assert metric(daemon, "reconciler_rollout_transitions_total", status="Accepted") > 0


def test_the_gateway_gauges_count_what_the_report_counts(
    start_daemon: StartDaemon, config_repo: Path
) -> None:
    daemon = start_daemon()
    wait_for(lambda: settled(daemon, head(config_repo)), what="the first rollout")

    def expected() -> dict[tuple[str, str], float]:
        report = daemon.report()
        found = {
            (p["name"], status): float(count)
            for p in report["profiles"]
            for status, count in p["statuses"].items()
        }
        unassigned = [g for g in report["gateways"] if g["profile"] is None]
        for status in report["totals"] if unassigned else ():
            found[("(none)", status)] = float(
                sum(1 for g in unassigned if (g["status"] or "none") == status)
            )
        return found

    def gauges() -> dict[tuple[str, str], float]:
        _, body = http(daemon.url + "/metrics")
        return {
            (s.labels["profile"], s.labels["status"]): s.value
            for f in text_string_to_metric_families(body.decode())
            for s in f.samples
            if s.name == "reconciler_gateways"
        }

    wait_for(lambda: gauges() == expected(), what="the gauges to match the report")
    assert sum(gauges().values()) == len(daemon.report()["gateways"])


def test_retry_upload_needs_the_admin_token_and_something_to_retry(
    start_daemon: StartDaemon, config_repo: Path, simulator: SimulatorHandle
) -> None:
    daemon = start_daemon(admin_token="admin-test-token", readback_interval_s=0.5)
    wait_for(lambda: settled(daemon, head(config_repo)), what="the first rollout")
    url = daemon.url + "/api/v1/profiles/workplace/retry"
    assert http(url, method="POST")[0] == 401
    assert http(url, method="POST", headers={"Authorization": "Bearer wrong"})[0] == 403
    auth = {"Authorization": "Bearer admin-test-token"}
    assert http(url, method="POST", headers=auth)[0] == 409
    assert http(daemon.url + "/api/v1/profiles/nope/retry", method="POST", headers=auth)[0] == 404

    member = next(g for g in daemon.report()["gateways"] if g["profile"] == "workplace")
    simulator.drift(member["id"], {"ConnectionTimeOut": 181})  # a key workplace sets
    wait_for(
        lambda: any(
            g["id"] == member["id"] and g["status"] == "Mismatch"
            for g in daemon.report()["gateways"]
        ),
        what="read-back to find the Mismatch",
    )
    # The pages are written before the summary: it follows within the same report write.
    wait_for(
        lambda: next(p for p in daemon.report()["profiles"] if p["name"] == "workplace")[
            "retry_possible"
        ],
        what="the summary to offer Retry Upload",
    )
    status, body = http(url, method="POST", headers=auth)
    assert status == 202 and json.loads(body)["retrying"] == 1
    wait_for(
        lambda: any(
            g["id"] == member["id"] and g["status"] == "Accepted"
            for g in daemon.report()["gateways"]
        ),
        what="the retried gateway to be Accepted",
    )


def test_retry_upload_is_refused_when_no_admin_token_is_set(
    start_daemon: StartDaemon, config_repo: Path
) -> None:
    daemon = start_daemon()
    wait_for(lambda: settled(daemon, head(config_repo)), what="the first rollout")
    status, _ = http(
        daemon.url + "/api/v1/profiles/workplace/retry",
        method="POST",
        headers={"Authorization": "Bearer anything"},
    )
    assert status == 403


def test_a_remote_repository_is_cloned_and_fetched_at_once_on_the_hook(
    start_daemon: StartDaemon, config_repo: Path, tmp_path: Path
) -> None:
    bare = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(config_repo), str(bare))
    git(config_repo, "remote", "add", "origin", str(bare))
    daemon = start_daemon(repo=bare.as_uri(), poll_interval_s=300.0)
    seed = head(config_repo)
    wait_for(lambda: settled(daemon, seed), what="the clone's head to be rolled out")
    assert list((tmp_path / "state" / "git-cache").iterdir()), "no clone under the state directory"
    change = commit(
        config_repo,
        "pushed",
        {
            "profiles.d/fleet-depot.yaml": replace(
                "HeartbeatInterval: 1800", "HeartbeatInterval: 1200"
            )
        },
    )
    git(config_repo, "push", "-q", "origin", "main")
    assert http(daemon.url + "/hooks/git", method="POST")[0] == 202
    wait_for(lambda: settled(daemon, change), what="the pushed commit after the hook")

    git(config_repo, "reset", "-q", "--hard", seed)  # a force-push rewrites the remote branch
    rewritten = commit(
        config_repo,
        "rewritten",
        {
            "profiles.d/fleet-depot.yaml": replace(
                "HeartbeatInterval: 1800", "HeartbeatInterval: 600"
            )
        },
    )
    git(config_repo, "push", "-q", "--force", "origin", "main")
    assert http(daemon.url + "/hooks/git", method="POST")[0] == 202
    wait_for(lambda: settled(daemon, rewritten), what="the force-pushed head after the hook")
    assert http(daemon.url + "/healthz")[0] == 200


def test_a_missing_branch_is_reported_and_retried_until_it_is_back(
    start_daemon: StartDaemon, config_repo: Path
) -> None:
    daemon = start_daemon()
    seed = head(config_repo)
    wait_for(lambda: settled(daemon, seed), what="the first rollout")
    git(config_repo, "branch", "-m", "main", "renamed")
    daemon.call(lambda d: d.wake())
    wait_for(lambda: http(daemon.url + "/readyz")[0] == 503, what="/readyz to report the git error")
    assert any("git" in r for r in get_json(daemon.url + "/readyz")["reasons"])
    assert metric(daemon, "reconciler_git_errors_total") >= 1
    git(config_repo, "branch", "-m", "renamed", "main")
    wait_for(
        lambda: http(daemon.url + "/readyz")[0] == 200, what="/readyz after the branch is back"
    )
    assert daemon.report()["applied_commit"]["sha"] == seed


def test_readyz_is_503_with_reasons_until_a_commit_is_loaded(start_daemon: StartDaemon) -> None:
    daemon = start_daemon(branch="no-such-branch")
    assert http(daemon.url + "/readyz")[0] == 503

    def git_reason_named() -> list[str]:
        reasons: list[str] = get_json(daemon.url + "/readyz")["reasons"]
        return reasons if any(r.startswith("git: ") for r in reasons) else []

    reasons = wait_for(git_reason_named, what="/readyz to name the git error too")
    assert "no commit loaded yet" in reasons
    assert any(r.startswith("git: ") and "no-such-branch" in r for r in reasons)
    assert http(daemon.url + "/healthz")[0] == 200
    report = get_json(daemon.url + "/api/v1/status")
    assert report["commit"] is None and report["ready"] is False
    jsonschema.validate(report, json.loads(reports.SCHEMA_PATH.read_text()))
