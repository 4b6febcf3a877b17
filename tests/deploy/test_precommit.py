"""pre-commit: the README's snippet runs the hook of ``.pre-commit-hooks.yaml`` from this repository.

As a config repository's user runs it: the ``.pre-commit-config.yaml`` is the
README's snippet verbatim, but for its ``repo:`` URL, which points at a git
repository of this working tree tagged with the ``rev:`` the README documents.
Real ``pre-commit`` clones it and installs the reconciler into an environment
of its own.

SLOW ON PURPOSE (a minute or two): pre-commit builds this package and installs
its dependencies from PyPI, the way it does for a user, into a fresh
``PRE_COMMIT_HOME``; nothing is reused from an earlier run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from reconciler import __version__
from tests.deploy.conftest import ROOT
from tests.deploy.test_ci_templates import git, installed

URL_LINE = re.compile(r"^(\s*- repo: )(\S+)", re.MULTILINE)


def readme_snippet() -> str:
    """The YAML block of README.md's "### pre-commit" section."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("### pre-commit\n", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```yaml\n(.*?)```", section, re.DOTALL)
    return str(block)


def documented_rev() -> str:
    (rev,) = re.findall(r"^\s*rev: (\S+)", readme_snippet(), re.MULTILINE)
    return str(rev)


def source_repository(at: Path, tag: str) -> Path:
    """A git repository of this working tree (tracked and new files, as git would clone them), tagged."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # a file deleted in the working tree is listed but absent
            (at / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, at / name)
    git(at, "init", "-q", "-b", "main")
    git(at, "add", "-A")
    git(at, "commit", "-qm", "release")
    git(at, "tag", tag)
    return at


def test_the_readme_pins_the_release_tag_of_this_version() -> None:
    assert documented_rev() == f"v{__version__}"
    assert URL_LINE.search(readme_snippet()) is not None
    hooks = (ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8")
    assert f"rev: v{__version__}" in hooks and "- id: reconciler-validate" in hooks


@pytest.mark.timeout(900)  # pre-commit installs the package and its dependencies from PyPI
def test_the_readme_snippet_runs_the_hook_which_passes_and_then_catches_a_broken_profile(
    tmp_path: Path,
) -> None:
    pre_commit = installed("pre-commit")
    source = source_repository(tmp_path / "lg2wan-reconciler", documented_rev())
    config = tmp_path / "config"
    config.mkdir()
    shutil.copytree(ROOT / "profiles.d", config / "profiles.d")
    shutil.copytree(ROOT / "gateways.d", config / "gateways.d")
    snippet, replaced = URL_LINE.subn(lambda m: m.group(1) + str(source), readme_snippet())
    assert replaced == 1
    (config / ".pre-commit-config.yaml").write_text(snippet, encoding="utf-8")
    git(config, "init", "-q", "-b", "main")
    git(config, "add", "-A")
    git(config, "commit", "-qm", "example")

    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PRE_COMMIT"))}
    env["PRE_COMMIT_HOME"] = str(tmp_path / "pre-commit-home")

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [pre_commit, "run", "--all-files", "--color", "never"],
            cwd=config,
            env=env,
            capture_output=True,
            text=True,
            timeout=840,
        )

    passed = run()
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert re.search(r"^reconciler validate\.+Passed$", passed.stdout, re.MULTILINE)

    (config / "profiles.d" / "broken.yaml").write_text(
        "name: broken\nparameters:\n  LSX:\n    charging:\n      MaxChargingCurrent: 999\n",
        encoding="utf-8",
    )
    git(config, "add", "-A")  # pre-commit --all-files checks the files git knows
    failed = run()
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert re.search(r"^reconciler validate\.+Failed$", failed.stdout, re.MULTILINE)
    assert "- hook id: reconciler-validate" in failed.stdout
    assert (
        "profiles.d/broken.yaml:5:27: error: MaxChargingCurrent: expected an integer from 6 to 32 A, got 999"
        in failed.stdout
    )
