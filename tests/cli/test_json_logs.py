"""``--log-format json``: each line carries its structured fields (commit, counts), never secrets.

The daemon runs as a process (``reconciler run --log-format json``) against
the head-end simulator, and its stderr lines are parsed; the formatter is
also driven with ``logging``'s own records.
"""

from __future__ import annotations

import io
import json
import logging
import re
import signal
from pathlib import Path
from typing import Any

from reconciler.daemon.logs import JsonFormatter, outcome_fields
from reconciler.engine.progress import GroupProgress, Outcome
from reconciler.model.files import RolloutPolicy
from reconciler.model.state import Status
from reconciler.testing import SimulatorHandle
from tests.daemon.conftest import TOKEN, git, wait_for
from tests.daemon.conftest import config_repo as config_repo
from tests.daemon.conftest import secrets_dir as secrets_dir
from tests.daemon.conftest import simulator as simulator
from tests.daemon.test_process import Run


def test_the_daemons_json_lines_carry_the_commit_and_its_counts(
    tmp_path: Path, config_repo: Path, simulator: SimulatorHandle, secrets_dir: Path
) -> None:
    run = Run(tmp_path, config_repo, simulator.url, secrets_dir, "--log-format", "json")
    try:
        wait_for(lambda: run.status()["applied_commit"], what="the first rollout")
        run.process.send_signal(signal.SIGTERM)
        assert run.process.wait(10) == 0
    finally:
        run.close()
    lines = (tmp_path / "run.log").read_text().splitlines()
    records: list[dict[str, Any]] = [json.loads(line) for line in lines]
    sha = git(config_repo, "rev-parse", "HEAD")
    [loaded] = [r for r in records if "is valid" in r["message"]]
    assert loaded["commit"] == sha and loaded["valid"] is True
    assert isinstance(loaded["profiles"], int) and loaded["profiles"] > 0
    assert isinstance(loaded["gateways"], int) and loaded["gateways"] > 0
    assert {"time", "level", "logger", "message"} <= set(loaded)
    text = "\n".join(lines)
    assert TOKEN not in text and "0123456789abcdef" not in text


def test_an_invalid_commit_is_logged_with_its_error_count(
    tmp_path: Path, config_repo: Path, simulator: SimulatorHandle, secrets_dir: Path
) -> None:
    broken = config_repo / "gateways.d" / "broken.yaml"
    broken.write_text("gateway:\n  - id: LSX-9\n", encoding="utf-8")
    git(config_repo, "add", "-A")
    git(config_repo, "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "broken")
    run = Run(tmp_path, config_repo, simulator.url, secrets_dir, "--log-format", "json")
    log = tmp_path / "run.log"
    try:
        wait_for(lambda: "is invalid" in log.read_text(), what="the invalid commit's line")
        run.process.send_signal(signal.SIGTERM)
        assert run.process.wait(10) == 0
    finally:
        run.close()
    records = [json.loads(line) for line in log.read_text().splitlines()]
    [invalid] = [r for r in records if "is invalid" in r["message"]]
    assert invalid["commit"] == git(config_repo, "rev-parse", "HEAD")
    assert (invalid["valid"], invalid["errors"], invalid["level"]) == (False, 1, "error")
    assert invalid["kept"] is None


def formatted(**extra: Any) -> dict[str, Any]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("reconciler.test-json-logs")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.info("commit %s rolled out", "abc", extra=extra)
    document: dict[str, Any] = json.loads(stream.getvalue())
    return document


def test_json_fields_are_written_as_json_values() -> None:
    line = formatted(
        commit="a" * 40, profile="public-ac", gateways=84, accepted=80, ratio=0.5, ok=True
    )
    assert line["message"] == "commit abc rolled out"
    assert (line["commit"], line["profile"], line["gateways"], line["accepted"]) == (
        "a" * 40,
        "public-ac",
        84,
        80,
    )
    assert (line["ratio"], line["ok"]) == (0.5, True)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT.*", line["time"]) and line["level"] == "info"


def test_fields_that_are_no_json_are_left_out_and_secrets_are_masked() -> None:
    line = formatted(
        path=Path("/tmp/x"),
        nested={"a": [1, 2], "token": "t0k3n"},
        token="t0k3n",
        password="hunter2",
        job_key="idem-1",
        webhook_secret="s3cret",
    )
    assert "path" not in line
    assert line["nested"] == {"a": [1, 2], "token": "(secret)"}
    for name in ("token", "password", "job_key", "webhook_secret"):
        assert line[name] == "(secret)", name
    text = json.dumps(line)
    assert "t0k3n" not in text and "hunter2" not in text and "s3cret" not in text


def test_an_extra_field_never_replaces_a_standard_key() -> None:
    line = formatted(level="nope", time="then", logger="other")
    assert (line["level"], line["logger"]) == ("info", "reconciler.test-json-logs")
    assert line["time"] != "then"


def test_outcome_fields_count_every_status() -> None:
    outcome = Outcome()
    group = GroupProgress("public-ac", 1, RolloutPolicy())
    group.counts.update({Status.ACCEPTED: 3, Status.DECLINED: 1})
    group.aborted = "too many declined"
    outcome.groups["public-ac"] = group
    fields = outcome_fields(outcome)
    assert fields["gateways"] == 4
    assert (fields["accepted"], fields["declined"], fields["mismatch"]) == (3, 1, 0)
    assert fields["aborted"] == ["public-ac"]
    json.dumps(fields)
