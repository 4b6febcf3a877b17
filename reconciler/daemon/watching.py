"""Git watching: where the branch head is, and a wake-up whenever it may have moved.

The reconcile loop (:mod:`reconciler.daemon.reconciling`) owns a
:class:`Watcher`.  A local repository is watched on disk (watchfiles on
``HEAD``, ``packed-refs`` and the branch's ref file: git writes a ref through
``BRANCH.lock`` and a rename, and ``git gc`` moves refs into packed-refs), so a
commit is noticed within a second; the branch head is then read with
``git rev-parse``.  A remote repository is cloned (bare) into ``git-cache/``
beside the state store and fetched every ``poll_interval_s`` and on
``POST /hooks/git``; the fetch is forced (``+refs/heads/B:refs/heads/B``) so a
force-push replaces the head instead of failing.

Credentials in an ``http(s)://user:token@host/...`` URL never reach the disk
(nor ``ps``): the cache's config holds the URL without them, and each clone or
fetch gets them from its environment only (:func:`split_credentials`: an
``Authorization`` header through ``GIT_CONFIG_*`` variables, which no config
file holds).  A cache an earlier release cloned with the token in its config
is deleted and cloned afresh.  The cache folder is private (0700), like the
rest of the state directory.  Logs and errors show URLs redacted.

A repository another user owns (a bare repository under ``/srv/git`` owned by
the git user, a volume cloned by another uid) is refused by git ("detected
dubious ownership") until it is a ``safe.directory``: that refusal is raised as
:class:`~reconciler.errors.UnsafeRepositoryError`, whose message names the
path and the fix (:func:`unsafe_message`); the loop reports it once and keeps
retrying, so the fix needs no restart.

Files are never read from a working tree: callers read commits with
:class:`reconciler.loading.gitsource.GitSource`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import os
import pwd
import re
import shutil
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path

import git
import watchfiles

from reconciler.daemon.settings import DaemonSettings
from reconciler.errors import GitError as GitError
from reconciler.errors import UnsafeRepositoryError as UnsafeRepositoryError
from reconciler.store.files import private_dirs

log = logging.getLogger("reconciler.daemon.git")


@dataclass(frozen=True, slots=True)
class CommitInfo:
    """What the report shows about a commit."""

    sha: str
    author: str
    date: str
    """ISO 8601 with the author's offset."""
    timestamp: float
    """Committer time, seconds since the epoch (``reconciler_applied_commit_timestamp_seconds``)."""
    message: str
    """The subject line."""

    def as_dict(self) -> dict[str, str]:
        return {"sha": self.sha, "author": self.author, "date": self.date, "message": self.message}


class Watcher:
    """The branch head of one repository, local or remote, and the wake-ups when it may change."""

    def __init__(self, settings: DaemonSettings, *, wake: Callable[[], None]) -> None:
        self.settings = settings
        self.branch = settings.branch
        self.remote = settings.is_remote
        self.wake = wake
        self.url, self._env = (
            split_credentials(settings.repo) if self.remote else (settings.repo, {})
        )
        self.path = (
            settings.git_cache / _cache_name(self.url) if self.remote else Path(settings.repo)
        )
        self._repo: git.Repo | None = None
        self._clone_logged = False

    # --- reading (blocking: called through asyncio.to_thread by the loop) ----------------------

    def open(self) -> git.Repo:
        """The repository (cloned first when remote and absent)."""
        if self._repo is not None:
            return self._repo
        try:
            if self.remote:
                self._drop_caches_with_credentials()
                private_dirs(self.path.parent)
                self.path.parent.chmod(0o700)  # also a git-cache/ an earlier release made 0755
            if self.remote and not (self.path / "HEAD").exists():
                # At INFO once: a clone that keeps failing is retried every few seconds.
                level = logging.DEBUG if self._clone_logged else logging.INFO
                self._clone_logged = True
                log.log(level, "cloning %s into %s", _redacted(self.settings.repo), self.path)
                git.Repo.clone_from(self.url, self.path, env=self._env, bare=True)
            self._repo = git.Repo(self.path)
        except (git.exc.GitError, OSError) as exc:
            raise _git_error(f"cannot open {_redacted(self.settings.repo)}", exc) from exc
        return self._repo

    def refresh(self) -> str:
        """Fetch (remote) and return the branch head's sha."""
        repo = self.open()
        ref = f"refs/heads/{self.branch}"
        try:
            if self.remote:
                repo.git.fetch("--quiet", "origin", f"+{ref}:{ref}", env=self._env)
            return str(repo.git.rev_parse("--verify", "--quiet", f"{ref}^{{commit}}"))
        except git.exc.GitCommandError as exc:
            raise _git_error(f"branch {self.branch}", exc) from exc

    def _drop_caches_with_credentials(self) -> None:
        """Delete clones an earlier release made with the credentials in their config.

        Such a clone sits under the name of the URL with the credentials, or
        (same URL without) holds another URL in its config."""
        stale = self.path.parent / _cache_name(self.settings.repo)
        config = self.path / "config"
        if stale != self.path and stale.exists():
            log.info("deleting %s: its config holds the repository's credentials", stale)
            shutil.rmtree(stale)
        if config.is_file() and _has_credentials(config.read_text(errors="replace")):
            log.info("deleting %s: its config holds the repository's credentials", self.path)
            shutil.rmtree(self.path)

    def info(self, sha: str) -> CommitInfo:
        commit = self.open().commit(sha)
        offset = commit.author_tz_offset  # seconds west of UTC, as git stores it
        date = datetime.fromtimestamp(commit.authored_date, UTC).astimezone(_tz(-offset))
        return CommitInfo(
            sha=sha,
            author=f"{commit.author.name} <{commit.author.email}>",
            date=date.isoformat(),
            timestamp=float(commit.committed_date),
            message=str(commit.summary),
        )

    # --- waking ---------------------------------------------------------------------------------

    async def watch(self, stop: asyncio.Event) -> None:
        """Wake the loop on every ref change (local) or every poll interval; until ``stop``."""
        if self.remote:
            while not stop.is_set():
                await _wait(stop, self.settings.poll_interval_s)
                self.wake()
            return
        while not stop.is_set():
            try:
                await self._watch_files(stop)
            except (OSError, RuntimeError, GitError) as exc:
                log.warning("file watching failed (%s); polling every %.0f s", exc, 1.0)
                await _wait(stop, 1.0)
                self.wake()

    async def _watch_files(self, stop: asyncio.Event) -> None:
        repo = await asyncio.to_thread(self.open)
        common = Path(repo.common_dir)
        ref_dir = (common / "refs" / "heads" / self.branch).parent
        paths = [common, ref_dir] if ref_dir.is_dir() else [common, common / "refs" / "heads"]
        async for _changes in watchfiles.awatch(
            *paths,
            watch_filter=None,  # the default filter ignores .git, which is all we watch
            recursive=False,
            debounce=50,
            step=10,
            stop_event=stop,
            rust_timeout=int(self.settings.poll_interval_s * 1000),
            yield_on_timeout=True,  # a safety net: re-read the head now and then anyway
        ):
            self.wake()


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


def _cache_name(url: str) -> str:
    tail = url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git") or "repo"
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in tail)[:40]
    return f"{safe}-{hashlib.sha256(url.encode()).hexdigest()[:12]}.git"


def split_credentials(url: str) -> tuple[str, dict[str, str]]:
    """``(url without user:password, environment for git that sends them)`` for ``http(s)`` URLs.

    The environment adds ``http.extraHeader=Authorization: Basic ...`` as a
    ``GIT_CONFIG_KEY_n``/``GIT_CONFIG_VALUE_n`` pair (git 2.31+), so that no
    config file and no command line ever holds the credentials, and
    ``GIT_TERMINAL_PROMPT=0`` (the daemon never waits for a prompt).  Other
    URLs (``ssh://git@host``, ``git@host:path``, ``file://``) carry no secret
    and come back as they are, with an empty environment."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or "@" not in parts.netloc:
        return url, {}
    userinfo, _, host = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    pair = f"{urllib.parse.unquote(user)}:{urllib.parse.unquote(password)}"
    basic = base64.b64encode(pair.encode("utf-8")).decode("ascii")
    count = os.environ.get("GIT_CONFIG_COUNT", "")
    index = int(count) if count.isdigit() else 0  # keep the pairs the daemon's caller set
    env = {
        "GIT_CONFIG_COUNT": str(index + 1),
        f"GIT_CONFIG_KEY_{index}": "http.extraHeader",
        f"GIT_CONFIG_VALUE_{index}": f"Authorization: Basic {basic}",
        "GIT_TERMINAL_PROMPT": "0",
    }
    return urllib.parse.urlunsplit(parts._replace(netloc=host)), env


def _has_credentials(config: str) -> bool:
    """Whether a git config's text holds an ``http(s)://user...@`` URL."""
    return any(split_credentials(word.strip("\"'"))[1] for word in config.split() if "://" in word)


def _redacted(url: str) -> str:
    """A URL without credentials (``https://user:token@host`` must not reach the logs)."""
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest.split("/", 1)[0]:
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


_DUBIOUS = re.compile(
    r"dubious ownership in repository at '(?P<at>[^'\n]+)'"  # current git
    r"|unsafe repository \('(?P<owned>[^'\n]+)' is owned by someone else\)"  # its first releases
)
"""git's refusal of a repository another user owns (``safe.directory``), and the path it names."""


def _git_error(context: str, exc: Exception) -> GitError:
    """``context: git's message``, or an :class:`UnsafeRepositoryError` when git refused the owner."""
    raw = exc.stderr if isinstance(exc, git.exc.GitCommandError) else str(exc)
    found = _DUBIOUS.search(raw if isinstance(raw, str) else str(raw))
    if found is None:
        return GitError(f"{context}: {_short(exc)}")
    path = _redacted(found.group("at") or found.group("owned"))
    return UnsafeRepositoryError(unsafe_message(path), path=path)


def unsafe_message(path: str) -> str:
    """What is wrong and the fix, in one line (the log, ``/readyz``, ``not_ready_reasons``)."""
    return (
        f'git refuses the repository at {path}: another user owns it ("dubious ownership"); '
        f"fix: git config --system --add safe.directory {path}, "
        f"or give it to the daemon's user ({_user()}); retrying until then"
    )


def _user() -> str:
    uid = os.geteuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:  # a uid without a passwd entry (containers)
        return f"uid {uid}"


def _short(exc: Exception) -> str:
    if isinstance(exc, git.exc.GitCommandError):
        text = exc.stderr.strip() if isinstance(exc.stderr, str) else str(exc.stderr)
        return _redacted_text(text.removeprefix("stderr: ").strip(" '") or f"exit {exc.status}")
    return _redacted_text(str(exc))


def _redacted_text(text: str) -> str:
    return " ".join(_redacted(word) for word in text.split())


def _tz(seconds_east: float) -> tzinfo:
    return timezone(timedelta(seconds=seconds_east))
