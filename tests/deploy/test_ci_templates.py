"""deploy/ci: the GitHub Actions workflow and the GitLab CI job validate, plan and post the plan.

As a user would check them: each template against GitHub's and GitLab's
published schemas (check-jsonschema's bundled copies), and the shell of the
plan steps run with bash as the runners run it (``-eo pipefail``) in a real git
clone of a config repository, with the simulator as the head-end and a small
HTTP server standing in for GitLab's notes API.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import parse_qs, urlsplit

import pytest
from ruamel.yaml import YAML

from reconciler.loading.inventories import read_inventory
from reconciler.testing import running_simulator
from tests.deploy.conftest import DEPLOY, ROOT

TOKEN = "ci-headend-token-7e2b4a"
GITLAB_TOKEN = "glpat-standin-3c9d1f"
MARKER = "<!-- reconciler-plan -->"


def load(name: str) -> Any:
    return YAML(typ="safe").load((DEPLOY / "ci" / name).read_text(encoding="utf-8"))


def scripts(job: Any) -> str:
    """Every shell line of a GitLab job or of a GitHub job's steps, as one text."""
    if "steps" in job:
        return "\n".join(str(step.get("run", "")) for step in job["steps"])
    return "\n".join(str(line) for key in ("before_script", "script") for line in job.get(key, []))


def github_step(name: str) -> dict[str, Any]:
    (job,) = load("github-actions.yml")["jobs"].values()
    (step,) = [s for s in job["steps"] if s.get("name") == name]
    return dict(step)


def unavailable(reason: str) -> NoReturn:
    """Skip, or fail in CI, which installs the test extra."""
    if os.environ.get("CI"):
        pytest.fail(reason + ", and CI must run this check")
    pytest.skip(reason)


def installed(tool: str) -> str:
    """The path of a console script of the test extra (beside this interpreter, or on PATH)."""
    beside = Path(sys.executable).parent / tool
    found = str(beside) if beside.exists() else shutil.which(tool)
    if found is None:
        unavailable(f"{tool} is not installed (pip install -e '.[test]')")
    return found


# --- what the templates say ----------------------------------------------------------------


def test_the_github_workflow_validates_plans_and_keeps_one_comment_up_to_date() -> None:
    workflow = load("github-actions.yml")
    assert {"push", "pull_request"} <= set(workflow["on"])
    (job,) = workflow["jobs"].values()
    text = scripts(job)
    assert "reconciler validate . --format github" in text
    assert 'reconciler plan . --base "origin/$BASE_REF" "$@" --format markdown > plan.md' in text
    assert 'reconciler inventory --headend "$HEADEND_URL"' in text
    assert workflow["permissions"]["pull-requests"] == "write"
    (comment,) = [s for s in job["steps"] if "github-script" in str(s.get("uses"))]
    assert "pull_request" in comment["if"] and "failure()" in comment["if"]
    script = comment["with"]["script"]
    assert "plan.md" in script and "createComment" in script and "updateComment" in script


def test_the_gitlab_jobs_validate_every_pipeline_and_plan_merge_requests_as_a_note() -> None:
    pipeline = load("gitlab-ci.yml")
    validate, plan = pipeline["reconciler-validate"], pipeline["reconciler-plan"]
    assert "reconciler validate ." in scripts(validate)
    assert validate["artifacts"]["reports"]["codequality"] == "gl-code-quality-report.json"
    text = scripts(plan)
    assert 'reconciler plan . --base "origin/$CI_MERGE_REQUEST_TARGET_BRANCH_NAME" "$@"' in text
    assert "--format markdown > plan.md" in text
    assert "/merge_requests/" in text and "/notes" in text and "RECONCILER_GITLAB_TOKEN" in text
    assert plan["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'}]
    assert "pip install" in scripts(pipeline[".reconciler"])
    # GitLab's documented pattern: one pipeline per push to a branch with an open merge request
    assert pipeline["workflow"]["rules"] == [
        {"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'},
        {"if": "$CI_COMMIT_BRANCH && $CI_OPEN_MERGE_REQUESTS", "when": "never"},
        {"if": "$CI_COMMIT_BRANCH"},
    ]


@pytest.mark.parametrize("name", ["github-actions.yml", "gitlab-ci.yml"])
def test_the_templates_install_from_a_named_variable_not_a_placeholder_host(name: str) -> None:
    text = (DEPLOY / "ci" / name).read_text(encoding="utf-8")
    assert "git.example.com" not in text and "RECONCILER_PACKAGE" not in text
    assert 'pip install --quiet "$RECONCILER_PIP_SPEC"' in text


@pytest.mark.parametrize(
    ("name", "schema"),
    [("github-actions.yml", "vendor.github-workflows"), ("gitlab-ci.yml", "vendor.gitlab-ci")],
)
def test_the_template_is_valid_for_its_ci_service(name: str, schema: str) -> None:
    done = subprocess.run(
        [installed("check-jsonschema"), "--builtin-schema", schema, str(DEPLOY / "ci" / name)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


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


# --- the templates' shell, run -------------------------------------------------------------


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A pull request's checkout: a clone of an 'origin' whose main holds the example, on a branch that changes a profile."""
    seed = tmp_path / "seed"
    seed.mkdir()
    shutil.copytree(ROOT / "profiles.d", seed / "profiles.d")
    shutil.copytree(ROOT / "gateways.d", seed / "gateways.d")
    git(seed, "init", "-q", "-b", "main")
    git(seed, "add", "-A")
    git(seed, "commit", "-qm", "seed")
    git(tmp_path, "clone", "-q", "--bare", str(seed), "origin.git")
    git(tmp_path, "clone", "-q", str(tmp_path / "origin.git"), "checkout")
    work = tmp_path / "checkout"
    git(work, "checkout", "-q", "-b", "feature")
    edit(work / "profiles.d" / "workplace.yaml", "MaxChargingCurrent: 16", "MaxChargingCurrent: 20")
    git(work, "commit", "-qam", "workplace: 20 A")
    return work


@pytest.fixture
def runner_env(tmp_path: Path) -> dict[str, str]:
    """A runner's environment: `reconciler` and `python` on PATH, no RECONCILER_* variable."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "reconciler"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m reconciler "$@"\n', encoding="utf-8")
    shim.chmod(0o755)
    (bin_dir / "python").symlink_to(sys.executable)
    (tmp_path / "runner-temp").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RECONCILER_", "GIT_"))}
    return env | {
        "PATH": f"{bin_dir}{os.pathsep}{env['PATH']}",
        "RUNNER_TEMP": str(tmp_path / "runner-temp"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "BASE_REF": "main",
        "HEADEND_URL": "",
        "RECONCILER_HEADEND_TOKEN": "",
    }


def bash(script: str, cwd: Path, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """``script`` as GitHub's and GitLab's runners run a step: bash with -e and pipefail."""
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_the_github_plan_step_reads_the_headend_inventory_when_one_is_configured(
    checkout: Path, runner_env: dict[str, str], tmp_path: Path
) -> None:
    with running_simulator(gateways_repo=checkout, token=TOKEN, seed=2) as sim:
        env = runner_env | {"HEADEND_URL": sim.url, "RECONCILER_HEADEND_TOKEN": TOKEN}
        done = bash(github_step("Plan")["run"], checkout, env)
    assert done.returncode == 0, done.stdout + done.stderr
    plan = (checkout / "plan.md").read_text(encoding="utf-8")
    assert "workplace" in plan and "MaxChargingCurrent" in plan
    assert "firmware unknown" not in plan
    assert (tmp_path / "summary.md").read_text(encoding="utf-8") == plan
    assert len(read_inventory(tmp_path / "runner-temp" / "inventory.json")) >= 50
    assert TOKEN not in done.stdout + done.stderr + plan


def test_without_a_headend_the_github_plan_step_makes_a_provisional_plan(
    checkout: Path, runner_env: dict[str, str]
) -> None:
    env = runner_env | {"HEADEND_URL": "http://127.0.0.1:1"}  # a fork's PR: the variable, no secret
    done = bash(github_step("Plan")["run"], checkout, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "::notice title=Provisional plan::" in done.stdout
    plan = (checkout / "plan.md").read_text(encoding="utf-8")
    assert "MaxChargingCurrent" in plan and "firmware unknown" in plan

    shutil.copy(ROOT / "examples" / "inventory.json", checkout / "inventory.json")  # committed
    done = bash(github_step("Plan")["run"], checkout, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Provisional" not in done.stdout
    assert "firmware unknown" not in (checkout / "plan.md").read_text(encoding="utf-8")


def test_an_unreadable_headend_fails_the_github_plan_step(
    checkout: Path, runner_env: dict[str, str]
) -> None:
    env = runner_env | {
        "HEADEND_URL": "http://127.0.0.1:1",
        "RECONCILER_HEADEND_TOKEN": TOKEN,
        "RECONCILER_HEADEND_MAX_ATTEMPTS": "1",
        "RECONCILER_HEADEND_INVENTORY_ROUNDS": "1",
    }
    done = bash(github_step("Plan")["run"], checkout, env)
    assert done.returncode == 1
    assert done.stderr.startswith("reconciler: head-end http://127.0.0.1:1: ")
    assert not (checkout / "plan.md").exists()


@pytest.mark.parametrize("ci", ["github", "gitlab"])
def test_an_unset_install_source_stops_before_pip_and_says_what_to_set(
    ci: str, runner_env: dict[str, str], tmp_path: Path
) -> None:
    if ci == "github":
        script = github_step("Install the reconciler")["run"]
    else:
        script = "\n".join(load("gitlab-ci.yml")[".reconciler"]["before_script"])
    done = bash(script, tmp_path, runner_env | {"RECONCILER_PIP_SPEC": ""})
    assert done.returncode == 1
    said = done.stdout + done.stderr
    assert "RECONCILER_PIP_SPEC is not set" in said and "git+https://" in said
    assert "Invalid requirement" not in said and "apt-get" not in said


class NotesApi:
    """GitLab's merge request notes API as far as the plan job uses it, on loopback; records each call."""

    USER = 99

    def __init__(self, notes: list[dict[str, Any]]) -> None:
        self.notes = notes
        self.calls: list[tuple[str, str]] = []
        self.base = ""

    def mine(self) -> list[dict[str, Any]]:
        return [n for n in self.notes if n["author"]["id"] == self.USER]

    def answer(self, method: str, url: str, headers: Mapping[str, str], body: Any) -> Any:
        path, query = urlsplit(url).path, parse_qs(urlsplit(url).query)
        self.calls.append((method, path.removeprefix("/api/v4")))
        if headers.get("PRIVATE-TOKEN") != GITLAB_TOKEN:
            return 401, {}, {"message": "401 Unauthorized"}
        if (method, path) == ("GET", "/api/v4/user"):
            return 200, {}, {"id": self.USER, "username": "project_17_bot"}
        notes = "/api/v4/projects/17/merge_requests/3/notes"
        if (method, path) == ("GET", notes):
            size, page = int(query["per_page"][0]), int(query["page"][0])
            items = self.notes[(page - 1) * size : page * size]
            more = page * size < len(self.notes)
            return 200, {"X-Next-Page": str(page + 1) if more else ""}, items
        if (method, path) == ("POST", notes):
            note = {"id": 1000 + len(self.notes), "body": body["body"], "system": False}
            self.notes.append(note | {"author": {"id": self.USER}})
            return 201, {}, note
        if method == "PUT" and path.startswith(notes + "/"):
            (note,) = [n for n in self.notes if n["id"] == int(path.rsplit("/", 1)[1])]
            note["body"] = body["body"]
            return 200, {}, note
        return 404, {}, {"message": "404 Not Found"}


@pytest.fixture
def notes_api() -> Iterator[NotesApi]:
    def note(i: int, body: str, author: int = 7, system: bool = False) -> dict[str, Any]:
        return {"id": i, "body": body, "system": system, "author": {"id": author}}

    others = [note(i, f"looks good {i}") for i in range(1, 131)]  # > a page of 100: the job pages
    others += [note(131, f"{MARKER}\nquoted by a reviewer"), note(132, "added 1 commit", 99, True)]
    api = NotesApi(others)

    class Handler(BaseHTTPRequestHandler):
        def do_request(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            status, headers, answer = api.answer(self.command, self.path, self.headers, body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_request

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    api.base = f"http://127.0.0.1:{server.server_address[1]}/api/v4"
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_the_gitlab_plan_job_posts_one_note_then_updates_it(
    checkout: Path, runner_env: dict[str, str], notes_api: NotesApi
) -> None:
    script = "\n".join(load("gitlab-ci.yml")["reconciler-plan"]["script"])
    env = runner_env | {
        "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main",
        "CI_API_V4_URL": notes_api.base,
        "CI_PROJECT_ID": "17",
        "CI_MERGE_REQUEST_IID": "3",
        "RECONCILER_GITLAB_TOKEN": GITLAB_TOKEN,
    }
    first = bash(script, checkout, env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "plan note posted" in first.stdout and "Provisional plan" in first.stdout
    assert [m for m, _ in notes_api.calls] == ["GET", "GET", "GET", "POST"]
    (note,) = notes_api.mine()[1:]  # the system note is ours too, but not a plan
    assert note["body"].startswith(MARKER + "\n") and "16 -> 20" in note["body"]

    edit(
        checkout / "profiles.d" / "workplace.yaml",
        "MaxChargingCurrent: 20",
        "MaxChargingCurrent: 24",
    )
    git(checkout, "commit", "-qam", "workplace: 24 A")
    notes_api.calls.clear()
    with running_simulator(gateways_repo=checkout, token=TOKEN, seed=2) as sim:
        env |= {"RECONCILER_HEADEND_URL": sim.url, "RECONCILER_HEADEND_TOKEN": TOKEN}
        second = bash(script, checkout, env)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "plan note updated" in second.stdout and "Provisional" not in second.stdout
    assert notes_api.calls[-1] == ("PUT", f"/projects/17/merge_requests/3/notes/{note['id']}")
    assert "POST" not in [m for m, _ in notes_api.calls]
    (updated,) = [n for n in notes_api.mine() if not n["system"]]
    assert "16 -> 24" in updated["body"] and "firmware unknown" not in updated["body"]
    assert notes_api.notes[130]["body"] == f"{MARKER}\nquoted by a reviewer"  # not ours: untouched
    assert TOKEN not in second.stdout + second.stderr and GITLAB_TOKEN not in second.stdout


def test_the_gitlab_plan_job_without_a_token_keeps_the_plan_as_an_artifact(
    checkout: Path, runner_env: dict[str, str], notes_api: NotesApi
) -> None:
    script = "\n".join(load("gitlab-ci.yml")["reconciler-plan"]["script"])
    env = runner_env | {
        "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main",
        # a protected head-end token is not given to an unprotected branch; the URL is
        "RECONCILER_HEADEND_URL": "http://127.0.0.1:1",
    }
    done = bash(script, checkout, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Provisional plan" in done.stdout
    assert "RECONCILER_GITLAB_TOKEN is not set" in done.stdout
    assert (checkout / "plan.md").is_file() and notes_api.calls == []
