"""The validation gate and the atomic write every edit of a config repository goes through.

Called by the repository-level edits (:mod:`reconciler.editing.membership`,
:mod:`~reconciler.editing.quickconfig`, :mod:`~reconciler.editing.profiles`),
which build an :class:`Edit`, and by the editing commands
(:mod:`reconciler.cli.assign`, ``unassign``, ``set``, ``profile new``), which
hand it to :func:`apply` and print the result.  Nothing here prints or exits:
a refusal raises an :class:`~reconciler.errors.EditError`.

- :func:`check` validates the whole repository as it would be after the edit
  (the changed files laid over the working tree with
  :class:`~reconciler.loading.sources.MemorySource`) and raises
  :class:`~reconciler.errors.InvalidEditError` when it would be invalid; a
  repository that is invalid already therefore takes no edits until fixed.
- :func:`write_atomic` writes each file through a temporary file in the same
  directory and ``os.replace``, keeping the file's mode, so a reader (the
  daemon, an editor, git) never sees half a file.  An edit touching several
  files replaces them one after the other.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.errors import EditError, InvalidEditError
from reconciler.loading.repos import load_repo
from reconciler.loading.sources import DirectorySource, MemorySource
from reconciler.model.repos import Repo

ALREADY = "  (already before this edit)"
"""Appended to a problem of the result that the repository had before the edit."""


@dataclass(frozen=True)
class Change:
    """One file's edit; ``path`` is relative to the repository, ``old`` is ``None`` for a new file."""

    path: str
    old: str | None
    new: str


@dataclass(frozen=True)
class Edit:
    """An edit of a repository, not yet written: the files it changes and a line per change made.

    ``before`` is the repository as loaded before the edit; the gate tells its
    problems apart from those the edit would bring.
    """

    before: Repo
    changes: Sequence[Change]
    summary: Sequence[str] = field(default_factory=tuple)

    @property
    def effective(self) -> list[Change]:
        """The changes that alter a file (an edit may find everything as asked already)."""
        return [c for c in self.changes if c.new != c.old]


def read_text(repo: Path, path: str) -> str:
    """A config file's text (UTF-8); an unreadable file refuses the edit (:class:`EditError`)."""
    try:
        return (repo / path).read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EditError(f"{path}: cannot read: {exc}") from None


def after(repo: Path, changes: Sequence[Change]) -> Repo:
    """The repository as it would be with ``changes`` applied (nothing is written)."""
    overlay: dict[str, bytes | None] = {c.path: c.new.encode("utf-8") for c in changes}
    return load_repo(MemorySource(overlay, base=DirectorySource(repo)))


def check(repo: Path, changes: Sequence[Change], *, before: Repo) -> None:
    """Raise :class:`InvalidEditError` when the repository would be invalid with ``changes``."""
    result = after(repo, changes)
    if result.valid:
        return
    known = {(d.file, d.code, d.message) for d in before.diagnostics}
    problems = tuple(
        f"{d}{ALREADY if (d.file, d.code, d.message) in known else ''}" for d in result.diagnostics
    )
    raise InvalidEditError(
        "the repository would be invalid after this edit; nothing was written", problems=problems
    )


def apply(repo: Path, edit: Edit, *, dry_run: bool = False) -> list[Change]:
    """Gate ``edit``, then write its files atomically (not with ``dry_run``).

    Returns the changes that alter a file: empty when there is nothing to
    change (nothing is checked or written then).  Raises
    :class:`InvalidEditError` when the result would be invalid; nothing is
    written then.
    """
    changes = edit.effective
    if not changes:
        return []
    check(repo, changes, before=edit.before)
    if not dry_run:
        for change in changes:
            write_atomic(repo / change.path, change.new.encode("utf-8"))
    return changes


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
