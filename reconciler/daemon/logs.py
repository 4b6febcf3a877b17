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
from datetime import UTC, datetime
from typing import Any

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
