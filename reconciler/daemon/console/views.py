"""Each console screen's JSON document, assembled from what the daemon knows.

Called by :mod:`reconciler.daemon.console.routes` (in a worker thread: some
read the store or run git), which serves every document as JSON and renders
it as a page, so the page and the JSON never disagree.  Each function returns
``(HTTP status, document)``; an error document is ``{"error": message}``.

The pieces come from their one home: counts and last changes from the report
summary (:mod:`reconciler.daemon.reports`, as ``report.json`` shows them),
members from the live member index (the rows ``reconciler status --format
json`` prints, :func:`reconciler.members.rows.member_json`), configurations
from :mod:`reconciler.plan.explain`, commits from
:mod:`reconciler.daemon.commits`, the Retry Upload rule from the report's
``retry_possible`` (:mod:`reconciler.members.retrying`).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

from reconciler.daemon import commits as commit_log
from reconciler.daemon.status import DaemonStatus
from reconciler.errors import CommitLogError, ExplainError
from reconciler.members.counts import STATUS_KEYS
from reconciler.members.index import ALL, MemberIndex
from reconciler.members.listing import page_numbers
from reconciler.members.rows import member_json, utc_text
from reconciler.plan.explain import gateway_configuration, profile_configuration
from reconciler.plan.values import SecretDigest
from reconciler.store.base import StateStore

HISTORY = 50
"""Status changes a gateway's page shows (the store keeps a bounded history)."""

COMMITS_PER_PAGE = 20


class Source(Protocol):
    """What the views read from the running daemon (:class:`reconciler.daemon.running.Daemon`)."""

    @property
    def status(self) -> DaemonStatus: ...

    @property
    def generation(self) -> int:
        """Grows whenever something a screen shows may have changed."""
        ...

    def report(self) -> Mapping[str, Any]: ...

    def member_index(self) -> MemberIndex | None: ...

    def members_answer(
        self, params: Mapping[str, str | list[str]]
    ) -> tuple[int, dict[str, Any]]: ...

    def reading(self) -> contextlib.AbstractContextManager[StateStore]:
        """A read-only store connection for one request."""
        ...

    def secret_digest(self) -> SecretDigest: ...

    def git_dir(self) -> Path: ...


Answer = tuple[int, dict[str, Any]]


def _error(status: int, message: str) -> Answer:
    return status, {"error": message}


NOT_LOADED = "no valid commit loaded yet: the daemon is reading the branch"


# --- profiles --------------------------------------------------------------------------------


PROFILES_PER_PAGE = 100


def overview(source: Source, params: Mapping[str, str | list[str]] | None = None) -> Answer:
    """``GET /api/v1/profiles?page=N``: the daemon's state, the fleet's counts, one page of profiles."""
    params = params or {}
    try:
        page, per_page = page_numbers(_single(params.get("page")), _single(params.get("per_page")))
    except ValueError as exc:
        return _error(400, str(exc))
    if _single(params.get("per_page")) is None:
        per_page = PROFILES_PER_PAGE
    report = source.report()
    rows = list(report.get("profiles") or [])
    totals: Mapping[str, int] = report.get("totals") or {}
    status = source.status
    no_profile = next((g for g in status.counts if g.profile is None), None)
    return 200, {
        "generation": source.generation,
        "branch": report.get("branch"),
        "commit": report.get("commit"),
        "valid": report.get("valid"),
        "errors": list(report.get("errors") or [])[:5],
        "good_commit": report.get("good_commit"),
        "applied_commit": report.get("applied_commit"),
        "held": report.get("held"),
        "ready": status.ready,
        "reasons": status.reasons,
        "rollout_running": status.rollout_running,
        "replicas": replicas_json(status),
        "totals": {key: totals.get(key, 0) for key in STATUS_KEYS},
        "gateways": sum(totals.values()),
        "profiles": rows[(page - 1) * per_page : page * per_page],
        "page": page,
        "per_page": per_page,
        "pages": max(1, -(-len(rows) // per_page)),
        "total_profiles": len(rows),
        "no_profile": (
            {"members": no_profile.members, "statuses": dict(no_profile.statuses)}
            if no_profile is not None
            else None
        ),
    }


def live(source: Source) -> Answer:
    """``GET /api/v1/live``: the generation and a few facts, polled by the console every 2 s."""
    status = source.status
    totals = dict.fromkeys(STATUS_KEYS, 0)
    totals.update(status.totals)
    return 200, {
        "generation": source.generation,
        "ready": status.ready,
        "rollout_running": status.rollout_running,
        "commit": status.head.info.sha if status.head else None,
        "leader": status.replicas.leader or None if status.replicas else None,
        "totals": totals,
    }


def replicas_json(status: DaemonStatus) -> dict[str, Any] | None:
    """Who leads and who works (a shared store), or ``None`` (one process on SQLite)."""
    replicas = status.replicas
    if replicas is None:
        return None
    return {
        "replica": replicas.replica,
        "leader": replicas.leader or None,
        "leading": replicas.leading,
        "epoch": replicas.epoch,
        "live": replicas.live,
        "claims": dict(replicas.claims),
        "unowned": replicas.unowned,
    }


def _profile_row(source: Source, name: str) -> dict[str, Any] | None:
    for row in source.report().get("profiles") or []:
        if row.get("name") == name:
            return dict(row)
    return None


def configuration(source: Source, name: str, gateway_type: str | None) -> Answer:
    """``GET /api/v1/profiles/NAME/configuration?type=T``: one tab of a profile's configuration."""
    status = source.status
    if status.good is None:
        return _error(503, NOT_LOADED)
    repo = status.good.repo
    if name not in repo.profiles:
        return _error(404, f"no profile '{name}' in commit {status.good.info.sha[:12]}")
    index = source.member_index()
    rows = index.select(None, profile=name) if index is not None else []
    applied = status.applied.repo if status.applied else None
    profile = repo.profiles[name]
    # The first tab when none is asked for: the first type (in catalog order) the profile sets.
    chosen = gateway_type or next(
        (t for t in repo.catalog.types if t in profile.parameters), next(iter(repo.catalog.types))
    )
    firmwares = Counter(m.firmware or "" for m in rows if m.type == chosen)
    try:
        document = profile_configuration(repo, applied, name, chosen, firmwares=dict(firmwares))
    except ExplainError as exc:
        return _error(404, str(exc))
    return 200, {
        **document,
        "summary": _profile_row(source, name),
        "commit": status.good.info.as_dict(),
        "applied_commit": status.applied.info.as_dict() if status.applied else None,
        "generation": source.generation,
    }


# --- members ---------------------------------------------------------------------------------


FILTERS = ("type", "firmware", "status", "provider")
"""The member filters with a widget each (their values OR; the fields AND)."""


def members(
    source: Source,
    params: Mapping[str, str | list[str]],
    profile: str | None,
    *,
    page: bool = False,
) -> Answer:
    """``GET /api/v1/members``: one page of members, plus the values each filter offers.

    With ``page`` (``/profiles/NAME/members``) an unknown profile is 404, a missing
    page; as a parameter of the JSON it is 400, a bad request.
    """
    asked = dict(params)
    if profile is not None:
        good = source.status.good
        if page and good is not None and profile not in good.repo.profiles:
            return _error(404, f"no profile '{profile}' in commit {good.info.sha[:12]}")
        asked["profile"] = profile
    code, document = source.members_answer(asked)
    index = source.member_index()
    scope: Any = ALL if profile is None else profile
    facets = index.facets(scope) if index is not None else {}
    document = {**document, "generation": source.generation}
    document["filters"] = {
        field: {
            "values": sorted((facets.get(field) or {}).items()),
            "chosen": _chosen(params.get(field)),
        }
        for field in FILTERS
    }
    document["text"] = _single(params.get("q")) or ""
    if code == 200:
        per_page = int(document.get("per_page") or 1)
        document["pages"] = max(1, -(-int(document.get("matched") or 0) // per_page))
    if profile is not None:
        document["summary"] = _profile_row(source, profile)
    return code, document


def _chosen(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    return [v for v in ([value] if isinstance(value, str) else value) if v]


def _single(value: str | list[str] | None) -> str | None:
    if isinstance(value, list):
        return value[-1] if value else None
    return value


# --- a gateway -------------------------------------------------------------------------------


def gateway(source: Source, gateway_id: str) -> Answer:
    """``GET /api/v1/gateways/ID``: the member row, effective configuration, read-back, history."""
    status = source.status
    if status.good is None:
        return _error(503, NOT_LOADED)
    repo = status.good.repo
    index = source.member_index()
    member = index.get(gateway_id) if index is not None else None
    with source.reading() as store:
        state = store.get(gateway_id)
        history = store.transitions(gateway_id, limit=HISTORY) if state or member else []
    if member is None and state is None and gateway_id not in repo.gateways:
        return _error(
            404, f"no gateway '{gateway_id}' in commit {status.good.info.sha[:12]} or the store"
        )
    firmware = member.firmware if member is not None else (state.firmware if state else None)
    try:
        document = gateway_configuration(repo, gateway_id, firmware, state, source.secret_digest())
    except ExplainError as exc:
        return _error(404, str(exc))
    return 200, {
        **document,
        "member": member_json(member) if member is not None else None,
        "status": state.status.value if state else None,
        "reason": state.reason if state else "",
        "attempts": state.attempts if state else 0,
        "updated_at": utc_text(state.updated_at) if state and state.updated_at else None,
        "history": [
            {
                "status": t.status.value,
                "at": utc_text(t.at),
                "reason": t.reason,
                "rollout_id": t.rollout_id,
            }
            for t in sorted(history, key=lambda t: t.at, reverse=True)
        ],
        "generation": source.generation,
    }


# --- commits ---------------------------------------------------------------------------------


def commits(source: Source, params: Mapping[str, str | list[str]]) -> Answer:
    """``GET /api/v1/commits?page=N``: the branch's history, one page, with what each rolled out."""
    status = source.status
    if status.head is None:
        return _error(503, "no commit read yet: the daemon is reading the branch")
    try:
        page, per_page = page_numbers(_single(params.get("page")), _single(params.get("per_page")))
    except ValueError as exc:
        return _error(400, str(exc))
    with source.reading() as store:
        records = commit_log.read_records(store)
        rollouts = store.rollouts()
    try:
        document = commit_log.commits_view(
            source.git_dir(),
            status.head.info.sha,
            records,
            rollouts,
            page=page,
            per_page=min(per_page, 100) if _single(params.get("per_page")) else COMMITS_PER_PAGE,
            applied_sha=status.applied.info.sha if status.applied else None,
            good_sha=status.good.info.sha if status.good else None,
        )
    except CommitLogError as exc:
        return _error(503, str(exc))
    return 200, {**document, "generation": source.generation}


@contextlib.contextmanager
def closing(store: StateStore) -> Iterator[StateStore]:
    """A store closed on leaving (:meth:`Source.reading` implementations)."""
    try:
        yield store
    finally:
        store.close()
