"""``reconciler validate [REPO]``: check every file of a config repository (CI, pre-commit).

Exit codes: 0 valid, 1 invalid, 2 usage error.  Formats: ``text``
(``PATH:LINE:COL: error: MESSAGE`` then a summary line), ``json`` (a list of
diagnostics) and ``github`` (workflow-command annotations).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from reconciler.cli.common import plural
from reconciler.loading.repos import load_repo
from reconciler.loading.sources import DirectorySource
from reconciler.model.diagnostics import Diagnostic
from reconciler.model.repos import Repo


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_line(diagnostic: Diagnostic) -> str:
    """A GitHub Actions annotation (``::error file=...,line=...::message``)."""
    return (
        f"::{diagnostic.severity} file={_escape_property(diagnostic.file)},line={diagnostic.line},"
        f"col={diagnostic.column},title={_escape_property('reconciler ' + diagnostic.code)}::"
        f"{_escape_data(diagnostic.message)}"
    )


def summary(repo: Repo) -> str:
    errors = [d for d in repo.diagnostics if d.severity == "error"]
    if errors:
        files = len({d.file for d in errors})
        return (
            f"{plural(len(errors), 'error')} in {plural(files, 'file')} "
            f"({plural(repo.files_checked, 'file')} checked)"
        )
    return (
        f"valid: {plural(len(repo.profiles), 'profile')}, {plural(len(repo.gateways), 'gateway')} "
        f"({plural(repo.files_checked, 'file')} checked)"
    )


@click.command("validate", short_help="Check every file of a config repository.")
@click.argument(
    "repo", required=False, default=".", type=click.Path(file_okay=False, path_type=Path)
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    show_default=True,
    envvar="RECONCILER_FORMAT",
    help="text for people, json for tools, github for Actions annotations.",
)
def command(repo: Path, output_format: str) -> None:
    """Check every file of the config repository REPO (default: the current directory)."""
    if not repo.is_dir():
        raise click.UsageError(f"{repo}: not a directory")
    loaded = load_repo(DirectorySource(repo))
    if output_format == "json":
        click.echo(
            json.dumps([d.as_dict() for d in loaded.diagnostics], indent=2, ensure_ascii=False)
        )
    else:
        render = github_line if output_format == "github" else str
        for diagnostic in loaded.diagnostics:
            click.echo(render(diagnostic))
        click.echo(summary(loaded), err=output_format == "github")
    sys.exit(0 if loaded.valid else 1)
