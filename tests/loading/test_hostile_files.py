"""Hostile committed files: every one is a located error, never a crash of the process.

The nesting cases run ``reconciler validate`` in a child process: before the
bounded-depth check, libyaml's recursive composer overflowed the C stack on them
(SIGSEGV, exit 139, no message), which would take the test runner down too.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.loading import yamlfiles
from tests.conftest import MakeRepo

PROFILE = "name: p\nparameters:\n  LSX:\n    backend:\n      HeartbeatInterval: 900\n"

DEEP = {
    "flow-brackets": "gateways: " + "[" * 30_000 + "]" * 30_000 + "\n",
    "flow-braces": "gateways: " + "{a: " * 30_000 + "1" + "}" * 30_000 + "\n",
    "compact-block-sequences": "gateways:\n" + "- " * 30_000 + "x\n",
    "quoted-closers-on-every-line": "gateways: " + '["]",\n' * 30_000 + "]\n",
}


def validate(repo: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", "validate", str(repo)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("text", list(DEEP.values()), ids=list(DEEP))
def test_a_deeply_nested_file_is_a_located_error_not_a_crash(
    make_repo: MakeRepo, text: str
) -> None:
    repo = make_repo({"profiles.d/p.yaml": PROFILE, "gateways.d/deep.yaml": text})
    result = validate(repo)
    assert result.returncode == 1, result.stderr
    assert "gateways.d/deep.yaml:" in result.stdout
    assert f"nesting deeper than {yamlfiles.MAX_DEPTH} levels" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_an_integer_of_5000_digits_is_a_located_error(make_repo: MakeRepo) -> None:
    huge = "9" * 5_000
    repo = make_repo(
        {"profiles.d/p.yaml": PROFILE.replace("900", huge), "gateways.d/g.yaml": "gateways: []\n"}
    )
    result = validate(repo)
    assert result.returncode == 1, result.stderr
    assert "profiles.d/p.yaml:5:26: error: integer of 5,000 characters" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert huge not in result.stdout


def test_ordinary_files_skip_the_exact_depth_check() -> None:
    # The cheap bound keeps the event pass off the hot path of ordinary files.
    ordinary = "gateways:\n" + "  - {id: LSX-1, type: LSX, labels: {level: '3', x: \"]\"}}\n" * 100
    assert not yamlfiles._may_nest_too_deep(ordinary)
    many_openers = "a: " + "[" * (yamlfiles.SAFE_COMPOSE_DEPTH + 1)
    assert yamlfiles._may_nest_too_deep(many_openers)
    deep_indent = "a:\n" + " " * yamlfiles.SAFE_COMPOSE_DEPTH + "b: 1\n"
    assert yamlfiles._may_nest_too_deep(deep_indent)


@pytest.mark.parametrize("folder", ["profiles.d", "gateways.d"])
def test_a_symlinked_folder_out_of_the_repository_is_not_read(
    make_repo: MakeRepo, tmp_path: Path, folder: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret-name.yaml").write_text("name: TOP-SECRET-CONTENT\n")
    files = {"profiles.d/p.yaml": PROFILE, "gateways.d/g.yaml": "gateways: []\n"}
    repo = make_repo({k: v for k, v in files.items() if not k.startswith(folder)})
    (repo / folder).symlink_to(outside, target_is_directory=True)
    result = validate(repo)
    assert result.returncode == 1
    assert f"{folder}:1:1: error: symlink points outside the repository" in result.stdout
    assert "TOP-SECRET-CONTENT" not in result.stdout + result.stderr
    assert "secret-name" not in result.stdout + result.stderr
