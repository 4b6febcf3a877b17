"""Server-rendered console pages: the Jinja environment, its filters, whole pages and live regions.

Called by :mod:`reconciler.daemon.console.routes` with a screen's JSON
document (:mod:`reconciler.daemon.console.views`): the page shows exactly
what the JSON says.  Autoescaping is on for every template, so no value from
a repository, the head-end or the store can become markup.  A partial render
is the template's ``live`` block alone (what the script swaps in place).
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from reconciler import __version__
from reconciler.members.counts import STATUS_KEYS

STATUS_LABELS = {key: ("not managed yet" if key == "none" else key) for key in STATUS_KEYS}


def dumps(value: Any) -> str:
    """JSON for the JSON answers (UTF-8 kept readable)."""
    return json.dumps(value, ensure_ascii=False)


def shown(value: Any) -> str:
    """A parameter value for people: lists joined, booleans lower-case, nothing as an em dash."""
    if value is None:
        return "\u2014"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ", ".join(shown(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={shown(v)}" for k, v in value.items())
    return str(value)


def when(text: str | None) -> str:
    """An ISO 8601 time as ``2024-05-01 12:00 UTC`` (``—`` for none)."""
    if not text:
        return "\u2014"
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def link(query: Mapping[str, Any], **changes: Any) -> str:
    """``?...``: ``query`` with ``changes`` applied (``None`` drops a key); filters keep their lists."""
    merged = {k: v for k, v in query.items() if v not in ("", [], None)}
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return "?" + urllib.parse.urlencode(merged, doseq=True) if merged else "?"


def quoted(text: str) -> str:
    """A path segment (a profile or gateway id in a URL)."""
    return urllib.parse.quote(text, safe="")


def percent(part: int, whole: int) -> float:
    """``part`` of ``whole`` in percent, for the bars (0 for an empty whole)."""
    return round(100.0 * part / whole, 2) if whole else 0.0


_env = Environment(
    loader=PackageLoader("reconciler.daemon.console", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters.update(shown=shown, when=when, quoted=quoted)
_env.globals.update(
    link=link,
    percent=percent,
    STATUS_KEYS=STATUS_KEYS,
    STATUS_LABELS=STATUS_LABELS,
    version=__version__,
)
# The macros are globals, not imports: a live block rendered alone must find them too.
_macros = _env.get_template("macros.html").module
_env.globals.update(
    {name: getattr(_macros, name) for name in dir(_macros) if not name.startswith("_")}
)


def render(
    template: str,
    document: Mapping[str, Any],
    *,
    request: Mapping[str, Any],
    partial: bool = False,
    code: int = 200,
) -> str:
    """The page (or with ``partial`` its ``live`` block) for one screen's JSON ``document``."""
    page = _env.get_template(template)
    values = {"d": document, "request": request, "code": code}
    if not partial:
        return page.render(values)
    block = page.blocks.get("live")
    if block is None:
        return page.render(values)
    return "".join(block(page.new_context(values)))
