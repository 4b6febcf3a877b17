"""A new profile group: ``profiles.d/NAME.yaml``, a commented skeleton or a copy of another profile.

Called by ``reconciler profile new`` (:mod:`reconciler.cli.profile`); usable by
anything else that creates profiles, since it raises exceptions of
:mod:`reconciler.errors` and never prints or exits.  The result is an
:class:`~reconciler.editing.gate.Edit` for :func:`reconciler.editing.gate.apply`.

A skeleton holds the name, the description and an empty block per gateway
type with examples from the catalog
(:func:`reconciler.editing.edits.profile_skeleton`); a copy keeps the other
file's comments and changes only its name (and description) lines
(:func:`~reconciler.editing.edits.rename_profile`).  Refused
(:class:`~reconciler.errors.EditError`): a name that is not
``[a-z0-9][a-z0-9-]{0,62}``, a profile that exists, an unknown profile to copy.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

from reconciler.editing import edits
from reconciler.editing.gate import Change, Edit, read_text
from reconciler.errors import EditError
from reconciler.loading.repos import PROFILES_FOLDER, load_repo
from reconciler.loading.sources import DirectorySource
from reconciler.model.files import PROFILE_NAME_PATTERN


def existing_file(repo_path: Path, name: str) -> str | None:
    """The file of profile ``name`` (``.yaml`` or ``.yml``), relative to the repository; ``None``: none."""
    for suffix in (".yaml", ".yml"):
        path = f"{PROFILES_FOLDER}/{name}{suffix}"
        if (repo_path / path).exists():
            return path
    return None


def new_profile(
    repo_path: Path, name: str, *, description: str | None = None, source: str | None = None
) -> Edit:
    """Profile ``name`` as a new file: a skeleton, or a copy of profile ``source``; not yet written."""
    if re.fullmatch(PROFILE_NAME_PATTERN, name) is None:
        raise EditError(
            f"'{name}' is not a valid profile name: lower-case letters, digits and '-', "
            "starting with a letter or digit, at most 63 characters"
        )
    taken = existing_file(repo_path, name)
    if taken is not None:
        raise EditError(f"profile '{name}' exists already ({taken})")
    before = load_repo(DirectorySource(repo_path))
    path = f"{PROFILES_FOLDER}/{name}.yaml"
    if source is None:
        text = edits.profile_skeleton(name, description, before.catalog)
    else:
        other = existing_file(repo_path, source)
        if other is None:
            known = sorted(p.stem for p in (repo_path / PROFILES_FOLDER).glob("*.y*ml"))
            close = difflib.get_close_matches(source, known, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; profiles: {', '.join(known)}"
            raise EditError(f"no profile '{source}' to copy{hint}")
        original = read_text(repo_path, other)
        try:
            text = edits.rename_profile(original, name, description)
        except EditError as exc:
            raise EditError(f"{other}: {exc}") from None
    origin = f" (a copy of {source})" if source else ""
    return Edit(
        before,
        [Change(path, None, text)],
        [
            f"{path}: new profile {name}{origin}",
            f"add members: reconciler assign {name} --query QUERY",
        ],
    )
