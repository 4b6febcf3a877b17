"""What the editing commands share: ``--repo``, ``--dry-run``, and printing an edit's outcome.

Used by ``reconciler profile new``, ``assign``, ``unassign`` and ``set``
(:mod:`reconciler.cli.profile`, :mod:`~reconciler.cli.assign`,
:mod:`~reconciler.cli.unassign`, :mod:`~reconciler.cli.set`).  The rules, the
validation gate and the atomic writes live in :mod:`reconciler.editing`
(:mod:`~reconciler.editing.gate`); here their exceptions become messages and
exit codes: 0 changed or nothing to change, 1 refused or invalid (nothing
written), 2 usage.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from reconciler.editing import gate, roundtrip
from reconciler.errors import EditError, EditUsageError, InvalidEditError

F = TypeVar("F", bound=Callable[..., Any])


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


@contextmanager
def reported() -> Iterator[None]:
    """Turn the editing layer's exceptions into the commands' messages and exit codes."""
    try:
        yield
    except EditUsageError as exc:
        raise click.UsageError(str(exc)) from None
    except InvalidEditError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        refuse(str(exc))
    except EditError as exc:
        refuse(str(exc))


def finish(repo: Path, edit: gate.Edit, *, dry_run: bool) -> NoReturn:
    """Gate and write ``edit`` (:func:`reconciler.editing.gate.apply`), print what it did, exit 0."""
    with reported():
        changes = gate.apply(repo, edit, dry_run=dry_run)
    if not changes:
        click.echo("nothing to change")
        sys.exit(0)
    if dry_run:
        for change in changes:
            click.echo(roundtrip.unified_diff(change.path, change.old or "", change.new), nl=False)
    for line in edit.summary:
        click.echo(line)
    if dry_run:
        click.echo("dry run: nothing was written")
    sys.exit(0)
