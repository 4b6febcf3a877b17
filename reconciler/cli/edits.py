"""What the editing commands share: ``--repo``, reading files, the validation gate, atomic writes.

Used by ``reconciler profile new``, ``assign``, ``unassign`` and ``set``
(:mod:`reconciler.cli.profile`, :mod:`~reconciler.cli.assign`,
:mod:`~reconciler.cli.set`).  The text transformations themselves are pure and
live in :mod:`reconciler.editing.edits`; here is the file I/O around them:

- :func:`finish` validates the whole repository as it would be after the
  edit (the changed files laid over the working tree with
  :class:`~reconciler.loading.sources.MemorySource`) and writes nothing when
  it would be invalid; otherwise it prints the diff (``--dry-run``) or writes.
- :func:`write_atomic` writes each file through a temporary file in the same
  directory and ``os.replace``, keeping the file's mode, so a reader (the
  daemon, an editor, git) never sees half a file.  An edit touching several
  files replaces them one after the other.

Exit codes: 0 changed or nothing to change, 1 refused or invalid, 2 usage.
"""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from reconciler.editing import roundtrip
from reconciler.loading.repos import load_repo
from reconciler.loading.sources import DirectorySource, MemorySource
from reconciler.model.repos import Repo

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Change:
    """One file's edit; ``path`` is relative to the repository, ``old`` is ``None`` for a new file."""

    path: str
    old: str | None
    new: str


def repo_option(f: F) -> F:
    return click.option(
        "--repo",
        "repo",
        default=".",
        show_default=True,
        envvar="RECONCILER_REPO",
        type=click.Path(file_okay=False, path_type=Path),
        help="The config repository to edit (its working tree).",
    )(f)


def dry_run_option(f: F) -> F:
    return click.option(
        "--dry-run",
        is_flag=True,
        envvar="RECONCILER_DRY_RUN",
        help="Print the unified diff of the edit; write nothing.",
    )(f)


def refuse(message: str) -> NoReturn:
    """Print why the edit is refused and exit 1; nothing has been written."""
    click.echo(f"reconciler: {message}", err=True)
    sys.exit(1)


def check_repo_dir(repo: Path) -> None:
    if not repo.is_dir():
        raise click.UsageError(f"{repo}: not a directory")


def read_text(repo: Path, path: str) -> str:
    """A config file's text (UTF-8); an unreadable file refuses the edit."""
    try:
        return (repo / path).read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        refuse(f"{path}: cannot read: {exc}")


def after(repo: Path, changes: Sequence[Change]) -> Repo:
    """The repository as it would be with ``changes`` applied (nothing is written)."""
    overlay: dict[str, bytes | None] = {c.path: c.new.encode("utf-8") for c in changes}
    return load_repo(MemorySource(overlay, base=DirectorySource(repo)))


def finish(
    repo: Path, changes: Sequence[Change], summary: Sequence[str], *, before: Repo, dry_run: bool
) -> NoReturn:
    """Gate, then print the diff (dry run) or write; print ``summary``; exit 0."""
    changes = [c for c in changes if c.new != c.old]
    if not changes:
        click.echo("nothing to change")
        sys.exit(0)
    result = after(repo, changes)
    if not result.valid:
        known = {(d.file, d.code, d.message) for d in before.diagnostics}
        for diagnostic in result.diagnostics:
            note = (
                "  (already before this edit)"
                if (
                    diagnostic.file,
                    diagnostic.code,
                    diagnostic.message,
                )
                in known
                else ""
            )
            click.echo(f"{diagnostic}{note}", err=True)
        refuse("the repository would be invalid after this edit; nothing was written")
    if dry_run:
        for change in changes:
            click.echo(roundtrip.unified_diff(change.path, change.old or "", change.new), nl=False)
    else:
        for change in changes:
            write_atomic(repo / change.path, change.new.encode("utf-8"))
    for line in summary:
        click.echo(line)
    if dry_run:
        click.echo("dry run: nothing was written")
    sys.exit(0)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` in one step, keeping its mode (a new file: 0666 minus umask)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    # A dot-name: the loader ignores it should a crash leave it behind.
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
