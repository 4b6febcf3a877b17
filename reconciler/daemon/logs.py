"""Logging for the daemon: readable text lines by default, one JSON object per line with ``json``.

Called once by :mod:`reconciler.daemon.running` (``--log-format``).  Plain
stdlib logging with a small formatter; no dependency.  Nothing logs tokens or
secret values: the driver never logs its token, the resolver never logs
values, and URLs with credentials are redacted by :mod:`~reconciler.daemon.watching`.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import UTC, datetime
from typing import Any

from aiohttp import http_exceptions

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", ...extra}``, one object per line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


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
