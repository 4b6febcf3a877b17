"""deploy/prometheus: the rules pass promtool, their unit tests pass, and they use only exported metrics."""

from __future__ import annotations

import re
import subprocess

import pytest
from ruamel.yaml import YAML

from tests.deploy.conftest import DEPLOY, exported_series, metric_names, promtool

RULES = DEPLOY / "prometheus" / "alerts.yaml"


def rules() -> list[dict[str, object]]:
    groups = YAML(typ="safe").load(RULES.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"]]


def alerts() -> list[dict[str, object]]:
    return [rule for rule in rules() if "alert" in rule]


def test_promtool_check_rules_accepts_the_alerts() -> None:
    done = subprocess.run(
        [promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_alerts_unit_tests_pass_in_promtool() -> None:
    done = subprocess.run(
        [promtool(), "test", "rules", "alerts_test.yaml"],
        cwd=RULES.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_the_unit_tests_exercise_every_alert() -> None:
    tested = YAML(typ="safe").load((RULES.parent / "alerts_test.yaml").read_text(encoding="utf-8"))
    names = {
        case["alertname"] for test in tested["tests"] for case in test.get("alert_rule_test", [])
    }
    assert names >= {
        "ReconcilerInvalidCommit",
        "ReconcilerCommitNotApplied",
        "ReconcilerMembersDeclinedOrMismatch",
        "ReconcilerHeadendErrors",
        "ReconcilerDown",
        "ReconcilerNoLeader",
        "ReconcilerSeveralLeaders",
        "ReconcilerGatewaysUnowned",
    }


@pytest.mark.parametrize("rule", rules(), ids=lambda r: str(r.get("alert") or r.get("record")))
def test_every_rule_uses_only_metrics_the_daemon_exports(rule: dict[str, object]) -> None:
    used = metric_names(str(rule["expr"]))
    assert used <= exported_series(), f"not exported: {sorted(used - exported_series())}"
    recorded = {str(r["record"]) for r in rules() if "record" in r}
    assert set(re.findall(r"\breconciler:[a-z_:]+", str(rule["expr"]))) <= recorded


@pytest.mark.parametrize("alert", alerts(), ids=lambda a: str(a["alert"]))
def test_every_alert_has_a_severity_a_summary_a_description_and_a_runbook(
    alert: dict[str, object],
) -> None:
    labels = alert["labels"]
    annotations = alert["annotations"]
    assert isinstance(labels, dict) and isinstance(annotations, dict)
    assert labels["severity"] in {"critical", "warning", "info"}
    assert annotations["summary"] and annotations["description"]
    assert annotations["runbook_url"].endswith("docs/operations.md#" + str(alert["alert"]).lower())
