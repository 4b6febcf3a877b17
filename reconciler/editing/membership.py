"""The membership rules: who may be assigned to a profile, moved from another, or unassigned.

Called by ``reconciler assign`` and ``unassign`` (:mod:`reconciler.cli.assign`,
:mod:`reconciler.cli.unassign`) with the gateways a Magic Search query
selected, and usable by anything else that changes memberships: the rules
raise exceptions of :mod:`reconciler.errors` and never print or exit.  The
result is an :class:`~reconciler.editing.gate.Edit` for
:func:`reconciler.editing.gate.apply`.

- ``assign`` sets ``profile:`` in place in each existing entry's file and
  appends entries ``{id, type, profile}`` for gateways declared nowhere: to
  the file given, or else to the gateways file that holds most of the
  profile's members (the first such file in path order on a tie), or else
  ``gateways.d/PROFILE.yaml`` when the profile has none yet
  (:func:`default_file`).
- ``unassign`` removes ``profile:`` and keeps the entry with its subsettings
  and labels.

Refused as a whole (:class:`~reconciler.errors.MembershipError`, the gateways
listed, nothing written): a query that matches nothing; gateways in another
profile unless reassigning is asked for (a gateway belongs to one profile, so
a move needs its own confirmation); gateways whose rollout is active
(Requested or Sent), whose membership must not change under a running job.
Without the store's statuses every status is unknown and nothing is deferred
here; the daemon defers such changes itself.  An unknown profile or a target
file outside ``gateways.d`` is an :class:`~reconciler.errors.EditUsageError`.

The gateways are passed as :class:`Candidate` rows (the members of
:mod:`reconciler.members.search` fit), so this layer needs nothing above it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath
from typing import Protocol

from reconciler.editing import edits
from reconciler.editing.gate import Change, Edit, read_text
from reconciler.errors import EditUsageError, MembershipError
from reconciler.loading.repos import GATEWAYS_FOLDER, PROFILES_FOLDER
from reconciler.model.repos import Repo
from reconciler.model.state import ACTIVE, Status

SHOWN = 20
"""Gateways listed in a refusal before "and N more"."""


class Candidate(Protocol):
    """A gateway a query selected: its declaration and its rollout status."""

    @property
    def gateway_id(self) -> str: ...

    @property
    def type(self) -> str: ...

    @property
    def profile(self) -> str | None:
        """The declared profile (``None``: none, or not declared)."""
        ...

    @property
    def status(self) -> Status | None:
        """The rollout status (``None``: unknown or not managed yet)."""
        ...

    @property
    def status_key(self) -> str:
        """The status as shown (its value, or a word for none)."""
        ...

    @property
    def declared(self) -> bool:
        """``False``: gateways.d does not declare it (inventory or store only)."""
        ...


def listed(rows: Sequence[Candidate], describe: Callable[[Candidate], str]) -> str:
    """One indented line per gateway, the first :data:`SHOWN`, then "and N more"."""
    shown = [f"  {describe(m)}" for m in rows[:SHOWN]]
    if len(rows) > SHOWN:
        shown.append(f"  and {len(rows) - SHOWN} more")
    return "\n".join(shown)


def entries_file(repo_path: Path, file: Path) -> str:
    """``file`` (absolute, or relative to the repository) as a path in the repository for new entries.

    It must be a ``.yaml`` or ``.yml`` file inside ``gateways.d/`` and no
    dot-name (the loader ignores those); else :class:`EditUsageError`.
    """
    full = file if file.is_absolute() else repo_path / file
    try:
        relative = PurePosixPath(full.resolve().relative_to(repo_path.resolve()).as_posix())
    except ValueError:
        raise EditUsageError(f"--file {file}: not inside {repo_path}") from None
    if (
        relative.parts[:1] != (GATEWAYS_FOLDER,)
        or relative.suffix not in (".yaml", ".yml")
        or any(part.startswith(".") for part in relative.parts)
    ):
        raise EditUsageError(
            f"--file {file}: expected a .yaml file in {GATEWAYS_FOLDER}/ (not a dot-name)"
        )
    return str(relative)


def default_file(repo: Repo, profile: str) -> str:
    """Where new members of ``profile`` go when no file is given: see the module docstring."""
    counts = Counter(repo.gateway_files[g] for g in repo.members.get(profile, ()))
    if counts:
        most = max(counts.values())
        return min(path for path, n in counts.items() if n == most)
    return f"{GATEWAYS_FOLDER}/{profile}.yaml"


def assign(
    repo_path: Path,
    repo: Repo,
    rows: Sequence[Candidate],
    profile: str,
    *,
    query: str,
    reassign: bool = False,
    file: str | None = None,
) -> Edit:
    """Make ``rows`` members of ``profile``: the edit, checked against the rules, not yet written.

    ``repo`` is the repository at ``repo_path`` as loaded; ``query`` is only
    named in messages; ``file`` is where new entries go (from
    :func:`entries_file`; default :func:`default_file`).
    """
    _require_match(rows, query)
    if profile not in repo.profiles and not any(
        (repo_path / PROFILES_FOLDER / f"{profile}{s}").exists() for s in (".yaml", ".yml")
    ):
        known = ", ".join(sorted(repo.profiles)) or "none yet"
        raise EditUsageError(
            f"no profile '{profile}' (profiles: {known}); create it with: reconciler profile new {profile}"
        )
    moving = [m for m in rows if m.profile != profile]
    elsewhere = [m for m in moving if m.declared and m.profile is not None]
    if elsewhere and not reassign:
        raise MembershipError(
            f"{_gateways(len(elsewhere))} {_are(len(elsewhere))} in another profile; "
            "a gateway belongs to one profile: add --reassign to move them, "
            "or leave them out with -profile:NAME:\n"
            + listed(elsewhere, lambda m: f"{m.gateway_id} (in {m.profile})"),
            gateway_ids=tuple(m.gateway_id for m in elsewhere),
        )
    _refuse_active(moving, "assign")
    existing: dict[str, str | None] = {m.gateway_id: profile for m in moving if m.declared}
    new = [edits.NewEntry(m.gateway_id, m.type, profile) for m in moving if not m.declared]
    target = (file or default_file(repo, profile)) if new else None
    summary = [
        f"{repo.gateway_files[m.gateway_id] if m.declared else target}: {m.gateway_id} -> "
        f"{profile} ({f'was {m.profile}' if m.profile else 'new entry' if not m.declared else 'had no profile'})"
        for m in moving
    ]
    already = len(rows) - len(moving)
    if already:
        summary.append(f"{_gateways(already)} {_are(already)} in {profile} already")
    return Edit(repo, _changes(repo_path, repo, existing, new, target), summary)


def unassign(repo_path: Path, repo: Repo, rows: Sequence[Candidate], *, query: str) -> Edit:
    """Remove ``profile:`` from the entries of ``rows`` (entries, subsettings and labels stay)."""
    _require_match(rows, query)
    leaving = [m for m in rows if m.declared and m.profile is not None]
    _refuse_active(leaving, "unassign")
    changes = _changes(repo_path, repo, {m.gateway_id: None for m in leaving}, (), None)
    summary = [
        f"{repo.gateway_files[m.gateway_id]}: {m.gateway_id} leaves {m.profile}" for m in leaving
    ]
    if len(rows) > len(leaving):
        rest = len(rows) - len(leaving)
        summary.append(f"{_gateways(rest)} {'has' if rest == 1 else 'have'} no profile")
    return Edit(repo, changes, summary)


def _gateways(n: int) -> str:
    return f"{n} matching gateway{'s' * (n != 1)}"


def _are(n: int) -> str:
    return "is" if n == 1 else "are"


def _require_match(rows: Sequence[Candidate], query: str) -> None:
    if not rows:
        raise MembershipError(f"no gateway matches '{query}'")


def _refuse_active(rows: Sequence[Candidate], verb: str) -> None:
    active = [m for m in rows if m.status in ACTIVE]
    if active:
        raise MembershipError(
            f"cannot {verb} gateways whose rollout is active (Requested or Sent); "
            "run again when it has ended, or leave them out with -status:active:\n"
            + listed(active, lambda m: f"{m.gateway_id} ({m.status_key})"),
            gateway_ids=tuple(m.gateway_id for m in active),
        )


def _changes(
    repo_path: Path,
    repo: Repo,
    profiles: dict[str, str | None],
    new: Sequence[edits.NewEntry],
    target: str | None,
) -> list[Change]:
    """The changed files: ``profile:`` set or removed per entry, then the new entries appended."""
    by_file: dict[str, dict[str, str | None]] = {}
    for gateway_id, profile in profiles.items():
        by_file.setdefault(repo.gateway_files[gateway_id], {})[gateway_id] = profile
    texts: dict[str, tuple[str | None, str]] = {}
    for path, changes in sorted(by_file.items()):
        text = read_text(repo_path, path)
        texts[path] = (text, edits.set_profiles(text, changes))
    if new and target is not None:
        original: str | None
        if target in texts:
            original, current = texts[target]
        else:
            exists = (repo_path / target).exists()
            original = read_text(repo_path, target) if exists else None
            current = original or ""
        texts[target] = (original, edits.append_entries(current or None, new))
    return [Change(path, old, text) for path, (old, text) in texts.items()]
