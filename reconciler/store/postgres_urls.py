"""PostgreSQL store locations: which URLs name one, how to show them, where their key file is, connecting.

Used by :mod:`reconciler.store.opening` (:func:`is_postgres_url`,
:func:`describe_url`) and :class:`reconciler.store.postgres.PostgresStore`
(:func:`connect`, :func:`key_file_path`).  A URL's password never appears in a
message: :func:`describe_url` rebuilds it from its parts without one, and
:func:`connect` turns a failure into a one-line
:class:`~reconciler.errors.StoreError` that names the store that way.
psycopg is imported lazily: a SQLite user never loads it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from reconciler.errors import StoreError
from reconciler.store.keys import KEY_FILE_VARIABLE

SCHEMES = ("postgresql://", "postgres://")

CONNECT_TIMEOUT_S = 10


def is_postgres_url(location: str) -> bool:
    return location.startswith(SCHEMES)


def url_parts(url: str) -> dict[str, str]:
    """The connection parameters of ``url`` (``host``, ``port``, ``dbname``, ``user``, ``password``...)."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        return {k: str(v) for k, v in conninfo_to_dict(url).items() if v is not None}
    except ImportError:  # the description still works without psycopg installed
        split = urlsplit(url)
        parts = {"host": unquote(split.hostname or ""), "dbname": unquote(split.path[1:])}
        if split.port:
            parts["port"] = str(split.port)
        if split.username:
            parts["user"] = unquote(split.username)
        return {k: v for k, v in parts.items() if v}
    except Exception as exc:  # psycopg.ProgrammingError: a malformed URL
        raise StoreError(f"{describe_url(url, parse=False)}: not a PostgreSQL URL: {exc}") from exc


def describe_url(url: str, *, parse: bool = True) -> str:
    """``postgresql://user@host:port/db``: ``url`` without its password (or other parameters)."""
    if not parse:  # malformed: keep the scheme and host part only, never the user info
        split = url.split("://", 1)
        rest = split[1].rsplit("@", 1)[-1] if len(split) > 1 else ""
        return f"{split[0]}://{rest.split('/', 1)[0].split('?', 1)[0]}"
    parts = url_parts(url)
    user = f"{parts['user']}@" if parts.get("user") else ""
    host = parts.get("host", "")
    if "/" in host:
        host = f"[{host}]"  # a Unix socket folder
    port = parts.get("port", "5432")
    return f"postgresql://{user}{host}:{port}/{parts.get('dbname', '')}"


def key_file_path(url: str) -> Path:
    """Where the secret digest key of the database at ``url`` lives: ``$RECONCILER_STATE_KEY_FILE``,
    else ``$XDG_STATE_HOME/reconciler/postgresql-HOST-PORT-DB.key`` (``~/.local/state`` by default)."""
    named = os.environ.get(KEY_FILE_VARIABLE)
    if named:
        return Path(named)
    parts = url_parts(url)
    name = "-".join(
        (
            "postgresql",
            parts.get("host", "localhost") or "localhost",
            parts.get("port", "5432"),
            parts.get("dbname", parts.get("user", "")),
        )
    )
    name = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    state_home = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state_home) / "reconciler" / f"{name}.key"


def one_line(exc: BaseException, password: str | None = None) -> str:
    """The message of a database error on one line, without ``password``."""
    text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    if password:
        text = text.replace(password, "***")
    return text or type(exc).__name__


def connect(url: str, *, read_only: bool) -> Any:
    """An autocommit psycopg connection to ``url`` (read-only sessions for ``read_only``).

    Failure: :class:`StoreError` ``postgresql://user@host:port/db: cannot connect: REASON``."""
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise StoreError(f"{describe_url(url)}: psycopg is not installed") from exc
    parts = url_parts(url)
    password = parts.get("password")
    # The session's name in pg_stat_activity: "reconciler", unless the URL names it
    # (``?application_name=reconciler-r1``: one per replica, to tell them apart).
    named = "application_name" in parts
    try:
        conn = psycopg.connect(
            url,
            autocommit=True,
            connect_timeout=CONNECT_TIMEOUT_S,
            application_name=parts["application_name"] if named else "reconciler",
        )
    except psycopg.Error as exc:
        raise StoreError(
            f"{describe_url(url)}: cannot connect: {one_line(exc, password)}"
        ) from None
    try:
        # A process paused inside a transaction (SIGSTOP, a frozen VM) must not hold its locks
        # (the lease row, claimed rows) for ever: the server ends such a session.
        conn.execute("SET idle_in_transaction_session_timeout = '5s'")
        if read_only:
            conn.execute("SET default_transaction_read_only = on")
    except BaseException:
        conn.close()
        raise
    return conn
