"""The head-end API's answers read into the driver's values, and failures into typed errors.

Used by :mod:`reconciler.drivers.http` only: a 2xx answer of the wrong shape
becomes :class:`~reconciler.errors.BadResponseError` (:class:`shape`), a non-2xx
answer the error its status means (:func:`error_for`), with ``Retry-After``
honoured for 429 (:func:`parse_retry_after`).
"""

from __future__ import annotations

import email.utils
import json
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from reconciler import errors
from reconciler.drivers.base import (
    EVENT_KINDS,
    JOB_STATES,
    EventPage,
    HeadendEvent,
    JobRequest,
    JobStatus,
    JobSubmission,
)


class shape:
    """Turns a missing key or a wrong type in a 2xx answer into :class:`~reconciler.errors.BadResponseError`."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if isinstance(exc, (KeyError, TypeError, ValueError, AttributeError)):
            raise errors.BadResponseError(
                f"the answer is not the documented shape ({type(exc).__name__}: {exc})",
                endpoint=self.endpoint,
            ) from exc


def submission(job: JobRequest, result: dict[str, Any]) -> JobSubmission:
    if "error" in result:
        error = result["error"]
        return JobSubmission(
            job.gateway_id,
            job.idempotency_key,
            error_code=str(error["code"]),
            error_message=str(error["message"]),
        )
    return JobSubmission(
        job.gateway_id,
        job.idempotency_key,
        job_id=result["job_id"],
        status=job_state(result["status"]),
    )


def job_status(item: dict[str, Any]) -> JobStatus:
    return JobStatus(
        job_id=item["job_id"],
        gateway_id=item["gateway_id"],
        status=job_state(item["status"]),
        reason=item.get("reason"),
        rejected_parameters=dict(item.get("rejected_parameters") or {}),
        applied_parameters=tuple(item.get("applied_parameters") or ()),
        reboot_required=item.get("reboot_required") is True,
    )


def event_page(answer: dict[str, Any]) -> EventPage:
    events = tuple(
        HeadendEvent(str(e["gateway_id"]), e["kind"], str(e["at"]))
        for e in answer["events"]
        if e["kind"] in EVENT_KINDS  # kinds of a later API version are skipped, not fatal
    )
    cursor = answer["next_cursor"]
    return EventPage(events, None if cursor is None else str(cursor))


def job_state(value: Any) -> Any:
    if value not in JOB_STATES:
        raise ValueError(f"unknown job status {value!r}")
    return value


def error_for(
    endpoint: str, status: int, raw: bytes, retry_after: str | None
) -> errors.HeadendError:
    """The typed error for a non-2xx answer; the message is the API's ``error.message`` if any."""
    try:
        message = str(json.loads(raw)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        message = raw[:200].decode("utf-8", "replace") or "(no body)"
    if status == 429:
        return errors.ThrottledError(
            message, endpoint=endpoint, retry_after=parse_retry_after(retry_after)
        )
    if status >= 500:
        return errors.ServerError(message, endpoint=endpoint, status=status)
    kind = {
        401: errors.AuthenticationError,
        404: errors.NotFoundError,
        422: errors.MalformedRequestError,
    }.get(status, errors.PermanentHeadendError)
    return kind(message, endpoint=endpoint, status=status)


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date (RFC 9110 section 10.2.3)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
