"""The commits screen's data: records of evaluated commits, and the branch's history view.

Unit tests of the view run on a plain git repository (made with ``git fast-import``)
and a real SQLite store; the end-to-end tests run the daemon on the example repository
against the simulator, as the loop tests do.
"""

from __future__ import annotations

import json
import logging
import subprocess
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from reconciler.daemon import commits
from reconciler.daemon.commits import META_KEY, CommitLog, CommitRecord, commits_view, read_records
from reconciler.daemon.status import DaemonStatus, Held, Loaded
from reconciler.daemon.watching import CommitInfo
from reconciler.errors import CommitLogError, UnknownCommitError
from reconciler.loading.repos import load_repo
from reconciler.loading.sources import DirectorySource
from reconciler.store import open_store
from reconciler.store.base import Rollout
from tests.daemon.conftest import EXAMPLE, GIT_USER, DaemonThread, commit, git, replace, wait_for

StartDaemon = Callable[..., DaemonThread]
SECRET_LITERAL = "98765432109876"


def history(root: Path, count: int) -> list[str]:
    """A bare repository at ``root`` with ``count`` commits on main; their shas, oldest first."""
    git(root.parent, "init", "-q", "--bare", "-b", "main", str(root))
    stream = []
    for n in range(1, count + 1):
        body = f"change {n}\n"
        stream.append(
            f"commit refs/heads/main\nmark :{n}\n"
            f"author Test Author <author@example.invalid> {1_700_000_000 + n * 60} +0100\n"
            f"committer Test Author <author@example.invalid> {1_700_000_000 + n * 60} +0100\n"
            f"data {len(f'change {n}')}\nchange {n}\n"
            + (f"from :{n - 1}\n" if n > 1 else "")
            + f"M 644 inline file.txt\ndata {len(body)}\n{body}\n"
        )
    subprocess.run(
        ["git", f"--git-dir={root}", "fast-import", "--quiet"],
        input="".join(stream),
        text=True,
        check=True,
    )
    return git(root, "rev-list", "--reverse", "main").split()


def view(git_dir: Path, head: str, **options: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {"records": [], "rollouts": [], "applied_sha": None}
    arguments |= {"good_sha": None, **options}
    return commits_view(git_dir, head, **arguments)


def record(sha: str, *, valid: bool = True, **fields: Any) -> CommitRecord:
    errors = 0 if valid else 2
    return CommitRecord(sha, valid, errors, (), time.time(), 12.5, **fields)


def rollout(
    rollout_id: int, sha: str | None, profile: str | None, state: str, reason: str = ""
) -> Rollout:
    finished = None if state == "running" else 1_700_000_100.0
    return Rollout(rollout_id, sha, profile, 1_700_000_000.0, finished, state, reason)


# --- the view on a plain repository ----------------------------------------------------------------


def test_a_page_lists_the_branch_newest_first_with_the_total(tmp_path: Path) -> None:
    shas = history(tmp_path / "repo.git", 25)
    first = view(tmp_path / "repo.git", shas[-1], per_page=10)
    assert (first["total"], first["pages"], first["page"], first["per_page"]) == (25, 3, 1, 10)
    assert [c["sha"] for c in first["commits"]] == shas[::-1][:10]
    newest = first["commits"][0]
    assert newest["short"] == shas[-1][:12]
    assert newest["author"] == "Test Author <author@example.invalid>"
    assert newest["message"] == "change 25"
    assert datetime.fromisoformat(newest["date"]).timestamp() == 1_700_000_000 + 25 * 60
    assert newest["validity"] == "not evaluated" and newest["outcome"] == "not evaluated"
    assert first["shallow"] is False
    last = view(tmp_path / "repo.git", shas[-1], page=3, per_page=10)
    assert [c["sha"] for c in last["commits"]] == shas[::-1][20:]
    assert view(tmp_path / "repo.git", shas[-1], page=9, per_page=10)["commits"] == []
    from_older = view(tmp_path / "repo.git", shas[4], per_page=500)
    assert from_older["total"] == 5 and from_older["per_page"] == commits.MAX_PER_PAGE


def test_each_commit_says_what_became_of_it(tmp_path: Path) -> None:
    s = history(tmp_path / "repo.git", 10)
    records = [
        record(s[0]),  # rolled out: every rollout finished
        record(s[1], valid=False),  # rejected
        record(s[2]),  # superseded while rolling out
        record(s[3], applied_at=time.time()),  # valid, applied, nothing to roll out
        record(s[4], held="would reset 80 of 80 managed gateways"),
        record(s[5]),  # aborted by its policy
        record(s[6]),  # valid, superseded before any rollout opened
        record(s[8]).as_dict(),  # a dict (as read from JSON) will do
        # s[7]: no record (skipped); s[9]: no record but the applied, current commit
    ]
    rollouts = [
        rollout(1, s[0], "a", "finished"),
        rollout(2, s[0], "b", "finished"),
        rollout(3, s[2], "a", "finished", "superseded by a newer commit"),
        rollout(4, s[5], "a", "aborted", "aborted: 5 of 20 declined (25% > 20%)"),
        rollout(5, s[5], "b", "finished"),
        rollout(6, s[8], "a", "aborted", "aborted: 5 of 20 declined (25% > 20%)"),
        rollout(7, s[8], "a", "running"),  # Retry Upload: the newest of a profile counts
        rollout(8, s[9], "a", "finished"),
        rollout(9, None, None, "finished"),
    ]
    options = {"records": records, "rollouts": rollouts, "applied_sha": s[9], "good_sha": s[9]}
    page = view(tmp_path / "repo.git", s[-1], **options)
    found = {c["sha"]: c for c in page["commits"]}
    assert [found[sha]["outcome"] for sha in s] == [
        "rolled out",
        "rejected: 2 errors",
        "aborted: superseded by a newer commit",
        "nothing to roll out",
        "held: would reset 80 of 80 managed gateways",
        "aborted: 5 of 20 declined (25% > 20%)",
        "aborted: superseded by a newer commit",
        "not evaluated",
        "rolling out",
        "rolled out",
    ]
    assert [found[sha]["validity"] for sha in s] == [
        *("valid", "invalid", "valid", "valid", "valid", "valid", "valid"),
        *("not evaluated", "valid", "valid"),
    ]
    assert found[s[1]]["errors"] == 2 and found[s[4]]["held"].startswith("would reset")
    assert [r["id"] for r in found[s[0]]["rollouts"]] == [1, 2]
    assert found[s[0]]["rollouts"][0] == {
        "id": 1,
        "profile": "a",
        "state": "finished",
        "started_at": "2023-11-14T22:13:20+00:00",
        "finished_at": "2023-11-14T22:15:00+00:00",
        "reason": "",
    }
    assert found[s[8]]["rollouts"][1]["finished_at"] is None
    assert found[s[9]]["applied"] is True and found[s[8]]["applied"] is False
    current = view(tmp_path / "repo.git", s[-1], records=[record(s[9])], good_sha=s[9])
    assert current["commits"][0]["current"] is True
    assert current["commits"][0]["outcome"] == "rolling out", "valid, due, not yet planned"


def test_an_unknown_head_raises_a_clear_error(tmp_path: Path) -> None:
    shas = history(tmp_path / "repo.git", 3)
    for head in ("0" * 40, "--all", "not a sha", ""):
        with pytest.raises(UnknownCommitError) as caught:
            view(tmp_path / "repo.git", head)
        assert caught.value.sha == head
    with pytest.raises(CommitLogError):
        view(tmp_path / "missing.git", shas[-1])


def test_a_shallow_clone_shows_what_it_has(tmp_path: Path) -> None:
    shas = history(tmp_path / "repo.git", 8)
    shallow = tmp_path / "shallow.git"
    source = (tmp_path / "repo.git").as_uri()
    git(tmp_path, "clone", "-q", "--bare", "--depth", "3", source, str(shallow))
    page = view(shallow, shas[-1], records=[record(s) for s in shas], per_page=5)
    assert page["shallow"] is True and page["total"] == 3 and page["pages"] == 1
    assert [c["sha"] for c in page["commits"]] == shas[::-1][:3]
    assert all(c["validity"] == "valid" for c in page["commits"])


# --- records in the store --------------------------------------------------------------------------


def loaded(root: Path, sha: str) -> Loaded:
    return Loaded(info(sha), load_repo(DirectorySource(root)))


def example_copy(root: Path) -> Path:
    for folder in ("profiles.d", "gateways.d"):
        for path in (EXAMPLE / folder).rglob("*.yaml"):
            target = root / path.relative_to(EXAMPLE)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    return root


def test_a_diagnostic_never_carries_a_secret_value(tmp_path: Path) -> None:
    root = example_copy(tmp_path / "config")
    profile = root / "profiles.d" / "fleet-depot.yaml"
    text = profile.read_text(encoding="utf-8")
    text = text.replace("{secret: fleet_depot_auth_key}", SECRET_LITERAL, 1)
    text = text.replace("{secret: fleet_depot_auth_key}", "{secret: 'hunter2 s3cret'}", 1)
    profile.write_text(text.replace("HeartbeatInterval: 1800", "HeartbeatInterval: often", 1))
    (root / "profiles.d" / "canary.yaml").write_text("name: canary\nx: !!int x7-s3cret-pin\n")
    store = open_store(tmp_path / "state" / "state.db")
    try:
        log = CommitLog(store)
        entry = log.evaluated(loaded(root, "a" * 40), 0.0421)
        assert entry.valid is False and entry.errors == 4 and entry.load_ms == 42.1
        text = "\n".join(entry.diagnostics)
        for value in (SECRET_LITERAL, "hunter2", "s3cret"):
            assert value not in text
        assert "profiles.d/fleet-depot.yaml:" in text and "AuthorizationKey" in text
        assert "HeartbeatInterval: expected" in text and "'often'" in text, "other values stay"
        assert "profiles.d/canary.yaml:2:" in text and "is not an integer" in text
        assert read_records(store) == [entry]
    finally:
        store.close()


def test_records_are_bounded_newest_first_and_a_write_that_fails_comes_later(
    tmp_path: Path,
) -> None:
    repo = load_repo(DirectorySource(example_copy(tmp_path / "config")))
    path = tmp_path / "state" / "state.db"
    store = open_store(path)
    log = CommitLog(store)
    for n in range(commits.KEPT + 10):
        log.evaluated(Loaded(info(f"{n:040x}"), repo), 0.01)
    stored = read_records(store)
    assert len(stored) == commits.KEPT and stored[0].sha == f"{commits.KEPT + 9:040x}"
    again = log.evaluated(Loaded(info(f"{20:040x}"), repo), 0.01)
    assert log.records[0] == again and len({r.sha for r in log.records}) == commits.KEPT

    store.close()  # the next writes fail: kept in memory, no exception
    applied = Loaded(info("0" * 40), repo)
    log.evaluated(applied, 0.01)
    status = DaemonStatus(applied=applied, held=Held(info(f"{21:040x}"), "would reset", 9, 9))
    log.observe(status)
    held = log.find(f"{21:040x}")
    assert held is not None and held.held == "would reset"
    log.store = open_store(path)
    try:
        log.observe(status)  # the next step writes what was left
        stored = read_records(log.store)
        assert stored[0].sha == "0" * 40 and stored[0].applied_at is not None
        assert next(r for r in stored if r.sha == f"{21:040x}").held == "would reset"
    finally:
        log.store.close()


def info(sha: str) -> CommitInfo:
    return CommitInfo(
        sha, "Test Author <author@example.invalid>", "2024-01-01T00:00:00+00:00", 0.0, "m"
    )


def test_a_garbled_value_reads_as_no_records(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = open_store(tmp_path / "state.db")
    try:
        assert read_records(store) == []
        good = record("b" * 40).as_dict()
        store.set_meta(META_KEY, json.dumps([good, {"sha": 3}, "x", {"valid": True}, None]))
        assert [r.sha for r in read_records(store)] == ["b" * 40]
        commits._warned_garbled = False
        caplog.set_level(logging.WARNING, logger="reconciler.daemon")
        for garbled in ("{not json", '{"a": 1}', "null"):
            store.set_meta(META_KEY, garbled)
            assert read_records(store) == []
            assert CommitLog(store).records == ()
        assert len([r for r in caplog.records if "unreadable" in r.getMessage()]) == 1
    finally:
        store.close()


# --- the daemon ------------------------------------------------------------------------------------


def records_of(daemon: DaemonThread) -> dict[str, CommitRecord]:
    return {r.sha: r for r in daemon.call(lambda d: d.reconciler.commits.records)}


def daemon_view(daemon: DaemonThread) -> dict[str, Any]:
    def gather(d: Any) -> tuple[Path, str, Any, Any, str | None, str | None]:
        status = d.status
        return (
            Path(d.watcher.open().git_dir),
            status.head.info.sha,
            d.reconciler.commits.records,
            d.store.rollouts(),
            status.applied.info.sha if status.applied else None,
            status.good.info.sha if status.good else None,
        )

    git_dir, head, records, rollouts, applied, good = daemon.call(gather)
    return commits_view(git_dir, head, records, rollouts, applied_sha=applied, good_sha=good)


def settled_at(daemon: DaemonThread, sha: str) -> bool:
    def check(d: Any) -> bool:
        status = d.status
        return bool(status.applied and status.applied.info.sha == sha and not status.busy)

    return daemon.call(check)


def test_the_daemon_records_every_commit_and_the_record_survives_a_restart(
    start_daemon: StartDaemon, config_repo: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="reconciler.daemon")
    daemon = start_daemon()
    seed = git(config_repo, "rev-parse", "HEAD")
    wait_for(lambda: settled_at(daemon, seed), what="the first rollout")
    depot = "profiles.d/fleet-depot.yaml"
    bad = commit(
        config_repo,
        "fleet-depot: a literal key and a word for a number",
        {
            depot: lambda text: replace("HeartbeatInterval: 1800", "HeartbeatInterval: often")(
                replace("{secret: fleet_depot_auth_key}", SECRET_LITERAL)(text)
            )
        },
    )
    wait_for(lambda: bad in records_of(daemon), what="the invalid commit's record")
    good = commit(
        config_repo,
        "fleet-depot: heartbeat 1800 -> 1200",
        {
            depot: lambda text: replace("HeartbeatInterval: often", "HeartbeatInterval: 1200")(
                replace(SECRET_LITERAL, "{secret: fleet_depot_auth_key}")(text)
            )
        },
    )
    wait_for(lambda: settled_at(daemon, good), what="the valid commit's rollout")
    wait_for(lambda: records_of(daemon)[good].applied_at, what="the applied time recorded")

    page = daemon_view(daemon)
    assert SECRET_LITERAL not in json.dumps(page)
    assert "is invalid (2 errors)" in caplog.text and "message not shown" in caplog.text
    assert SECRET_LITERAL not in caplog.text
    assert page["total"] == 3
    newest, rejected, first = page["commits"]
    assert [c["sha"] for c in page["commits"]] == [good, bad, seed]
    assert (first["validity"], first["outcome"]) == ("valid", "rolled out")
    assert first["rollouts"] and all(r["state"] == "finished" for r in first["rollouts"])
    assert (rejected["validity"], rejected["outcome"]) == ("invalid", "rejected: 2 errors")
    assert rejected["rollouts"] == [] and rejected["errors"] == 2
    assert all(d.startswith(f"{depot}:") for d in rejected["diagnostics"])
    assert any("AuthorizationKey" in d for d in rejected["diagnostics"])
    assert (newest["validity"], newest["outcome"]) == ("valid", "rolled out")
    assert [r["profile"] for r in newest["rollouts"]] == ["fleet-depot"]
    assert newest["applied"] and newest["current"] and not first["applied"]
    before = records_of(daemon)

    daemon.stop()
    again = start_daemon()
    stored = {r.sha: r for r in again.call(lambda d: read_records(d.store))}
    assert stored[bad] == before[bad] and stored[seed] == before[seed]
    wait_for(lambda: settled_at(again, good), what="the restarted daemon to rest")
    assert records_of(again)[good].applied_at == before[good].applied_at
    assert [c["outcome"] for c in daemon_view(again)["commits"]] == [
        "rolled out",
        "rejected: 2 errors",
        "rolled out",
    ]


def test_a_held_commit_is_recorded_with_its_reason(
    start_daemon: StartDaemon, config_repo: Path
) -> None:
    daemon = start_daemon()
    seed = git(config_repo, "rev-parse", "HEAD")
    wait_for(lambda: settled_at(daemon, seed), what="the first rollout")
    for path in sorted((config_repo / "gateways.d").rglob("*.yaml")):
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        path.write_text("".join(x for x in lines if not x.strip().startswith("profile:")))
    git(config_repo, "add", "-A")
    git(config_repo, *GIT_USER, "commit", "-qm", "no profiles")
    held = git(config_repo, "rev-parse", "HEAD")
    wait_for(lambda: records_of(daemon).get(held, record("")).held, what="the hold recorded")
    newest = daemon_view(daemon)["commits"][0]
    assert newest["sha"] == held and newest["validity"] == "valid"
    assert newest["outcome"].startswith("held: would reset") and not newest["current"]


def test_a_garbled_record_list_does_not_stop_the_daemon(
    start_daemon: StartDaemon, config_repo: Path, tmp_path: Path
) -> None:
    store = open_store(tmp_path / "state" / "state.db")
    store.set_meta(META_KEY, "[{garbled")
    store.close()
    daemon = start_daemon(state=tmp_path / "state" / "state.db")
    seed = git(config_repo, "rev-parse", "HEAD")
    wait_for(lambda: settled_at(daemon, seed), what="the first rollout")
    assert [r.sha for r in daemon.call(lambda d: read_records(d.store))] == [seed]
    assert daemon_view(daemon)["commits"][0]["outcome"] == "rolled out"
