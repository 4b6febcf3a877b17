"""Pieces the commands share: options, opening the store, secrets, counted nouns (:func:`plural`).

Every flag also reads ``RECONCILER_<FLAG>`` (``--headend`` reads
``RECONCILER_HEADEND_URL``), so that a container or a unit file can configure
a command through its environment alone.  :func:`fail` and :func:`load_valid`
are the one way the commands end on an error and refuse an invalid repository;
:func:`open_store` opens the state store through
:func:`reconciler.store.open_store`.  A state store is a SQLite file or a
``postgresql://`` URL (:class:`StateLocation`, the type of every ``--state``);
:func:`describe` is how a message names it (never with a URL's password).  How ``apply`` and ``retry`` show a rollout
is :mod:`reconciler.cli.outcomes`.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from reconciler.engine import digests
from reconciler.errors import StoreError
from reconciler.loading.gitsource import GitSource, GitSourceError
from reconciler.loading.repos import load_repo
from reconciler.loading.secrets import SecretResolver
from reconciler.loading.sources import DirectorySource, Source
from reconciler.model.repos import Repo
from reconciler.plan.guards import DEFAULT_MAX_RESET_SHARE
from reconciler.plan.values import SecretDigest
from reconciler.store import open_store as open_state_store
from reconciler.store.base import StateStore
from reconciler.store.opening import describe as describe_store

F = TypeVar("F", bound=Callable[..., Any])


def plural(count: int, word: str, many: str | None = None) -> str:
    """``"1 error"``, ``"2 errors"``: a count and its noun, the one way messages say how many.

    ``many`` is the plural where adding an ``s`` is wrong (``plural(n, "entry", "entries")``).
    """
    return f"{count} {word if count == 1 else many or word + 's'}"


def env_option(name: str, **kwargs: Any) -> Callable[[F], F]:
    """``click.option(name)`` reading ``RECONCILER_<NAME>`` (``--listen-ocpp``: ``RECONCILER_LISTEN_OCPP``),
    its default shown in ``--help``: the one rule of the long-running servers' options."""
    envvar = "RECONCILER_" + name.lstrip("-").replace("-", "_").upper()
    option: Callable[[F], F] = click.option(name, envvar=envvar, show_default=True, **kwargs)
    return option


def listen_address(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8080``; an empty host is 127.0.0.1) as a pair; a usage error otherwise."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise click.BadParameter(f"expected HOST:PORT, got '{value}'")
    return host.strip("[]") or "127.0.0.1", int(port)


def server_gc() -> None:
    """Tune the garbage collector for a process holding thousands of connections (head-end, simulator).

    With the default thresholds, CPython's full collections traverse every
    object of every connection several times a second under load (0.25 s
    each with 4,000 chargers: more than a third of the head-end's CPU during a
    rollout).  Objects alive at start are frozen (never traversed again), and
    the thresholds are raised so that young collections run every 100,000
    allocations and full ones after a hundred times fewer older ones: memory
    in reference cycles is still reclaimed, later.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 20, 100)


def fail(message: str) -> NoReturn:
    """Print a one-line error for the user and exit 1."""
    click.echo(f"reconciler: {message}", err=True)
    sys.exit(1)


def headend_option(f: F) -> F:
    return click.option(
        "--headend",
        "headend",
        envvar="RECONCILER_HEADEND_URL",
        metavar="URL",
        required=True,
        help="Head-end base URL (env RECONCILER_HEADEND_URL); the token comes from RECONCILER_HEADEND_TOKEN.",
    )(f)


StateLocationValue = Path | str
"""A state store's location: a SQLite file's path, or a URL (``postgresql://...``) as given."""

STATE_HELP = "State store: a SQLite file (created if absent) or a postgresql:// URL"
"""How the ``--state`` of the commands that write the store introduce it in ``--help``."""
READ_STATE_HELP = "State store (a SQLite file or a postgresql:// URL; read only)"
"""How the ``--state`` of the commands that only read the store introduce it (a command adds what for)."""


def _from_environment(param: click.Parameter | None, ctx: click.Context | None) -> str:
    """`` (from RECONCILER_X)`` when ``param``'s value came from its environment variable."""
    if param is None or ctx is None or param.name is None or not isinstance(param, click.Option):
        return ""
    if ctx.get_parameter_source(param.name) is not click.core.ParameterSource.ENVIRONMENT:
        return ""
    return f" (from {param.envvar})"


class StateLocation(click.ParamType[StateLocationValue]):
    """``--state``: a URL (``scheme://...``, kept as given) or a SQLite file's :class:`~pathlib.Path`.

    ``click.Path`` would normalise ``postgresql://host/db`` into ``postgresql:/host/db``;
    a directory is refused as a file store.  Completes file names in the shells.  With
    ``urls=False`` (a store only a file can hold: the OCPP head-end's) a URL is refused
    with ``refusal``, the reason."""

    name = "state"

    def __init__(self, *, urls: bool = True, refusal: str = "") -> None:
        self.urls = urls
        self.refusal = refusal
        self.expected = "a SQLite file or a postgresql:// URL" if urls else "a SQLite file"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "FILE_OR_URL" if self.urls else "FILE"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> StateLocationValue:
        if isinstance(value, Path):
            return value
        text = os.fspath(value) if isinstance(value, os.PathLike) else str(value)
        if "://" in text:
            if not self.urls:  # never echoed: a URL may hold a password
                where = _from_environment(param, ctx)
                self.fail(f"a URL{where}; give {self.expected} ({self.refusal})", param, ctx)
            return text
        if not text:
            self.fail(f"an empty location: give {self.expected}", param, ctx)
        path = Path(text)
        if path.is_dir():
            self.fail(f"{text}: a directory; give {self.expected}", param, ctx)
        return path

    def shell_complete(
        self, ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[click.shell_completion.CompletionItem]:
        from click.shell_completion import CompletionItem

        return [CompletionItem(incomplete, type="file")]


def is_url(location: StateLocationValue) -> bool:
    """``location`` is a URL (a database), not a file's path."""
    return isinstance(location, str) and "://" in location


def describe(location: StateLocationValue) -> str:
    """``location`` as messages show it: a path as given, a URL without its password."""
    return describe_store(location)


def state_option(f: F) -> F:
    return click.option(
        "--state",
        "state_path",
        envvar="RECONCILER_STATE",
        required=True,
        type=StateLocation(),
        help=f"{STATE_HELP}.",
    )(f)


def reset_options(f: F) -> F:
    """``--max-reset-share`` and ``--allow-reset COMMIT``: the prune guard's settings (run, apply)."""
    f = click.option(
        "--allow-reset",
        envvar="RECONCILER_ALLOW_RESET",
        metavar="COMMIT",
        default=None,
        help="Let exactly this commit (full sha or a prefix of 7+) through the reset limit.",
    )(f)
    return click.option(
        "--max-reset-share",
        envvar="RECONCILER_MAX_RESET_SHARE",
        type=click.FloatRange(min=0.0, max=1.0),
        default=DEFAULT_MAX_RESET_SHARE,
        show_default=True,
        help="Largest share of the managed gateways one commit may reset to firmware defaults "
        "(removed profile: lines, deleted entries); a commit resetting more, or all, is held "
        "like an invalid one.",
    )(f)


def repo_source(repo: Path) -> tuple[Source, str | None]:
    """The repository's current commit (files from git objects), or its working tree when it is no git repo."""
    if not repo.is_dir():
        raise click.UsageError(f"{repo}: not a directory")
    try:
        source = GitSource(repo, "HEAD")
    except GitSourceError:
        return DirectorySource(repo), None
    return source, source.sha


def load_valid(source: Source, label: str, *, consequence: str = "nothing rolled out") -> Repo:
    """Load a repo; print its diagnostics and exit 1 when it is invalid.

    ``consequence`` ends the message: what the command did not do (``plan``
    says "nothing planned")."""
    loaded = load_repo(source)
    if not loaded.valid:
        for diagnostic in loaded.diagnostics:
            click.echo(str(diagnostic), err=True)
        fail(f"{label} is invalid ({plural(len(loaded.diagnostics), 'error')}); {consequence}")
    return loaded


def open_store(path: StateLocationValue, *, read_only: bool = False) -> StateStore:
    """The state store at ``path`` (:func:`reconciler.store.open_store`); exit 1 when it is unusable."""
    try:
        return open_state_store(path, read_only=read_only)
    except StoreError as exc:
        fail(str(exc))


def secret_digest(store: StateStore, resolve: SecretResolver) -> SecretDigest:
    """Keyed hashes of secret values under the store's key (unresolvable: ``None``)."""
    return digests.secret_digest(store, resolve)


def text_or_json(help_text: str | None = None) -> Callable[[F], F]:
    """The ``--format text|json`` option (``RECONCILER_FORMAT``) of the commands that print a result."""
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
        envvar="RECONCILER_FORMAT",
        help=help_text,
    )
