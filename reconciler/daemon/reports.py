"""The daemon's report summary: ``report.json`` (for machines), ``REPORT.md`` (for people) and ``report.html``.

Called by :mod:`reconciler.daemon.running` after every change of state (at most
about once a second): :func:`build` turns a :class:`Snapshot` of the loop's
state and the member pages' :class:`~reconciler.daemon.reportbook.Tally`
into the summary, a plain JSON-able dict, and :func:`write_texts` writes the
three files atomically (a temporary file in the same directory, then
``os.replace``), so a reader never sees half a report.  The members
themselves are in pages (:mod:`reconciler.daemon.memberpages`, kept by
:mod:`reconciler.daemon.reportbook`), so a report write costs what changed,
not the fleet's size.  ``GET /api/v1/status`` serves the summary, and ``GET
/api/v1/members`` searches the members with Magic Search
(:func:`members_answer`).

report.json (schema ``reconciler/daemon/report.schema.json``, version 2)::

    {
      "schema_version": 2,
      "generated_at": "2026-11-24T03:00:00+00:00",   # ISO 8601, UTC
      "version": "0.1.0",                            # the reconciler's
      "branch": "main",
      "commit": COMMIT | null,        # the newest commit on the branch
      "valid": true,                  # whether that commit is valid
      "errors": [{"file", "line", "column", "message"}],   # its problems; empty when valid
      "good_commit": COMMIT | null,   # the newest valid commit (what is being rolled out)
      "applied_commit": COMMIT | null,# the last commit whose rollout was carried out to the end
      "held": {"commit": COMMIT, "reason": "would reset all 80 managed gateways ...",
               "resets": 80, "managed": 80} | null,
                                      # a valid commit the reset limit holds (nothing of it
                                      # rolled out; good_commit stays the applied one)
      "rollout_running": false,
      "ready": true, "not_ready_reasons": ["head-end: ..."],
      "totals": {"Initial": 0, ..., "Mismatch": 0, "none": 0},
      "profiles": [{
        "name", "description",        # description may be null
        "file",                       # profiles.d/NAME.yaml
        "last_change": {"sha", "date", "author"} | null,   # last commit that changed the file
        "members": 12,
        "statuses": {"Initial": 0, ..., "none": 0},         # every status, zeros included
        "retry_possible": false,      # Retry Upload has members to push to: Declined,
                                      # Mismatch, or left Initial by an aborted rollout
        "aborted": "declined 5 of 20 ..." | null            # why its last rollout stopped early
      }],
      "member_pages": [{              # every page of members, by profile ("no profile" last)
        "profile": NAME | null, "page": 1, "members": 500,
        "json": "members/profile-NAME/0001.json",  # paths relative to the report directory
        "md": "members/profile-NAME/0001.md",
        "html": "members/profile-NAME/0001.html"
      }]
    }

A page's ``gateways`` are rows as in ``reconciler status --format json``
(:func:`reconciler.members.rows.member_json`)::

    {"id", "type", "firmware",        # firmware from the head-end's inventory (null: unknown)
     "profile",                       # null: no profile
     "station_ids": [...], "port_ids": [...], "provider", "address", "owner",
     "subsettings": {"Key": value},   # secrets shown as "(secret)"
     "labels": {"k": "v"},
     "status": "Accepted" | ... | null,   # null: not managed yet
     "reason": "", "skipped": ["LightIntensity not in LSX 1.1.0"], "reboot_pending": [],
     "updated_at": "2024-05-01T12:00:00Z" | null,   # last change of its state, UTC
     "declared": true}                # false: deleted from gateways.d, being reset

COMMIT is ``{"sha", "author", "date", "message"}`` (author as ``Name <email>``,
date ISO 8601 with the author's offset, message the subject line).  Secrets
never appear: subsettings are masked by :mod:`reconciler.members.rows`, and no
desired or accepted configuration is part of the report.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler import __version__
from reconciler.daemon import membersapi, pages
from reconciler.daemon.memberpages import md_escape
from reconciler.daemon.status import DaemonStatus
from reconciler.members.counts import STATUS_KEYS, count_statuses
from reconciler.members.index import MemberIndex
from reconciler.members.rows import Member
from reconciler.model.repos import Repo
from reconciler.store.base import Rollout

if TYPE_CHECKING:  # reportbook writes through this module's atomic_write
    from reconciler.daemon.reportbook import Tally

SCHEMA_VERSION = 2
SCHEMA_PATH = Path(__file__).with_name("report.schema.json")
FILES = ("report.json", "REPORT.md", "report.html")


@dataclass
class Snapshot:
    """The daemon's status record at one moment, and what the member pages counted."""

    branch: str
    status: DaemonStatus
    """Commits, rollout running, readiness (:mod:`reconciler.daemon.status`)."""
    tally: Tally | None
    """The members' counts and pages (``None``: not counted yet)."""
    rollouts: list[Rollout]
    profile_changes: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    generated_at: float = 0.0


def build(snapshot: Snapshot) -> dict[str, Any]:
    """The report summary as a JSON-able dict (see the module docstring)."""
    status = snapshot.status
    repo = status.good.repo if status.good else None
    head_repo = status.head.repo if status.head else None
    errors = (
        [
            {"file": d.file, "line": d.line, "column": d.column, "message": d.message}
            for d in head_repo.diagnostics
            if d.severity == "error"
        ]
        if head_repo is not None
        else []
    )
    tally = snapshot.tally
    return {
        "schema_version": SCHEMA_VERSION,
        "generated_at": _iso(snapshot.generated_at),
        "version": __version__,
        "branch": snapshot.branch,
        "commit": status.head.info.as_dict() if status.head else None,
        "valid": head_repo.valid if head_repo is not None else False,
        "errors": errors,
        "good_commit": status.good.info.as_dict() if status.good else None,
        "applied_commit": status.applied.info.as_dict() if status.applied else None,
        "held": status.held.as_dict() if status.held else None,
        "rollout_running": status.rollout_running,
        "ready": status.ready,
        "not_ready_reasons": status.reasons,
        "totals": dict(tally.totals) if tally else count_statuses([]),
        "profiles": _profiles(repo, snapshot, tally) if repo and tally else [],
        "member_pages": list(tally.pages) if tally else [],
    }


def _profiles(repo: Repo, snapshot: Snapshot, tally: Tally) -> list[dict[str, Any]]:
    aborted: dict[str | None, str | None] = {}
    for rollout in sorted(snapshot.rollouts, key=lambda r: r.rollout_id):
        aborted[rollout.profile] = (
            (rollout.reason or "aborted") if rollout.state == "aborted" else None
        )
    result = []
    for group in tally.counts:
        if group.profile is None or group.profile not in repo.profiles:
            continue
        profile = repo.profiles[group.profile]
        change = snapshot.profile_changes.get(group.profile)
        result.append(
            {
                "name": group.profile,
                "description": profile.description,
                "file": repo.profile_files.get(group.profile, f"profiles.d/{group.profile}.yaml"),
                "last_change": dict(change) if change else None,
                "members": group.members,
                "statuses": dict(group.statuses),
                "retry_possible": tally.retryable.get(group.profile, 0) > 0,
                "aborted": aborted.get(group.profile),
            }
        )
    return result


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")


# --- GET /api/v1/members -----------------------------------------------------------------------


def members_answer(
    rows: Sequence[Member],
    profiles: Sequence[str],
    params: Mapping[str, str | list[str]],
    *,
    types: Collection[str] | None = None,
) -> tuple[int, dict[str, Any]]:
    """``GET /api/v1/members?q=QUERY&profile=P&page=N&per_page=M``: (HTTP status, JSON body).

    Magic Search over the members ``rows`` (of the profiles ``profiles``), by
    the same engine as ``reconciler search``: 200 with
    :func:`reconciler.members.listing.page_json` (``query``, ``total``,
    ``matched``, ``statuses``, ``profiles``, ``members``, ``notes``, ``page``,
    ``per_page``), or 400 with ``{"error"}`` naming what was expected (for a
    bad query also ``query`` and ``position``, 0-based).  The daemon answers
    from its live member index (:func:`reconciler.daemon.membersapi.members_answer`,
    which this calls over an index of ``rows``; also for the filters
    ``type``, ``firmware``, ``status`` and ``provider``).

    ``type:`` takes ``types`` (the catalog of the commit, ``repo.catalog.types``);
    by default the shipped catalog's types and every type the rows have, so a
    ``catalog.d`` type with declared gateways is found without being passed.
    """
    return membersapi.members_answer(MemberIndex.build(rows), profiles, params, types=types)


# --- REPORT.md ---------------------------------------------------------------------------------


def markdown(report: Mapping[str, Any]) -> str:
    """REPORT.md: the same content as report.json, for people reading the repository or a CI artefact."""
    out = ["# Reconciler report", ""]
    commit = report["commit"]
    out.append(f"Generated {report['generated_at']} by reconciler {report['version']}.")
    out.append("")
    if commit:
        state = "valid" if report["valid"] else "**INVALID: not rolled out**"
        out.append(
            f"- Newest commit on `{report['branch']}`: `{commit['sha'][:12]}` {_md(commit['message'])} "
            f"({_md(commit['author'])}, {commit['date']}): {state}"
        )
    else:
        out.append("- No commit loaded yet.")
    for key, label in (("good_commit", "Last valid commit"), ("applied_commit", "Applied commit")):
        c = report[key]
        out.append(f"- {label}: " + (f"`{c['sha'][:12]}` {_md(c['message'])}" if c else "none"))
    out.append(f"- Rollout running: {'yes' if report['rollout_running'] else 'no'}")
    out.append(
        "- Ready: yes"
        if report["ready"]
        else "- Ready: no (" + "; ".join(_md(r) for r in report["not_ready_reasons"]) + ")"
    )
    held = report.get("held")
    if held:
        sha = held["commit"]["sha"]
        out += [
            "",
            "## Commit held: nothing of it rolled out",
            "",
            f"`{sha[:12]}` {_md(held['commit']['message'])}: it {_md(held['reason'])}. "
            f"A later commit that passes, or `--allow-reset {sha}`, lets the fleet move.",
        ]
    if report["errors"]:
        out += ["", "## Errors (commit held back)", ""]
        out += [
            f"- `{_md(e['file'])}:{e['line']}:{e['column']}`: {_md(e['message'])}"
            for e in report["errors"]
        ]
    out += ["", "## Profiles", ""]
    out.append("| profile | members | " + " | ".join(STATUS_KEYS) + " | retry | last change |")
    out.append("|---|---:|" + "---:|" * len(STATUS_KEYS) + "---|---|")
    for p in report["profiles"]:
        change = p["last_change"]
        retry = "possible" if p["retry_possible"] else "-"
        if p["aborted"]:
            retry += f" (aborted: {_md(p['aborted'])})"
        out.append(
            f"| {_md(p['name'])} | {p['members']} | "
            + " | ".join(str(p["statuses"][k]) for k in STATUS_KEYS)
            + f" | {retry} | {('`' + change['sha'][:12] + '` ' + change['date']) if change else '-'} |"
        )
    if report["member_pages"]:
        out += ["", "## Members", ""]
        by_profile: dict[str | None, list[Mapping[str, Any]]] = {}
        for entry in report["member_pages"]:
            by_profile.setdefault(entry["profile"], []).append(entry)
        for name, entries in by_profile.items():
            links = ", ".join(f"[{e['page']}]({e['md']})" for e in entries)
            total = sum(e["members"] for e in entries)
            out.append(f"- {_md(name) if name else '(no profile)'} ({total}): pages {links}")
    return "\n".join(out) + "\n"


_md = md_escape


# --- writing -----------------------------------------------------------------------------------


def render(report: Mapping[str, Any]) -> dict[str, str]:
    """The text of each file of :data:`FILES`."""
    return {
        "report.json": json.dumps(report, ensure_ascii=False, separators=(",", ":")) + "\n",
        "REPORT.md": markdown(report),
        "report.html": pages.html(report),
    }


def write_texts(report_dir: Path, texts: Mapping[str, str]) -> None:
    """Write rendered texts (:func:`render`), each atomically; raises OSError when it cannot."""
    for name, text in texts.items():
        atomic_write(report_dir / name, text)


def atomic_write(path: Path, text: str) -> None:
    """Write ``path`` (mode 0644, directories made) so that a reader sees the old text or the new."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(temporary, 0o644)  # mkstemp makes 0600; reports are for every reader
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# --- the last change of each profile -------------------------------------------------------------


def profile_changes(git_dir: Path, sha: str, names: Iterable[str]) -> dict[str, dict[str, str]]:
    """For each profile, the last commit up to ``sha`` that changed ``profiles.d/NAME.yaml``.

    One ``git log`` over ``profiles.d`` (newest first); blocking, so the caller
    runs it in a thread and caches it per commit.
    """
    wanted = {f"profiles.d/{name}.yaml": name for name in names}
    found: dict[str, dict[str, str]] = {}
    output = subprocess.run(
        [
            "git",
            f"--git-dir={git_dir}",
            "log",
            "--no-renames",
            "--format=%x00%H%x09%aI%x09%an <%ae>%x09%s",
            "--name-only",
            sha,
            "--",
            "profiles.d",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for block in output.split("\0")[1:]:
        header, _, files = block.partition("\n")
        commit, date, author, message = ([*header.split("\t", 3), "", "", ""])[:4]
        for path in files.split():
            name = wanted.get(path)
            if name is not None and name not in found:
                found[name] = {"sha": commit, "date": date, "author": author, "message": message}
        if len(found) == len(wanted):
            break
    return found
