"""The command line as docs/reference/commands.md promises it: variables, help, completion, wording.

Run as a user runs the tool: the installed ``reconciler`` script (or
``python -m reconciler``) in a subprocess, with the environment it would have.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import click
import pytest

from reconciler.cli import cli
from reconciler.cli.common import plural

ROOT = Path(__file__).resolve().parents[2]
COMMANDS_MD = ROOT / "docs" / "reference" / "commands.md"
INVENTORY = ROOT / "examples" / "inventory.json"
SCRIPT = Path(sys.executable).parent / "reconciler"


def reconciler(
    *args: str, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """The installed console script (completion is keyed to its name), else ``python -m``."""
    command = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "reconciler"]
    return subprocess.run(
        [*command, *args],
        env={**os.environ, **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# --- every documented variable is read -----------------------------------------------------


def documented_variables() -> Iterator[tuple[tuple[str, ...], str, str]]:
    """``(command path, --option, VARIABLE)`` of every row of commands.md's option tables."""
    paths: list[tuple[str, ...]] = []
    for line in COMMANDS_MD.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"^#{2,3} (.+)$", line)
        if heading:
            title = heading.group(1).strip()
            if title == "assign and unassign":
                paths = [("assign",), ("unassign",)]
            elif re.fullmatch(r"[a-z]+( [a-z]+)?", title):
                paths = [tuple(title.split())]
            else:
                paths = []
            continue
        if not line.startswith("| `-") or not paths:
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        options = [o.split()[0] for o in re.findall(r"`(--[^`]+)`", cells[0])]
        variables = re.findall(r"`(RECONCILER_[A-Z0-9_]+)`", cells[1])
        for option, variable in zip(options, variables, strict=False):
            for path in paths:
                yield path, option, variable


def command_at(path: tuple[str, ...]) -> click.Command:
    ctx = click.Context(cli)
    command: click.Command | None = cli
    for name in path:
        assert isinstance(command, click.Group), path
        command = command.get_command(ctx, name)
        assert command is not None, f"no command {' '.join(path)}"
    assert command is not None
    return command


DOCUMENTED = sorted(set(documented_variables()))


def test_the_contract_documents_variables_for_the_commands_that_roll_out_and_read() -> None:
    documented = {(p, o) for p, o, _ in DOCUMENTED}
    for expected in [
        (("validate",), "--format"),
        (("plan",), "--format"),
        (("apply",), "--format"),
        (("apply",), "--quiet"),
        (("retry",), "--format"),
        (("retry",), "--quiet"),
        (("status",), "--format"),
    ]:
        assert expected in documented, expected


@pytest.mark.parametrize(
    ("path", "option", "variable"), DOCUMENTED, ids=[f"{' '.join(p)} {o}" for p, o, _ in DOCUMENTED]
)
def test_every_flag_with_a_documented_variable_reads_it(
    path: tuple[str, ...], option: str, variable: str
) -> None:
    command = command_at(path)
    [param] = [p for p in command.params if option in getattr(p, "opts", ())]
    envvar = param.envvar
    read = [envvar] if isinstance(envvar, str) else list(envvar or ())
    assert variable in read, f"{' '.join(path)} {option} reads {read}, the contract says {variable}"


def test_reconciler_format_changes_what_validate_prints(tmp_path: Path) -> None:
    text = reconciler("validate", str(ROOT))
    as_json = reconciler("validate", str(ROOT), env={"RECONCILER_FORMAT": "json"})
    assert text.returncode == as_json.returncode == 0
    assert text.stdout.startswith("valid: ")
    assert json.loads(as_json.stdout) == []
    github = reconciler("validate", str(ROOT), env={"RECONCILER_FORMAT": "github"})
    assert github.stdout == "" and github.stderr.startswith("valid: ")
    flag_wins = reconciler(
        "validate", str(ROOT), "--format", "text", env={"RECONCILER_FORMAT": "json"}
    )
    assert flag_wins.stdout.startswith("valid: ")


def test_reconciler_format_changes_what_plan_prints() -> None:
    args = ("plan", str(ROOT), "--inventory", str(INVENTORY))
    text = reconciler(*args)
    as_json = reconciler(*args, env={"RECONCILER_FORMAT": "json"})
    markdown = reconciler(*args, env={"RECONCILER_FORMAT": "markdown"})
    assert text.returncode == as_json.returncode == markdown.returncode == 0
    assert text.stdout.startswith("Plan: ")
    assert json.loads(as_json.stdout)["format_version"] == 1
    assert markdown.stdout.startswith("### reconciler plan")


# --- help ----------------------------------------------------------------------------------


@pytest.mark.parametrize("group", [(), ("ocpp",), ("profile",)], ids=["root", "ocpp", "profile"])
@pytest.mark.parametrize("columns", ["80", "50"])
def test_help_shows_every_summary_whole(group: tuple[str, ...], columns: str) -> None:
    done = reconciler(*group, "--help", env={"COLUMNS": columns})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    listed = lines[lines.index("Commands:") + 1 :]  # the usage line ends with "ARGS]..."
    assert listed and all(line.startswith("  ") for line in listed)
    assert not [line for line in listed if line.rstrip().endswith("...")], done.stdout


def test_the_root_help_lists_each_command_with_a_one_line_summary_at_80_columns() -> None:
    done = reconciler("--help", env={"COLUMNS": "80"})
    lines = done.stdout.splitlines()
    listed = lines[lines.index("Commands:") + 1 :]
    for name in ["validate", "plan", "apply", "retry", "status", "search", "run", "demo"]:
        [line] = [x for x in listed if x.split()[0] == name]
        assert line.rstrip().endswith("."), line


# --- shell completion ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shell", "marker"),
    [("bash", "complete -o nosort -F"), ("zsh", "compdef"), ("fish", "complete --no-files")],
)
def test_the_completion_script_is_printed_for_each_shell(shell: str, marker: str) -> None:
    done = reconciler(env={"_RECONCILER_COMPLETE": f"{shell}_source"})
    assert done.returncode == 0, done.stderr
    assert marker in done.stdout and "_RECONCILER_COMPLETE" in done.stdout


def complete(words: str, current: int) -> list[str]:
    done = reconciler(
        env={
            "_RECONCILER_COMPLETE": "bash_complete",
            "COMP_WORDS": words,
            "COMP_CWORD": str(current),
        }
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_a_completion_request_answers_command_names_and_options() -> None:
    assert complete("reconciler ", 1)[:3] == ["plain,validate", "plain,plan", "plain,apply"]
    assert complete("reconciler va", 1) == ["plain,validate"]
    assert "plain,--format" in complete("reconciler plan --fo", 2)
    assert complete("reconciler plan --format ", 3) == [
        "plain,text",
        "plain,json",
        "plain,markdown",
    ]


@pytest.mark.skipif(not Path("/bin/bash").exists(), reason="no bash")
def test_bash_completes_through_the_sourced_script() -> None:
    """The documented line, in a real bash: ``eval "$(_RECONCILER_COMPLETE=bash_source reconciler)"``."""
    if not SCRIPT.exists():
        pytest.skip("the console script is not installed (pip install -e .)")
    script = (
        f'PATH="{SCRIPT.parent}:$PATH"\n'
        'eval "$(_RECONCILER_COMPLETE=bash_source reconciler)"\n'
        "COMP_WORDS=(reconciler st); COMP_CWORD=1\n"
        "_reconciler_completion reconciler\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    done = subprocess.run(
        ["/bin/bash", "--norc", "--noprofile", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.stdout.split() == ["status"], done.stdout + done.stderr


# --- wording -------------------------------------------------------------------------------


def test_plural_counts_one_and_many() -> None:
    assert plural(1, "error") == "1 error"
    assert plural(0, "error") == "0 errors"
    assert plural(2, "file") == "2 files"
    assert plural(1, "entry", "entries") == "1 entry"
    assert plural(3, "entry", "entries") == "3 entries"


def test_one_error_in_one_file_is_said_in_the_singular(tmp_path: Path) -> None:
    (tmp_path / "gateways.d").mkdir()
    (tmp_path / "gateways.d" / "a.yaml").write_text("gateways:\n  - id: LSX-1\n", encoding="utf-8")
    done = reconciler("validate", str(tmp_path))
    assert done.returncode == 1
    summary = done.stdout.splitlines()[-1]
    assert summary == "1 error in 1 file (1 file checked)", summary
    for wrong in ("1 errors", "1 files"):
        assert wrong not in done.stdout + done.stderr


def test_an_invalid_commit_says_how_many_errors_in_the_singular(tmp_path: Path) -> None:
    (tmp_path / "gateways.d").mkdir()
    (tmp_path / "gateways.d" / "a.yaml").write_text("gateways:\n  - id: LSX-1\n", encoding="utf-8")
    done = reconciler("plan", str(tmp_path))
    assert done.returncode == 1
    assert "is invalid (1 error); nothing planned" in done.stderr


def test_a_single_member_is_counted_in_the_singular(tmp_path: Path) -> None:
    (tmp_path / "gateways.d").mkdir()
    (tmp_path / "gateways.d" / "a.yaml").write_text(
        "gateways:\n  - id: LSX-000001\n    type: LSX\n", encoding="utf-8"
    )
    done = reconciler("status", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "1 gateway in 0 profiles: 1 no status"
