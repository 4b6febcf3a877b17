"""The project's exception tree; callers decide what to do from the type alone.

Every exception the package raises on purpose is defined here, and only here
(``tests/test_layers.py`` checks it); modules raise them and re-export the ones
their callers know them by.  Caught by the engine, the daemon and the commands.  Third-party exceptions
(aiohttp, asyncio, sqlite3) are wrapped with ``raise ... from exc`` so that
nothing above a layer needs to know which library is underneath::

    ReconcilerError
    ├── HeadendError                     the head-end could not do what was asked
    │   ├── TransientHeadendError        worth retrying with backoff (docs/reference/desired-state.md)
    │   │   ├── HeadendTimeoutError      no answer within the per-request timeout
    │   │   ├── HeadendConnectionError   connection refused, reset or dropped
    │   │   ├── ThrottledError           429; ``retry_after`` seconds from Retry-After
    │   │   └── ServerError              5xx
    │   └── PermanentHeadendError        retrying the same request cannot help
    │       ├── AuthenticationError      401: missing or wrong bearer token
    │       ├── NotFoundError            404: unknown gateway (or path)
    │       ├── MalformedRequestError    422: the body broke the API's schema
    │       └── BadResponseError         the answer is not the documented shape
    ├── ConfigFileError                  a config file cannot be used as it is (validate reports it)
    │   ├── YamlError                    not acceptable YAML; ``line``, ``column``, ``code``
    │   └── SourceError                  one file cannot be read (a symlink out of the repository, ...)
    ├── GitSourceError                   the repository or revision cannot be read
    ├── InventoryError                   an inventory file is unreadable or not a list of gateways
    ├── MalformedBodyError               a request to a head-end we serve breaks the API (answered 422)
    ├── QueryError                       a Magic Search query is malformed; ``position`` says where
    ├── UnknownProfileError              a ``--profile`` names no profile of the repository
    ├── ExplainError                     a console screen asks for a profile, type or gateway that is not there
    ├── GitError                         the daemon cannot read, clone or fetch its repository (retried)
    │   └── UnsafeRepositoryError        git refuses a repository another user owns ("dubious ownership")
    ├── CommitLogError                   the commits screen cannot list the branch's history with git
    │   └── UnknownCommitError           git does not know the head commit it was asked for
    ├── MissingSecretError               a secret a job needs is not provided (that gateway is Declined)
    ├── InvalidSecretError               a secret's value breaks its key's catalog rule (that gateway is Declined)
    ├── NothingToRetry                   Retry Upload refused: no member to retry
    ├── StoreError                       the state store cannot be opened or read, or is too new
    │   └── StoreLockedError             another process writes this state store (one writer per store)
    ├── InputError                       a command's input (store, inventory, head-end) cannot be read
    ├── IdentitiesError                  the OCPP head-end's identities source cannot be read
    ├── OcppError                        an OCPP exchange with a charge point failed
    │   ├── ChargerGoneError             the charge point is not connected, or left mid-call
    │   ├── ChargerTimeoutError          no answer within the call timeout
    │   └── ChargerCallError             the charge point answered a CALLERROR; ``code``, ``description``
    └── EditError                        an edit of the config files refused; nothing was written
        ├── EditUsageError               the request itself is wrong (unknown profile, bad target file)
        ├── MembershipError              the membership rules refuse; ``gateway_ids`` lists the gateways
        └── InvalidEditError             the repository would be invalid afterwards; ``problems`` says why

Any other 4xx is a plain :class:`PermanentHeadendError`.  Messages never carry
the bearer token or request headers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class ReconcilerError(Exception):
    """Base of every error the reconciler raises on purpose."""


class HeadendError(ReconcilerError):
    """A head-end call failed.

    ``endpoint`` is the short name of the call (``jobs:batch``), ``status`` the
    HTTP status code when there was an answer, ``None`` for transport errors.
    """

    def __init__(self, message: str, *, endpoint: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.endpoint = endpoint
        self.status = status

    def __str__(self) -> str:
        where = f"{self.endpoint}: " if self.endpoint else ""
        code = f"HTTP {self.status}: " if self.status is not None else ""
        return f"{where}{code}{self.message}"


class TransientHeadendError(HeadendError):
    """Retry with exponential backoff and jitter (or after ``retry_after`` seconds, when given)."""

    retry_after: float | None = None


class HeadendTimeoutError(TransientHeadendError):
    """The head-end did not answer within the per-request timeout."""


class HeadendConnectionError(TransientHeadendError):
    """The connection could not be made, or broke before the answer was read."""


class ThrottledError(TransientHeadendError):
    """429 Too Many Requests; ``retry_after`` holds the Retry-After header in seconds."""

    def __init__(
        self,
        message: str,
        *,
        endpoint: str = "",
        status: int | None = 429,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, endpoint=endpoint, status=status)
        self.retry_after = retry_after


class ServerError(TransientHeadendError):
    """A 5xx answer: the head-end failed, probably for a moment."""


class PermanentHeadendError(HeadendError):
    """Do not retry: the same request will fail the same way until something is fixed."""


class AuthenticationError(PermanentHeadendError):
    """401: the bearer token is missing or wrong (check RECONCILER_HEADEND_TOKEN)."""


class NotFoundError(PermanentHeadendError):
    """404: the head-end does not know the gateway (or the path)."""


class MalformedRequestError(PermanentHeadendError):
    """422: the request body does not follow the API's schema (a bug on our side)."""


class BadResponseError(PermanentHeadendError):
    """The head-end answered 2xx with a body that is not the documented shape."""


class ConfigFileError(ReconcilerError):
    """A config file that cannot be used as it is; the loader turns it into a located diagnostic."""


@dataclass(frozen=True, slots=True)
class YamlError(ConfigFileError):
    """A file that is not acceptable YAML; ``line`` and ``column`` are 1-based."""

    message: str
    line: int
    column: int
    code: str = "yaml"

    def __str__(self) -> str:
        return f"{self.line}:{self.column}: {self.message}"


class SourceError(ConfigFileError):
    """One file could not be read; the message says why, for that file's diagnostic."""


class GitSourceError(ReconcilerError):
    """The repository or revision cannot be read (not a git repository, unknown revision)."""


class InventoryError(ReconcilerError):
    """The inventory file is unreadable or not a list of gateways; the message says where."""


class MalformedBodyError(ReconcilerError):
    """A request to a head-end we serve breaks the API's schema: answered 422."""


class QueryError(ReconcilerError):
    """A malformed query: ``position`` is the 0-based offset of the trouble in ``query``."""

    def __init__(self, query: str, position: int, message: str) -> None:
        super().__init__(f"column {position + 1}: {message}")
        self.query = query
        self.position = position
        self.message = message


class UnknownProfileError(ReconcilerError):
    """``--profile P`` (or ``profile=P``) names no profile of the repository."""

    def __init__(self, profile: str, profiles: Sequence[str]) -> None:
        super().__init__(f"no profile '{profile}'; profiles: {', '.join(profiles) or 'none'}")
        self.profile = profile
        self.profiles = tuple(profiles)


class ExplainError(ReconcilerError):
    """A configuration screen was asked about a profile, gateway type or gateway that does not
    exist (:mod:`reconciler.plan.explain`); the message says which, and what there is instead."""


class StoreError(ReconcilerError):
    """The state store cannot be opened or read, or is newer than this release understands.

    The message is one line and names the file."""


class StoreLockedError(StoreError):
    """Another process holds the state store's writer lock: one ``run`` or ``apply`` per store.

    The message is one line naming the store and the holder (pid, host,
    since when); ``holder`` is that description, ``""`` when unknown."""

    def __init__(self, message: str, *, holder: str = "") -> None:
        super().__init__(message)
        self.holder = holder


class NotLeaderError(StoreError):
    """A write of a replica that no longer holds the leader lease (or its epoch is stale), or of
    a replica whose own lease ran out: refused in the write's own transaction, nothing written.

    The replica stops leading (or drops its claims) and carries on as a follower."""


class InputError(ReconcilerError):
    """An input of a command cannot be read (store, inventory, head-end); the message names it and says why."""


class EditError(ReconcilerError):
    """An edit of the config files that cannot be made as asked; nothing was written.

    The message says why and what to do.  The commands print it and exit 1."""


class EditUsageError(EditError):
    """The edit was asked for wrongly: an unknown profile, a target file outside ``gateways.d``.

    The commands treat it as a usage error (exit 2)."""


class MembershipError(EditError):
    """The membership rules refuse the whole edit (no match, another profile, an active rollout).

    ``gateway_ids`` are the gateways that caused the refusal (empty for no match)."""

    def __init__(self, message: str, *, gateway_ids: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.gateway_ids = gateway_ids


class InvalidEditError(EditError):
    """The repository would be invalid after the edit.

    ``problems`` holds one line per diagnostic of the result, as
    ``PATH:LINE:COL: error: MESSAGE``, marked ``(already before this edit)``
    when the repository had it already."""

    def __init__(self, message: str, *, problems: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems


class GitError(ReconcilerError):
    """The repository cannot be read, cloned or fetched, or the branch does not exist (the daemon retries)."""


class UnsafeRepositoryError(GitError):
    """git refuses the repository because another user owns it ("detected dubious ownership").

    ``path`` is the directory git names; the message says how to trust it
    (``safe.directory``) or to give it to the daemon's user.  Retried like any
    :class:`GitError`, so the fix needs no restart."""

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path


class CommitLogError(ReconcilerError):
    """The commits screen (:mod:`reconciler.daemon.commits`) cannot list the branch's history:
    git cannot read the repository; ``sha`` is the head commit asked for."""

    def __init__(self, message: str, *, sha: str = "") -> None:
        super().__init__(message)
        self.sha = sha


class UnknownCommitError(CommitLogError):
    """The commits screen was asked for the history of a commit the repository does not have
    (a force-push moved the branch, a stale clone); ``sha`` is the commit asked for."""

    def __init__(self, sha: str, detail: str = "") -> None:
        where = f": {detail}" if detail else ""
        super().__init__(f"commit {sha[:40]!r} is not in the repository{where}", sha=sha)


class MissingSecretError(ReconcilerError):
    """A secret a job needs is not provided; the gateway is Declined with this reason."""


class InvalidSecretError(ReconcilerError):
    """A resolved secret value breaks its key's catalog rule (length, pattern); the gateway is
    Declined with this reason, which names the key, the secret and the rule, never the value."""


class NothingToRetry(ReconcilerError):
    """Retry Upload refused: the profile has no Declined or Mismatch member (nor one an abort left)."""


class IdentitiesError(ReconcilerError):
    """The OCPP head-end's known identities (``--repo`` or ``--identities``) cannot be read."""


class OcppError(ReconcilerError):
    """An OCPP exchange with a charge point failed."""


class ChargerGoneError(OcppError):
    """The charge point is not connected, or its connection closed while a call was outstanding."""


class ChargerTimeoutError(OcppError):
    """The charge point sent no answer within the call timeout."""


class ChargerCallError(OcppError):
    """The charge point answered a CALL with a CALLERROR."""

    def __init__(self, code: str, description: str = "") -> None:
        super().__init__(f"CALLERROR {code}" + (f": {description}" if description else ""))
        self.code = code
        self.description = description
