"""Logging for the daemon: readable text lines by default, one JSON object per line with ``json``.

Called once by ``reconciler run`` and ``reconciler demo`` (``--log-format``).
Plain stdlib logging with a small formatter; no dependency.  Nothing logs
tokens or secret values: the driver never logs its token, the resolver never
logs values, and URLs with credentials are redacted by
:mod:`~reconciler.daemon.watching`.

In JSON, a line carries the fields its log call passed with ``extra=``
(``commit``, ``profile``, ``gateways``, ``accepted``, ``declined``, ...) next
to ``time``, ``level``, ``logger`` and ``message``: only JSON values (strings,
numbers, booleans, null, lists and mappings of them); a field whose name
says it holds a secret (``token``, ``password``, ``secret``, ``authorization``,
``key`` as a word) reads ``"(secret)"``.  :func:`outcome_fields` gives the
counts of a rollout's outcome as such fields.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from datetime import UTC, datetime
from typing import Any

from aiohttp import http_exceptions

from reconciler.engine.progress import Outcome
from reconciler.model.state import Status

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


SECRET_SHOWN = "(secret)"
_SECRET_NAME = re.compile(
    r"token|password|passwd|secret|authori[sz]ation|credential|(^|_)key($|_)", re.I
)
"""Names of extra fields whose values are never written (``job_key`` too: an idempotency key)."""


def json_value(value: Any, depth: int = 0) -> tuple[bool, Any]:
    """``(True, value)`` when ``value`` is JSON as it is (nested at most 4 deep), else ``(False, None)``."""
    if value is None or isinstance(value, str | bool | int | float):
        return True, value
    if depth < 4 and isinstance(value, list | tuple):
        items = [json_value(v, depth + 1) for v in value]
        return (True, [v for _, v in items]) if all(ok for ok, _ in items) else (False, None)
    if depth < 4 and isinstance(value, dict) and all(isinstance(k, str) for k in value):
        fields = {k: json_value(v, depth + 1) for k, v in value.items()}
        if all(ok for ok, _ in fields.values()):
            return True, {
                k: SECRET_SHOWN if _SECRET_NAME.search(k) else v for k, (_, v) in fields.items()
            }
    return False, None


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", ...extra}``, one object per line.

    Extra fields (``logging``'s ``extra=``) are written when they are JSON
    values, secrets masked by name (module docstring); they never replace the
    four standard keys.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in vars(record).items():
            if name in _STANDARD or name in entry or name.startswith("_"):
                continue
            ok, shown = json_value(value)
            if ok:
                entry[name] = SECRET_SHOWN if _SECRET_NAME.search(name) else shown
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def outcome_fields(outcome: Outcome) -> dict[str, Any]:
    """A rollout outcome's counts as log fields: ``gateways`` and one per status (``accepted``,
    ``declined``, ``mismatch``, ...), and ``aborted``: the profiles whose rollout was aborted."""
    counts = outcome.counts()
    return {
        "gateways": sum(counts.values()),
        **{status.value.lower(): counts[status] for status in Status},
        "aborted": sorted(
            name or "(no profile)" for name, g in outcome.groups.items() if g.aborted
        ),
    }


def setup(log_format: str, level: int = logging.INFO) -> None:
    """Route the ``reconciler`` loggers to stderr in ``text`` or ``json`` format."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        )
    root = logging.getLogger("reconciler")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    # aiohttp's access log would log every scrape; the daemon's own lines are enough.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    server = logging.getLogger("aiohttp.server")
    server.handlers[:] = [handler]
    server.propagate = False
    server.filters[:] = [MalformedRequests()]


class MalformedRequests(logging.Filter):
    """One short line, not a traceback, per malformed HTTP request; at most ``burst`` a minute.

    aiohttp answers a request it cannot parse (a 10 KB URL, a 100 KB header,
    1,000 headers, garbage) with 400 and logs the parser's traceback at ERROR:
    ~1 KB of log per request, for anyone who can reach the port.  This filter
    rewrites such records to one WARNING line (the client address, the problem,
    no request bytes) and drops them past ``burst`` per minute, saying how many
    were dropped in the next line it lets through.  Other records pass untouched.
    """

    def __init__(self, burst: int = 10, window_s: float = 60.0) -> None:
        super().__init__()
        self.burst = burst
        self.window_s = window_s
        self._window_start = 0.0
        self._seen = 0
        self._dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if not isinstance(error, http_exceptions.HttpProcessingError):
            return True
        now = time.monotonic()
        if now - self._window_start > self.window_s:
            self._window_start, self._seen = now, 0
        self._seen += 1
        if self._seen > self.burst:
            self._dropped += 1
            return False
        # The parser's message quotes the offending bytes after a colon: keep only its words.
        problem = (
            str(error.message).strip().splitlines()[0].split(":")[0][:80] if error.message else ""
        )
        dropped = f" ({self._dropped} more were not logged)" if self._dropped else ""
        self._dropped = 0
        peer = record.getMessage().rsplit(" ", 1)[-1]
        record.msg = "malformed HTTP request from %s answered %s: %s%s"
        record.args = (peer, error.code, f"{type(error).__name__} {problem}".strip(), dropped)
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info = record.exc_text = None
        return True
