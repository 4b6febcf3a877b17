"""``reconciler validate``: output formats, summary, exit codes, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from click.testing import CliRunner

from reconciler.cli import cli

MakeRepo = Callable[[Mapping[str, str]], Path]
EXAMPLE = Path(__file__).resolve().parents[2]
BAD = {
    "profiles.d/p.yaml": "name: p\nparameters:\n  LSX:\n    backend:\n      HeartbeatInterval: '900'\n",
    "gateways.d/a.yaml": "gateways:\n  - id: LSX-1\n    type: LSX\n    profile: q\n",
}


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_the_example_repository_validates_with_exit_0() -> None:
    code, output = run("validate", str(EXAMPLE))
    assert code == 0
    assert output.startswith("valid: ")


def test_problems_print_as_path_line_col_then_a_summary(make_repo: MakeRepo) -> None:
    code, output = run("validate", str(make_repo(BAD)))
    assert code == 1
    assert output.splitlines() == [
        "gateways.d/a.yaml:4:14: error: gateway LSX-1: profile 'q' does not exist; expected a file profiles.d/q.yaml",
        "profiles.d/p.yaml:5:26: error: HeartbeatInterval: expected an integer from 30 to 86400 s, got string '900'",
        "2 errors in 2 files (2 files checked)",
    ]


def test_json_format_lists_objects_with_the_documented_fields(make_repo: MakeRepo) -> None:
    code, output = run("validate", str(make_repo(BAD)), "--format", "json")
    assert code == 1
    items = json.loads(output)
    assert len(items) == 2
    assert set(items[0]) == {"file", "line", "column", "severity", "code", "message"}
    assert items[1]["file"] == "profiles.d/p.yaml"
    assert (items[1]["line"], items[1]["column"]) == (5, 26)


def test_github_format_prints_annotations(make_repo: MakeRepo) -> None:
    code, output = run("validate", str(make_repo(BAD)), "--format", "github")
    assert code == 1
    first = output.splitlines()[0]
    assert first.startswith(
        "::error file=gateways.d/a.yaml,line=4,col=14,title=reconciler unknown-profile::"
    )


def test_a_missing_repository_is_a_usage_error(tmp_path: Path) -> None:
    code, output = run("validate", str(tmp_path / "nope"))
    assert "not a directory" in output
    assert code == 2


def test_an_unknown_format_is_a_usage_error() -> None:
    assert run("validate", str(EXAMPLE), "--format", "xml")[0] == 2


def test_repo_defaults_to_the_current_directory(make_repo: MakeRepo, monkeypatch: object) -> None:
    root = make_repo(BAD)
    result = subprocess.run(
        [sys.executable, "-m", "reconciler", "validate"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "2 errors" in result.stdout


def test_garbage_never_produces_a_traceback(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / "gateways.d").mkdir(parents=True)
    (root / "profiles.d").mkdir()
    (root / "gateways.d" / "a.yaml").write_bytes(b"\x00\x01\x02 gateways: [[[{{{")
    (root / "gateways.d" / "b.yaml").write_text("gateways:\n  - " + "[" * 3000 + "\n")
    (root / "profiles.d" / "c.yaml").write_text("!!binary AAAA\n")
    (root / "profiles.d" / "d.yaml").write_text("? [a, b]\n: c\n")
    result = subprocess.run(
        [sys.executable, "-m", "reconciler", "validate", str(root)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert "4 errors in 4 files" in result.stdout
