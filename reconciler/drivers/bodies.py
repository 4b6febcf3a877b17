"""Request and answer bodies of the head-end API, as the simulator checks and builds them.

Called by :mod:`reconciler.headends.simulator`.  Hand-written checks rather than
a schema library: they run for every request of a benchmark at thousands of
requests per second, and each failure says what was expected.  The contract
they enforce is ``openapi.yaml``; ``tests/drivers/test_openapi.py`` keeps the
two in agreement.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from reconciler.drivers.base import MAX_BATCH, REBOOT_POLICIES
from reconciler.errors import MalformedBodyError as Malformed

__all__ = [
    "MAX_BATCH",
    "MAX_PAGE",
    "JobEntry",
    "Malformed",
    "decode_cursor",
    "encode_cursor",
    "error",
    "id_list",
    "job_batch",
    "job_request",
]

MAX_PAGE = 500
"""Largest ``limit`` of an inventory page."""

T = TypeVar("T")

JobEntry = tuple[str, dict[str, Any], str]
"""A checked job request: gateway id, parameters, idempotency key."""


def error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if text.startswith("o:") and text[2:].isdigit():
            return int(text[2:])
    except (binascii.Error, UnicodeDecodeError):
        pass
    raise Malformed("cursor: not a cursor this head-end handed out")


def page(query: Mapping[str, str], order: Sequence[T]) -> tuple[Sequence[T], str | None]:
    """One inventory page of ``order`` for ``?limit=N&cursor=C``: the items and the next cursor.

    ``limit`` 1..:data:`MAX_PAGE` (default 100); the cursor is an offset into
    ``order``, which the caller keeps stable between pages.
    """
    try:
        limit = int(query.get("limit", "100"))
    except ValueError:
        raise Malformed("limit: expected an integer") from None
    if not 1 <= limit <= MAX_PAGE:
        raise Malformed(f"limit: expected 1..{MAX_PAGE}, got {limit}")
    start = decode_cursor(query.get("cursor"))
    items = order[start : start + limit]
    end = start + len(items)
    return items, encode_cursor(end) if end < len(order) else None


def id_list(data: Any, name: str) -> list[str]:
    if not isinstance(data, dict) or set(data) != {name}:
        raise Malformed(f'expected {{"{name}": [ID, ...]}}')
    ids = data[name]
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise Malformed(f"{name}: expected a list of strings")
    if not 1 <= len(ids) <= MAX_BATCH:
        raise Malformed(f"{name}: expected 1..{MAX_BATCH} entries, got {len(ids)}")
    return ids


_JOB_FIELDS = {"gateway_id", "parameters", "idempotency_key"}


def job_request(data: Any) -> JobEntry:
    if not isinstance(data, dict) or not _JOB_FIELDS <= set(data) <= _JOB_FIELDS | {"reboot"}:
        raise Malformed("a job request is {gateway_id, parameters, idempotency_key[, reboot]}")
    if data.get("reboot", "never") not in REBOOT_POLICIES:
        raise Malformed("reboot: expected 'never' or 'when_idle'")
    gateway_id, parameters, key = data["gateway_id"], data["parameters"], data["idempotency_key"]
    if not isinstance(gateway_id, str) or not gateway_id:
        raise Malformed("gateway_id: expected a non-empty string")
    if not isinstance(parameters, dict) or not parameters:
        raise Malformed("parameters: expected a non-empty object of KEY: VALUE")
    if not isinstance(key, str) or not 1 <= len(key) <= 200:
        raise Malformed("idempotency_key: expected a string of 1..200 characters")
    return gateway_id, parameters, key


def job_batch(data: Any) -> list[JobEntry]:
    """Every entry of a ``jobs:batch`` body, checked; one bad entry refuses the whole body."""
    if not isinstance(data, dict) or set(data) != {"jobs"} or not isinstance(data["jobs"], list):
        raise Malformed('expected {"jobs": [JOB_REQUEST, ...]}')
    jobs = data["jobs"]
    if not 1 <= len(jobs) <= MAX_BATCH:
        raise Malformed(f"jobs: expected 1..{MAX_BATCH} entries, got {len(jobs)}")
    return [job_request(item) for item in jobs]
