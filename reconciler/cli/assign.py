"""``reconciler assign PROFILE --query Q`` and ``unassign --query Q``: memberships edited in gateways.d.

The seed's "add gateways with filters and Magic Search": the query
(:mod:`reconciler.members.search`) selects among the declared gateways, the
gateways only the store still knows, and the inventory's gateways that are
declared nowhere.  ``assign`` sets ``profile:`` in place in each existing
entry's file and appends entries ``{id, type, profile}`` for undeclared ones:
to ``--file``, or by default to the gateways file that holds most of the
profile's members (the first such file in path order on a tie), or
``gateways.d/PROFILE.yaml`` when the profile has none yet.  ``unassign``
removes ``profile:`` and keeps the entry with its subsettings and labels.

Refused as a whole (exit 1, nothing written, the gateways listed): gateways
in another profile without ``--reassign`` (the seed's separate confirmation),
and with ``--state`` gateways whose rollout is active (Requested or Sent),
whose membership must not change under a running job; a query that matches
nothing.  Edits go through :mod:`reconciler.editing.edits` and the gate of
:mod:`reconciler.cli.edits`.  ``unassign`` (:mod:`reconciler.cli.unassign`)
shares this module.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath

import click

from reconciler.cli import edits, inputs, members
from reconciler.editing import edits as editing
from reconciler.loading.repos import GATEWAYS_FOLDER, PROFILES_FOLDER
from reconciler.members import search
from reconciler.model.repos import Repo
from reconciler.model.state import ACTIVE

SHOWN = 20
"""Gateways listed in a refusal before "and N more"."""


def _listed(rows: Sequence[search.Member], describe: Callable[[search.Member], str]) -> str:
    shown = [f"  {describe(m)}" for m in rows[:SHOWN]]
    if len(rows) > SHOWN:
        shown.append(f"  and {len(rows) - SHOWN} more")
    return "\n".join(shown)


def select(
    query: str,
    repo: Path,
    *,
    state_path: Path | None,
    inventory_path: Path | None,
    headend_url: str | None,
) -> tuple[Repo, list[search.Member]]:
    """The repo and the members that match ``query`` (exit 2 on a bad query or input, 1 on no match)."""
    edits.check_repo_dir(repo)
    if inventory_path is not None and headend_url is not None:
        raise click.UsageError("--inventory and --headend are alternatives: give one")
    try:
        parsed = search.parse(query)
    except search.QueryError as exc:
        click.echo(members.query_error(exc), err=True)
        sys.exit(2)
    try:
        fleet = inputs.gather(
            repo,
            state_path=state_path,
            inventory_path=inventory_path,
            headend_url=headend_url,
            include_inventory=True,
        )
    except inputs.InputError as exc:
        click.echo(f"reconciler: {exc}", err=True)
        sys.exit(2)
    for note in fleet.notes:
        click.echo(f"note: {note}", err=True)
    rows = search.select(parsed, fleet.members)
    if not rows:
        edits.refuse(f"no gateway matches '{query}'")
    return fleet.repo, rows


def refuse_active(rows: Sequence[search.Member], verb: str) -> None:
    active = [m for m in rows if m.status in ACTIVE]
    if active:
        edits.refuse(
            f"cannot {verb} gateways whose rollout is active (Requested or Sent); "
            "run again when it has ended, or leave them out with -status:active:\n"
            + _listed(active, lambda m: f"{m.gateway_id} ({m.status_key})")
        )


def default_file(repo: Repo, profile: str) -> str:
    """Where new members of ``profile`` go without ``--file``: see the module docstring."""
    counts = Counter(repo.gateway_files[g] for g in repo.members.get(profile, ()))
    if counts:
        most = max(counts.values())
        return min(path for path, n in counts.items() if n == most)
    return f"{GATEWAYS_FOLDER}/{profile}.yaml"


def _target(repo_path: Path, file: Path) -> str:
    full = file if file.is_absolute() else repo_path / file
    try:
        relative = PurePosixPath(full.resolve().relative_to(repo_path.resolve()).as_posix())
    except ValueError:
        raise click.UsageError(f"--file {file}: not inside {repo_path}") from None
    if (
        relative.parts[:1] != (GATEWAYS_FOLDER,)
        or relative.suffix not in (".yaml", ".yml")
        or any(part.startswith(".") for part in relative.parts)
    ):
        raise click.UsageError(
            f"--file {file}: expected a .yaml file in {GATEWAYS_FOLDER}/ (not a dot-name)"
        )
    return str(relative)


def _edit(
    repo_path: Path,
    repo: Repo,
    profiles: dict[str, str | None],
    new: Sequence[editing.NewEntry],
    target: str | None,
) -> list[edits.Change]:
    """The changed files: ``profile:`` set or removed per entry, then the new entries appended."""
    by_file: dict[str, dict[str, str | None]] = {}
    for gateway_id, profile in profiles.items():
        by_file.setdefault(repo.gateway_files[gateway_id], {})[gateway_id] = profile
    texts: dict[str, tuple[str | None, str]] = {}
    try:
        for path, changes in sorted(by_file.items()):
            text = edits.read_text(repo_path, path)
            texts[path] = (text, editing.set_profiles(text, changes))
        if new and target is not None:
            original: str | None
            if target in texts:
                original, current = texts[target]
            else:
                exists = (repo_path / target).exists()
                original = edits.read_text(repo_path, target) if exists else None
                current = original or ""
            texts[target] = (original, editing.append_entries(current or None, new))
    except editing.EditError as exc:
        edits.refuse(str(exc))
    return [edits.Change(path, old, text) for path, (old, text) in texts.items()]


@click.command("assign")
@click.argument("profile")
@click.option("--query", "-q", required=True, envvar="RECONCILER_QUERY", help="Magic Search query.")
@click.option("--reassign", is_flag=True, help="Also move gateways that are in another profile.")
@click.option(
    "--file",
    "file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="gateways.d file for new entries (default: where most of PROFILE's members are).",
)
@edits.dry_run_option
@edits.repo_option
@inputs.input_options
def command(
    profile: str,
    query: str,
    reassign: bool,
    file: Path | None,
    dry_run: bool,
    repo: Path,
    state_path: Path | None,
    inventory_path: Path | None,
    headend_url: str | None,
) -> None:
    """Make the gateways that match QUERY members of PROFILE (edits gateways.d).

    \b
      reconciler assign canary --query 'type:ACCU firmware:>=1.4.0' --inventory inv.json
      reconciler assign public-ac --query 'label:site=essen-rue' --reassign --dry-run

    Existing entries get `profile:` set in place; gateways of the inventory
    that are declared nowhere get a new entry (in --file, or the file with
    most of PROFILE's members).  Exit 0 done or nothing to do, 1 refused, 2 usage.
    """
    chosen = _target(repo, file) if file is not None else None
    repo_model, rows = select(
        query,
        repo,
        state_path=state_path,
        inventory_path=inventory_path,
        headend_url=headend_url,
    )
    if profile not in repo_model.profiles and not any(
        (repo / PROFILES_FOLDER / f"{profile}{s}").exists() for s in (".yaml", ".yml")
    ):
        known = ", ".join(sorted(repo_model.profiles)) or "none yet"
        raise click.UsageError(
            f"no profile '{profile}' (profiles: {known}); create it with: reconciler profile new {profile}"
        )
    moving = [m for m in rows if m.profile != profile]
    elsewhere = [m for m in moving if m.declared and m.profile is not None]
    if elsewhere and not reassign:
        edits.refuse(
            f"{len(elsewhere)} matching gateways are in another profile; "
            "a gateway belongs to one profile: add --reassign to move them, "
            "or leave them out with -profile:NAME:\n"
            + _listed(elsewhere, lambda m: f"{m.gateway_id} (in {m.profile})")
        )
    refuse_active(moving, "assign")
    existing = {m.gateway_id: profile for m in moving if m.declared}
    new = [editing.NewEntry(m.gateway_id, m.type, profile) for m in moving if not m.declared]
    target = None
    if new:
        target = chosen or default_file(repo_model, profile)
    changes = _edit(repo, repo_model, dict(existing), new, target)
    summary = [
        f"{repo_model.gateway_files[m.gateway_id] if m.declared else target}: {m.gateway_id} -> "
        f"{profile} ({f'was {m.profile}' if m.profile else 'new entry' if not m.declared else 'had no profile'})"
        for m in moving
    ]
    already = len(rows) - len(moving)
    if already:
        summary.append(f"{already} matching gateways are in {profile} already")
    edits.finish(repo, changes, summary, before=repo_model, dry_run=dry_run)


def unassign(
    query: str,
    dry_run: bool,
    repo: Path,
    *,
    state_path: Path | None,
    inventory_path: Path | None,
    headend_url: str | None,
) -> None:
    """Remove ``profile:`` from the matching entries (``reconciler unassign``)."""
    repo_model, rows = select(
        query,
        repo,
        state_path=state_path,
        inventory_path=inventory_path,
        headend_url=headend_url,
    )
    leaving = [m for m in rows if m.declared and m.profile is not None]
    refuse_active(leaving, "unassign")
    changes = _edit(repo, repo_model, {m.gateway_id: None for m in leaving}, (), None)
    summary = [
        f"{repo_model.gateway_files[m.gateway_id]}: {m.gateway_id} leaves {m.profile}"
        for m in leaving
    ]
    if len(rows) > len(leaving):
        summary.append(f"{len(rows) - len(leaving)} matching gateways have no profile")
    edits.finish(repo, changes, summary, before=repo_model, dry_run=dry_run)
