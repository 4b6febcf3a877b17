"""The project's exception tree; callers decide what to do from the type alone.

Raised by the drivers (:mod:`reconciler.drivers.http`) and caught by the engine,
the daemon and the commands.  Third-party exceptions (aiohttp, asyncio) are
wrapped with ``raise ... from exc`` so that nothing above the drivers needs to
know which HTTP library is underneath::

    ReconcilerError
    └── HeadendError                     the head-end could not do what was asked
        ├── TransientHeadendError        worth retrying with backoff (DESIGN.md section 5)
        │   ├── HeadendTimeoutError      no answer within the per-request timeout
        │   ├── HeadendConnectionError   connection refused, reset or dropped
        │   ├── ThrottledError           429; ``retry_after`` seconds from Retry-After
        │   └── ServerError              5xx
        └── PermanentHeadendError        retrying the same request cannot help
            ├── AuthenticationError      401: missing or wrong bearer token
            ├── NotFoundError            404: unknown gateway (or path)
            ├── MalformedRequestError    422: the body broke the API's schema
            └── BadResponseError         the answer is not the documented shape

Any other 4xx is a plain :class:`PermanentHeadendError`.  Messages never carry
the bearer token or request headers.
"""

from __future__ import annotations


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
