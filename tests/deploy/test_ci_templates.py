"""deploy/ci: the GitHub Actions workflow and the GitLab CI job validate, plan and post the plan."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from tests.deploy.conftest import DEPLOY


def load(name: str) -> Any:
    return YAML(typ="safe").load((DEPLOY / "ci" / name).read_text(encoding="utf-8"))


def scripts(job: Any) -> str:
    """Every shell line of a GitLab job or of a GitHub job's steps, as one text."""
    if "steps" in job:
        return "\n".join(str(step.get("run", "")) for step in job["steps"])
    return "\n".join(str(line) for key in ("before_script", "script") for line in job.get(key, []))


def test_the_github_workflow_validates_with_annotations_and_plans_pull_requests() -> None:
    workflow = load("github-actions.yml")
    assert {"push", "pull_request"} <= set(workflow["on"])
    (job,) = workflow["jobs"].values()
    text = scripts(job)
    assert "reconciler validate . --format github" in text
    assert 'reconciler plan . --base "origin/$BASE_REF"' in text
    assert "--inventory inventory.json --format markdown" in text
    assert "--headend" in text
    assert workflow["permissions"]["pull-requests"] == "write"


def test_the_github_workflow_posts_the_plan_as_one_comment_kept_up_to_date() -> None:
    (job,) = load("github-actions.yml")["jobs"].values()
    (comment,) = [
        s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/github-script")
    ]
    assert "pull_request" in comment["if"]
    script = comment["with"]["script"]
    assert "plan.md" in script and "createComment" in script and "updateComment" in script


def test_the_gitlab_jobs_validate_every_pipeline_and_plan_merge_requests_as_a_note() -> None:
    pipeline = load("gitlab-ci.yml")
    validate, plan = pipeline["reconciler-validate"], pipeline["reconciler-plan"]
    assert "reconciler validate ." in scripts(validate)
    assert validate["artifacts"]["reports"]["codequality"] == "gl-code-quality-report.json"
    text = scripts(plan)
    assert 'reconciler plan . --base "origin/$CI_MERGE_REQUEST_TARGET_BRANCH_NAME"' in text
    assert "--format markdown > plan.md" in text
    assert "/merge_requests/" in text and "/notes" in text and "RECONCILER_GITLAB_TOKEN" in text
    assert plan["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'}]
    assert "pip install" in scripts(pipeline[".reconciler"])


def test_the_gitlab_code_quality_report_carries_every_validation_error(tmp_path: Path) -> None:
    repo = tmp_path / "config"
    (repo / "profiles.d").mkdir(parents=True)
    (repo / "profiles.d" / "bad.yaml").write_text("name: bad\nparameters: {LSX: 1}\n", "utf-8")
    found = subprocess.run(
        [sys.executable, "-m", "reconciler", "validate", str(repo), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert found.returncode == 1
    (tmp_path / "validate.json").write_text(found.stdout, "utf-8")
    script = next(
        line for line in load("gitlab-ci.yml")["reconciler-validate"]["script"] if "<<'PY'" in line
    )
    program = script.split("<<'PY'\n", 1)[1].rsplit("PY", 1)[0]
    subprocess.run([sys.executable, "-c", program], cwd=tmp_path, check=True, timeout=30)

    report = json.loads((tmp_path / "gl-code-quality-report.json").read_text("utf-8"))
    errors = json.loads(found.stdout)
    assert len(report) == len(errors) >= 1
    assert report[0]["location"] == {
        "path": "profiles.d/bad.yaml",
        "lines": {"begin": errors[0]["line"]},
    }
    assert len({r["fingerprint"] for r in report}) == len(report)
