"""Reading commits from git objects, and the loader that reuses unchanged files between commits."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import git
import pytest

from reconciler.loading.gitsource import GitSource, GitSourceError
from reconciler.loading.repos import RepoLoader, load_repo
from reconciler.loading.sources import DirectorySource
from reconciler.plan.affected import affected_gateways
from reconciler.testing import write

PROFILE = "name: p\nparameters:\n  LSX:\n    backend:\n      HeartbeatInterval: 600\n"
GATEWAYS = "gateways:\n  - id: LSX-1\n    type: LSX\n    profile: p\n  - id: LSX-2\n    type: LSX\n    profile: p\n"


@pytest.fixture
def repo(tmp_path: Path) -> git.Repo:
    root = write(
        tmp_path / "config",
        {
            "profiles.d/p.yaml": PROFILE,
            "gateways.d/a.yaml": GATEWAYS,
            "gateways.d/b.yaml": "gateways:\n  - id: LSG-1\n    type: LSG\n",
        },
    )
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "seed"],
        cwd=root,
        check=True,
    )
    return git.Repo(root)


def commit(repo: git.Repo, files: dict[str, str], message: str = "change") -> str:
    write(Path(repo.working_tree_dir or "."), files)
    repo.git.add(A=True)
    return str(repo.index.commit(message).hexsha)


def test_a_commit_reads_like_the_working_tree(repo: git.Repo) -> None:
    from_git = load_repo(GitSource(repo, "HEAD"))
    from_disk = load_repo(DirectorySource(repo.working_tree_dir or "."))
    assert (
        from_git.valid
        and from_git.gateways == from_disk.gateways
        and from_git.profiles == from_disk.profiles
    )


def test_files_come_from_the_commit_not_the_working_tree(repo: git.Repo) -> None:
    Path(repo.working_tree_dir or ".", "profiles.d", "p.yaml").write_text(
        "broken: [", encoding="utf-8"
    )
    assert load_repo(GitSource(repo, "HEAD")).valid


def test_an_unknown_revision_is_a_clear_error(repo: git.Repo) -> None:
    with pytest.raises(GitSourceError, match="unknown revision 'nope'"):
        GitSource(repo, "nope")


def test_a_directory_that_is_not_a_repository_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(GitSourceError, match="not a git repository"):
        GitSource(tmp_path, "HEAD")


def test_a_committed_symlink_out_of_the_tree_is_refused(repo: git.Repo) -> None:
    root = Path(repo.working_tree_dir or ".")
    os.symlink("../../../etc/passwd", root / "gateways.d" / "evil.yaml")
    repo.git.add(A=True)
    repo.index.commit("evil")
    diagnostics = [str(d) for d in load_repo(GitSource(repo, "HEAD")).diagnostics]
    assert diagnostics == [
        "gateways.d/evil.yaml:1:1: error: symlink points outside the repository (to ../../../etc/passwd)"
    ]


def test_a_committed_symlink_inside_the_tree_is_followed(repo: git.Repo) -> None:
    root = Path(repo.working_tree_dir or ".")
    write(root, {"elsewhere/c.yaml": "gateways:\n  - id: ACCU-1\n    type: ACCU\n"})
    os.symlink("../elsewhere/c.yaml", root / "gateways.d" / "c.yaml")
    repo.git.add(A=True)
    repo.index.commit("link")
    assert "ACCU-1" in load_repo(GitSource(repo, "HEAD")).gateways


def test_the_loader_reuses_unchanged_files_and_tables(repo: git.Repo) -> None:
    loader = RepoLoader()
    first = loader.load(GitSource(repo, "HEAD"))
    commit(repo, {"profiles.d/p.yaml": PROFILE.replace("600", "700")})
    second = loader.load(GitSource(repo, "HEAD"))
    assert second.gateways is first.gateways  # no gateways file changed: tables reused
    assert second.profiles["p"] is not first.profiles["p"]
    assert affected_gateways(first, second) == {"LSX-1", "LSX-2"}


def test_the_loader_sees_a_changed_gateways_file(repo: git.Repo) -> None:
    loader = RepoLoader()
    first = loader.load(GitSource(repo, "HEAD"))
    commit(repo, {"gateways.d/b.yaml": "gateways:\n  - id: LSG-1\n    type: LSG\n    profile: p\n"})
    second = loader.load(GitSource(repo, "HEAD"))
    assert second.gateways["LSG-1"].profile == "p"
    assert affected_gateways(first, second) == {"LSG-1"}
    assert second.entries_by_file["gateways.d/a.yaml"] is first.entries_by_file["gateways.d/a.yaml"]


def test_the_loader_reports_new_cross_file_errors(repo: git.Repo) -> None:
    loader = RepoLoader()
    loader.load(GitSource(repo, "HEAD"))
    commit(repo, {"gateways.d/b.yaml": "gateways:\n  - id: LSX-1\n    type: LSX\n"})
    second = loader.load(GitSource(repo, "HEAD"))
    assert [d.code for d in second.diagnostics] == ["duplicate-gateway"]
    commit(repo, {"gateways.d/b.yaml": "gateways:\n  - id: LSG-1\n    type: LSG\n"})
    assert loader.load(GitSource(repo, "HEAD")).valid


def test_a_loaded_commit_equals_a_fresh_load(repo: git.Repo) -> None:
    loader = RepoLoader()
    loader.load(GitSource(repo, "HEAD"))
    commit(repo, {"gateways.d/a.yaml": GATEWAYS.replace("LSX-2", "LSX-3")})
    reused = loader.load(GitSource(repo, "HEAD"))
    fresh = load_repo(GitSource(repo, "HEAD"))
    assert reused.gateways == fresh.gateways and reused.members == fresh.members
