"""deploy/grafana/dashboard.json: valid JSON, a data-source variable, and only metrics the daemon exports.

Exported twice over: by the registry's definitions, and in a live scrape of
``reconciler run`` (the process series of the Resources row exist only when
the collector can read ``/proc/self``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.deploy.conftest import DEPLOY, exported_series
from tests.deploy.test_live_metrics import daemon_url, scrape, scraped_series

__all__ = ["daemon_url"]  # the fixture: a live daemon after its first rollout

DASHBOARD = DEPLOY / "grafana" / "dashboard.json"

METRIC_NAME = re.compile(r"\b(?:reconciler|process|python)_[a-z_]+")
"""The daemon's series in PromQL: its own, and the process and Python collectors' (not ``up``)."""


def metric_names(expr: str) -> set[str]:
    return set(METRIC_NAME.findall(expr))


def dashboard() -> Any:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def panels(items: list[Any]) -> Iterator[Any]:
    for panel in items:
        yield panel
        yield from panels(panel.get("panels", []))


def expressions() -> list[tuple[str, str]]:
    """(where, PromQL) for every panel target and every query variable."""
    found = [
        (f"panel {p['title']!r}", target["expr"])
        for p in panels(dashboard()["panels"])
        for target in p.get("targets", [])
    ]
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] == "query":
            found.append((f"variable {variable['name']}", variable["definition"]))
    return found


@pytest.mark.parametrize(("where", "expr"), expressions(), ids=[w for w, _ in expressions()])
def test_every_query_uses_only_metric_names_the_daemon_exports(where: str, expr: str) -> None:
    unknown = metric_names(expr) - exported_series()
    assert not unknown, f"{where} reads {sorted(unknown)}, which the daemon does not export"


def test_the_dashboard_covers_statuses_throughput_headend_latency_errors_and_commits() -> None:
    used = set().union(*(metric_names(expr) for _, expr in expressions()))
    assert used >= {
        "reconciler_gateways",
        "reconciler_rollout_transitions_total",
        "reconciler_headend_request_duration_seconds_bucket",
        "reconciler_headend_requests_total",
        "reconciler_last_commit_valid",
        "reconciler_applied_commit_timestamp_seconds",
        "reconciler_git_unsafe_repository",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_start_time_seconds",
        "process_open_fds",
        "reconciler_leader",
        "reconciler_leader_epoch",
        "reconciler_replicas_live",
        "reconciler_claims_held",
        "reconciler_gateways_unowned",
    }


def test_the_resources_row_shows_memory_cpu_restarts_and_open_files() -> None:
    every = list(panels(dashboard()["panels"]))
    row = next(p for p in every if p["type"] == "row" and p["title"] == "Resources")
    below = [
        p for p in every if p["type"] != "row" and p["gridPos"]["y"] == row["gridPos"]["y"] + 1
    ]
    exprs = [t["expr"] for p in below for t in p["targets"]]
    assert any(e.startswith("process_resident_memory_bytes{") for e in exprs)
    assert any(e.startswith("rate(process_cpu_seconds_total{") for e in exprs)
    assert any(
        e.startswith("changes(process_start_time_seconds{") and e.endswith("[1h])") for e in exprs
    )
    assert any(e.startswith("process_open_fds{") for e in exprs)


def test_the_replicas_row_shows_the_leader_replicas_claims_and_unowned_gateways() -> None:
    # Every replica exports the whole fleet's view: per-replica series are taken once (max).
    every = list(panels(dashboard()["panels"]))
    row = next(p for p in every if p["type"] == "row" and p["title"] == "Replicas")
    below = [
        p for p in every if p["type"] != "row" and p["gridPos"]["y"] == row["gridPos"]["y"] + 1
    ]
    assert sum(p["gridPos"]["w"] for p in below) == 24
    exprs = [t["expr"] for p in below for t in p["targets"]]
    assert any(e.startswith("reconciler_leader{") and e.endswith("== 1") for e in exprs)
    assert any(e.startswith("max(reconciler_leader_epoch{") for e in exprs)
    assert any(e.startswith("max(reconciler_replicas_live{") for e in exprs)
    assert any(e.startswith("max by (replica) (reconciler_claims_held{") for e in exprs)
    assert any(e.startswith("max(reconciler_gateways_unowned{") for e in exprs)


def test_every_metric_the_dashboard_reads_is_in_a_live_scrape(daemon_url: str) -> None:
    present = scraped_series(scrape(daemon_url))
    for where, expr in expressions():
        missing = metric_names(expr) - present
        assert not missing, f"{where} reads {sorted(missing)}, absent from a live scrape"


def test_every_panel_reads_the_data_source_chosen_in_the_template_variable() -> None:
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in panels(dashboard()["panels"]):
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]


def test_panel_ids_are_unique_and_every_panel_has_a_description() -> None:
    every = list(panels(dashboard()["panels"]))
    assert len({p["id"] for p in every}) == len(every)
    assert all(p.get("description") for p in every if p["type"] != "row")
