"""deploy/container/Dockerfile (not built here): its instructions, and a build context that holds what it copies."""

from __future__ import annotations

import fnmatch
import json
import re

from tests.deploy.conftest import DEPLOY, ROOT

DOCKERFILE = DEPLOY / "container" / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def arguments(word: str) -> list[str]:
    return [rest for instruction, rest in instructions() if instruction == word]


def test_the_image_is_python_3_11_slim() -> None:
    assert all(base.split()[0] == "python:3.11-slim" for base in arguments("FROM"))


def test_it_runs_as_a_numeric_non_root_user() -> None:
    user = arguments("USER")[-1]
    assert user.split(":")[0].isdigit() and user.split(":")[0] != "0"
    last_from = max(i for i, (word, _) in enumerate(instructions()) if word == "FROM")
    assert any(word == "USER" for word, _ in instructions()[last_from:])


def test_the_healthcheck_asks_healthz_with_python_alone() -> None:
    (check,) = arguments("HEALTHCHECK")
    assert "/healthz" in check and "urllib.request" in check
    assert "curl" not in check and "wget" not in check


def test_it_starts_the_daemon_and_has_git_for_gitpython() -> None:
    assert json.loads(arguments("ENTRYPOINT")[-1]) == ["reconciler"]
    assert json.loads(arguments("CMD")[-1]) == ["run"]
    assert any("install" in run and " git " in run + " " for run in arguments("RUN"))
    assert "9108" in arguments("EXPOSE")[-1]


def test_every_copied_path_exists_and_the_dockerignore_keeps_it_in_the_context() -> None:
    ignored = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for copy in arguments("COPY"):
        parts = [p for p in copy.split() if not p.startswith("--")]
        if copy.startswith("--from"):
            continue
        for source in parts[:-1]:
            assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
            assert not any(fnmatch.fnmatch(source, pattern) for pattern in ignored), (
                f"COPY {source}: excluded by .dockerignore"
            )
