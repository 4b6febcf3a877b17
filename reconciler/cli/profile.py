"""``reconciler profile new NAME``: writes ``profiles.d/NAME.yaml`` (the seed's "create a profile").

A new profile is a commented skeleton (name, description, an empty block per
gateway type with examples from the catalog), or with ``--from OTHER`` a copy
of OTHER's file, comments and all, with the name (and description) changed.
Refused (exit 1): a name that is not ``[a-z0-9][a-z0-9-]{0,62}``, a profile
that exists, an unknown OTHER, a repository that would be invalid afterwards.
The file I/O and the validation gate are in :mod:`reconciler.cli.edits`.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import click

from reconciler.cli import edits
from reconciler.editing import edits as editing
from reconciler.loading.repos import PROFILES_FOLDER, load_repo
from reconciler.loading.sources import DirectorySource
from reconciler.model.files import PROFILE_NAME_PATTERN


@click.group("profile")
def command() -> None:
    """Profile groups: files in profiles.d."""


def _existing(repo: Path, name: str) -> str | None:
    for suffix in (".yaml", ".yml"):
        path = f"{PROFILES_FOLDER}/{name}{suffix}"
        if (repo / path).exists():
            return path
    return None


@command.command("new")
@click.argument("name")
@click.option("--description", help="One line shown in reports (optional).")
@click.option(
    "--from", "source", metavar="OTHER", help="Copy profile OTHER (its values and comments)."
)
@edits.dry_run_option
@edits.repo_option
def new(name: str, description: str | None, source: str | None, dry_run: bool, repo: Path) -> None:
    """Create profile NAME as profiles.d/NAME.yaml.

    \b
      reconciler profile new night-charging --description "Depots, cheap tariff"
      reconciler profile new public-ac-v2 --from public-ac

    Exit 0 written, 1 refused (bad or taken name, unknown OTHER, invalid result).
    """
    edits.check_repo_dir(repo)
    if re.fullmatch(PROFILE_NAME_PATTERN, name) is None:
        edits.refuse(
            f"'{name}' is not a valid profile name: lower-case letters, digits and '-', "
            "starting with a letter or digit, at most 63 characters"
        )
    taken = _existing(repo, name)
    if taken is not None:
        edits.refuse(f"profile '{name}' exists already ({taken})")
    before = load_repo(DirectorySource(repo))
    path = f"{PROFILES_FOLDER}/{name}.yaml"
    if source is None:
        text = editing.profile_skeleton(name, description, before.catalog)
    else:
        other = _existing(repo, source)
        if other is None:
            known = sorted(p.stem for p in (repo / PROFILES_FOLDER).glob("*.y*ml"))
            close = difflib.get_close_matches(source, known, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; profiles: {', '.join(known)}"
            edits.refuse(f"no profile '{source}' to copy{hint}")
        try:
            text = editing.rename_profile(edits.read_text(repo, other), name, description)
        except editing.EditError as exc:
            edits.refuse(f"{other}: {exc}")
    origin = f" (a copy of {source})" if source else ""
    edits.finish(
        repo,
        [edits.Change(path, None, text)],
        [
            f"{path}: new profile {name}{origin}",
            f"add members: reconciler assign {name} --query QUERY",
        ],
        before=before,
        dry_run=dry_run,
    )
