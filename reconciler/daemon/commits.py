"""The commits screen's data: every commit the daemon evaluated, and the branch's history.

The loop (:class:`reconciler.daemon.reconciling.Reconciler`) records every commit it loads
(:meth:`CommitLog.evaluated`) and, each step, a held or newly applied one
(:meth:`CommitLog.observe`) in the state store's ``meta`` table under :data:`META_KEY`: one
JSON list, newest first, at most :data:`KEPT`, one small write per change on the loop; a
failed write (the store busy in a worker thread's transaction) is tried again next step.
:func:`commits_view` (blocking, runs git; the console calls it in a worker thread) pages the
branch's history with each commit's validity, diagnostics, hold, rollouts and outcome.
Secrets: a diagnostic about a parameter of catalog type ``secret`` keeps only its location,
code and parameter name; a YAML scalar error loses the quoted text (:func:`diagnostic_text`).
"""

from __future__ import annotations

import json
import logging
import math
import re
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reconciler.daemon.status import DaemonStatus, Loaded
from reconciler.errors import CommitLogError, UnknownCommitError
from reconciler.model.catalogs import Catalog
from reconciler.model.diagnostics import Diagnostic
from reconciler.store.base import Rollout, StateStore

log = logging.getLogger("reconciler.daemon")

META_KEY = "commits"
"""The ``meta`` row holding the records (a JSON list, newest first)."""
KEPT = 500
"""Records kept (the oldest go first)."""
DIAGNOSTICS_KEPT = 5
"""Diagnostics kept per record (errors first); the report has them all for the head."""
TEXT_MAX = 400
"""Characters kept of one diagnostic."""
MAX_PER_PAGE = 100

SAFE_CODES = frozenset({"unknown-key", "wrong-section", "read-only", "missing-key", "unknown-type"})
"""Diagnostic codes whose messages name keys and rules, never a value."""
_QUOTED_SCALAR = re.compile(r"'.*' (is not (?:an integer|a number|a boolean).*)", re.S)
_warned_garbled = False


@dataclass(frozen=True, slots=True)
class CommitRecord:
    """What the daemon found when it loaded one commit, and what became of it."""

    sha: str
    valid: bool
    errors: int
    diagnostics: tuple[str, ...]
    """The first :data:`DIAGNOSTICS_KEPT`, as ``file:line:column: severity: message``."""
    evaluated_at: float
    """When it was loaded (``time.time()``)."""
    load_ms: float
    held: str | None = None
    """Why the prune guard held it (nothing of it rolled out), or ``None``."""
    applied_at: float | None = None
    """When it became the applied commit (its rollout carried out to the end), or ``None``."""

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__} | {
            "diagnostics": list(self.diagnostics)
        }

    @classmethod
    def from_dict(cls, data: Any) -> CommitRecord | None:
        """A record from its JSON form; ``None`` when it is not one (a garbled entry)."""
        if isinstance(data, CommitRecord) or not isinstance(data, Mapping):
            return data if isinstance(data, CommitRecord) else None
        try:
            held, applied = data.get("held"), data.get("applied_at")
            record = cls(
                *(str(data["sha"]), bool(data["valid"]), int(data.get("errors", 0))),
                tuple(str(d) for d in data.get("diagnostics") or ()),
                *(float(data.get("evaluated_at", 0.0)), float(data.get("load_ms", 0.0))),
                held=None if held is None else str(held),
                applied_at=None if applied is None else float(applied),
            )
        except (KeyError, TypeError, ValueError):
            return None
        return record if record.sha else None


def secret_keys(catalog: Catalog) -> frozenset[str]:
    """The parameters of catalog type ``secret``, of every gateway type."""
    specs = (spec for types in catalog.types.values() for spec in types.specs.items())
    return frozenset(key for key, spec in specs if spec.type == "secret")


def diagnostic_text(diagnostic: Diagnostic, secrets: frozenset[str]) -> str:
    """``str(diagnostic)``, without anything that could be a secret parameter's value."""
    message = diagnostic.message
    quoted = _QUOTED_SCALAR.fullmatch(message) if diagnostic.code == "yaml" else None
    if quoted is not None:
        message = f"a value (not shown) {quoted[1]}"
    elif diagnostic.code not in SAFE_CODES:
        named = sorted(k for k in secrets if re.search(rf"\b{re.escape(k)}\b", message))
        if named:
            message = (
                f"{', '.join(named)}: [{diagnostic.code}] message not shown "
                "(a secret parameter; write {secret: NAME})"
            )
    text = str(replace(diagnostic, message=message))
    return text if len(text) <= TEXT_MAX else text[: TEXT_MAX - 1] + "…"


def read_records(store: StateStore) -> list[CommitRecord]:
    """The records in ``store``, newest first; a missing or garbled value gives ``[]``.

    Garbled entries of an otherwise good list are skipped.  A garbled value is
    logged once per process (the next write replaces it)."""
    global _warned_garbled
    text = store.get_meta(META_KEY)
    try:
        data = json.loads(text) if text is not None else []
    except ValueError:
        data = None
    if not isinstance(data, list):
        if not _warned_garbled:
            _warned_garbled = True
            log.warning("commit records in the state store are unreadable; starting a new list")
        return []
    return [r for r in map(CommitRecord.from_dict, data) if r is not None]


class CommitLog:
    """The loop's records, newest first; written through to the store's ``meta`` table.

    Update it on the loop's thread only; :attr:`records` is replaced whole on every
    change, so readers on other threads see one consistent list."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self.records: tuple[CommitRecord, ...] = ()
        try:
            self.records = tuple(read_records(store)[:KEPT])
        except Exception as exc:  # an unreadable store must not stop the daemon from starting
            log.warning("commit records cannot be read (%s); starting a new list", exc)
        self._dirty = False
        self._failing = False
        self._applied: str | None = None
        self._held: tuple[str, str] | None = None
        self._texts: dict[str, tuple[CommitRecord, str]] = {}

    def evaluated(self, loaded: Loaded, seconds: float) -> CommitRecord:
        """Record one loaded commit (again: it keeps its hold and applied time) and write."""
        repo = loaded.repo
        sha = loaded.info.sha
        diagnostics = sorted(repo.diagnostics, key=lambda d: d.severity != "error")
        secrets = secret_keys(repo.catalog) if diagnostics else frozenset()
        old = self.find(sha)
        record = CommitRecord(
            sha=sha,
            valid=repo.valid,
            errors=sum(1 for d in repo.diagnostics if d.severity == "error"),
            diagnostics=tuple(diagnostic_text(d, secrets) for d in diagnostics[:DIAGNOSTICS_KEPT]),
            evaluated_at=time.time(),
            load_ms=round(seconds * 1000, 1),
            held=old.held if old else None,
            applied_at=old.applied_at if old else None,
        )
        self._put(record)
        self.flush()
        return record

    def observe(self, status: DaemonStatus) -> None:
        """Note a newly held or applied commit; write what is not written yet (cheap when idle)."""
        held = status.held
        if held is not None and (held.info.sha, held.reason) != self._held:
            self._held = (held.info.sha, held.reason)
            old = self.find(held.info.sha)
            if old is not None and old.held != held.reason:
                self._put(replace(old, held=held.reason))
        applied = status.applied
        if applied is not None and applied.info.sha != self._applied:
            self._applied = applied.info.sha
            old = self.find(applied.info.sha)
            if old is not None and old.applied_at is None:
                self._put(replace(old, applied_at=time.time()))
        if self._dirty:
            self.flush()

    def find(self, sha: str) -> CommitRecord | None:
        return next((r for r in self.records if r.sha == sha), None)

    def flush(self) -> bool:
        """Write the records (one ``set_meta``); on failure keep them for the next step."""
        texts = self._texts  # each record encoded once: a write costs a join, not 500 dumps
        for r in self.records:
            if texts.get(r.sha, (None,))[0] is not r:
                texts[r.sha] = (r, json.dumps(r.as_dict(), separators=(",", ":")))
        text = "[" + ",".join(texts[r.sha][1] for r in self.records) + "]"
        if len(texts) > 2 * KEPT:
            self._texts = {r.sha: texts[r.sha] for r in self.records}
        try:
            self.store.set_meta(META_KEY, text)
        except Exception as exc:  # the store busy in another transaction, a full disk, ...
            self._dirty = True
            if not self._failing:
                log.warning("commit records not written (%s); trying again later", exc)
            self._failing = True
            return False
        self._dirty = self._failing = False
        return True

    def _put(self, record: CommitRecord) -> None:
        rest = (r for r in self.records if r.sha != record.sha)
        self.records = (record, *rest)[:KEPT]
        self._dirty = True


@dataclass(frozen=True, slots=True)
class LoggedCommit:
    """One commit as ``git log`` lists it."""

    sha: str
    author: str
    date: str
    message: str


def commits_view(
    git_dir: Path,
    head_sha: str,
    records: Sequence[CommitRecord | Mapping[str, Any]],
    rollouts: Sequence[Rollout],
    *,
    page: int = 1,
    per_page: int = 20,
    applied_sha: str | None,
    good_sha: str | None,
) -> dict[str, Any]:
    """One page of the branch's history from ``head_sha``, newest first, with what became of each.

    Blocking (two git calls; the count is cached per head).  ``page`` starts at 1;
    ``per_page`` is kept within 1..:data:`MAX_PER_PAGE`.  Raises
    :class:`~reconciler.errors.UnknownCommitError` when git does not know ``head_sha``,
    its base :class:`~reconciler.errors.CommitLogError` when git cannot read the repository."""
    per_page = min(max(per_page, 1), MAX_PER_PAGE)
    page = max(page, 1)
    listed = log_page(git_dir, head_sha, skip=(page - 1) * per_page, count=per_page)
    total = count_commits(git_dir, head_sha)
    known = {r.sha: r for r in map(CommitRecord.from_dict, records) if r is not None}
    shas = {c.sha for c in listed}
    of_commit: dict[str, list[Rollout]] = {}
    for rollout in rollouts:
        if rollout.commit in shas:
            of_commit.setdefault(rollout.commit, []).append(rollout)
    return {
        "commits": [
            commit_entry(c, known.get(c.sha), of_commit.get(c.sha, []), applied_sha, good_sha)
            for c in listed
        ],
        "page": page,
        "per_page": per_page,
        "total": total,
        "pages": max(1, math.ceil(total / per_page)),
        "shallow": (git_dir / "shallow").exists(),
    }


def commit_entry(
    commit: LoggedCommit,
    record: CommitRecord | None,
    rollouts: Sequence[Rollout],
    applied_sha: str | None,
    good_sha: str | None,
) -> dict[str, Any]:
    """One commit of :func:`commits_view`."""
    sha = commit.sha
    if record is not None:
        validity = "valid" if record.valid else "invalid"
    elif rollouts or sha in (applied_sha, good_sha):
        validity = "valid"  # only a valid commit is rolled out (a record older than the list)
    else:
        validity = "not evaluated"
    ordered = sorted(rollouts, key=lambda r: r.rollout_id)
    return {
        "sha": sha,
        "short": sha[:12],
        "author": commit.author,
        "date": commit.date,
        "message": commit.message,
        "validity": validity,
        "errors": record.errors if record else 0,
        "diagnostics": list(record.diagnostics) if record else [],
        "held": record.held if record else None,
        "evaluated_at": _iso(record.evaluated_at) if record else None,
        "load_ms": record.load_ms if record else None,
        "applied": sha == applied_sha,
        "current": sha == good_sha,
        "rollouts": [_rollout(r) for r in ordered],
        "outcome": outcome(sha, validity, record, ordered, applied_sha, good_sha),
    }


def outcome(
    sha: str,
    validity: str,
    record: CommitRecord | None,
    rollouts: Sequence[Rollout],
    applied_sha: str | None,
    good_sha: str | None,
) -> str:
    """How the commit ended, in one line (the last rollout of each profile counts)."""
    if rollouts:
        last = {r.profile: r for r in sorted(rollouts, key=lambda r: r.rollout_id)}.values()
        if any(r.state == "running" for r in last):
            return "rolling out"
        early = [r for r in last if r.state == "aborted" or r.reason]
        if early:
            reason = early[0].reason.removeprefix("aborted: ") or early[0].state
            return f"aborted: {reason}"
        return "rolled out"
    if validity == "invalid":
        errors = record.errors if record else 0
        return f"rejected: {errors} error{'' if errors == 1 else 's'}"
    if validity == "not evaluated":
        return "not evaluated"
    if (record is not None and record.applied_at is not None) or sha == applied_sha:
        return "nothing to roll out"
    if record is not None and record.held:
        return f"held: {record.held}"
    if sha == good_sha:
        return "rolling out"  # due: being planned, or waiting for the task under way
    return "aborted: superseded by a newer commit"  # before its rollout opened anything


def _rollout(rollout: Rollout) -> dict[str, Any]:
    return {
        "id": rollout.rollout_id,
        "profile": rollout.profile,
        "state": rollout.state,
        "started_at": _iso(rollout.started_at),
        "finished_at": _iso(rollout.finished_at) if rollout.finished_at is not None else None,
        "reason": rollout.reason,
    }


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")


_counts: dict[tuple[str, str], int] = {}


def log_page(git_dir: Path, head_sha: str, *, skip: int, count: int) -> list[LoggedCommit]:
    """``count`` first-parent commits from ``head_sha`` after the newest ``skip`` (one git call)."""
    paging = (f"--skip={skip}", f"--max-count={count}", "--format=%H%x00%an <%ae>%x00%aI%x00%s")
    output = _git(git_dir, head_sha, "log", "--first-parent", *paging)
    lines = (line.split("\0") for line in output.splitlines())
    return [LoggedCommit(*fields) for fields in lines if len(fields) == 4]


def count_commits(git_dir: Path, head_sha: str) -> int:
    """First-parent commits reachable from ``head_sha`` (up to a shallow clone's boundary)."""
    key = (str(git_dir), head_sha)
    if key not in _counts:
        if len(_counts) >= 64:
            _counts.clear()
        _counts[key] = int(_git(git_dir, head_sha, "rev-list", "--first-parent", "--count"))
    return _counts[key]


def _git(git_dir: Path, head_sha: str, *command: str) -> str:
    if not head_sha or head_sha.startswith("-") or any(c.isspace() or c == "\0" for c in head_sha):
        raise UnknownCommitError(head_sha, "not a commit name")
    done = subprocess.run(
        ["git", f"--git-dir={git_dir}", *command, "--end-of-options", head_sha, "--"],
        capture_output=True,
        text=True,
        errors="replace",
        check=False,
    )
    if done.returncode == 0:
        return done.stdout
    detail = " ".join(done.stderr.split())[:300] or f"exit {done.returncode}"
    # Only on failure: is it the commit that git lacks, or the repository that is unreadable?
    if _succeeds(git_dir, "rev-parse", "--git-dir") and not _succeeds(
        git_dir, "cat-file", "-e", f"{head_sha}^{{commit}}"
    ):
        raise UnknownCommitError(head_sha, detail)
    raise CommitLogError(f"git {command[0]} {head_sha[:12]}: {detail}", sha=head_sha)


def _succeeds(git_dir: Path, *command: str) -> bool:
    done = subprocess.run(
        ["git", f"--git-dir={git_dir}", *command], capture_output=True, check=False
    )
    return done.returncode == 0
