"""The report's member pages: one profile's members, :data:`PAGE_SIZE` at a time, as JSON, Markdown and HTML.

Called by :mod:`reconciler.daemon.reportbook`, which decides which pages
changed and writes them; the summary files (``report.json``, ``REPORT.md``,
``report.html``) link to every page (:func:`page_entry`).  A page's files
live in ``members/GROUP/``: ``GROUP`` is ``profile-NAME`` for a profile (a
profile name is a file name already: ``profiles.d/NAME.yaml``) and
``no-profile`` for gateways without one; the pages are ``0001.json``,
``0001.md``, ``0001.html`` and on.  Rows are the members' JSON
(:func:`reconciler.members.rows.member_json`), sorted by gateway id; secrets
are masked there.

A page's JSON::

    {"schema_version": 2, "profile": NAME | null, "page": 1, "pages": 3,
     "gateways": [ ...member rows as in report.json's documentation... ]}
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from reconciler.members.rows import value_text

PAGE_SIZE = 500
"""Members per page: at 100,000 gateways a full rewrite is 200 small files per format."""

SCHEMA_VERSION = 2
FORMATS = ("json", "md", "html")

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.n{text-align:right}
.bad{color:#a00;font-weight:bold}.ok{color:#060}
.s-Accepted{color:#060}.s-Declined,.s-Mismatch{color:#a00;font-weight:bold}.s-Requested,.s-Sent,.s-Initial{color:#a60}
#q{width:40em;max-width:95%;padding:4px;font:inherit}
#matches.bad{white-space:pre-wrap}
details summary{cursor:pointer}
"""


def group_dir(profile: str | None) -> str:
    """The directory (under ``members/``) of a profile's pages."""
    return f"profile-{profile}" if profile is not None else "no-profile"


def page_path(profile: str | None, number: int, fmt: str) -> str:
    """``members/GROUP/NNNN.FMT``, relative to the report directory."""
    return f"members/{group_dir(profile)}/{number:04d}.{fmt}"


def page_entry(profile: str | None, number: int, members: int) -> dict[str, Any]:
    """report.json's ``member_pages[]`` entry of a page."""
    return {
        "profile": profile,
        "page": number,
        "members": members,
        **{fmt: page_path(profile, number, fmt) for fmt in FORMATS},
    }


def texts(
    profile: str | None, number: int, pages: int, rows: Sequence[Mapping[str, Any]]
) -> dict[str, str]:
    """The page in every format of :data:`FORMATS`: ``{fmt: text}``."""
    body = {
        "schema_version": SCHEMA_VERSION,
        "profile": profile,
        "page": number,
        "pages": pages,
        "gateways": list(rows),
    }
    return {
        "json": json.dumps(body, ensure_ascii=False, separators=(",", ":")) + "\n",
        "md": markdown(profile, number, pages, rows),
        "html": html(profile, number, pages, rows),
    }


def _title(profile: str | None, number: int, pages: int) -> str:
    return (
        f"Members: {profile if profile is not None else '(no profile)'}, page {number} of {pages}"
    )


# --- Markdown ----------------------------------------------------------------------------------

MD_HEAD = (
    "| gateway | type | firmware | stations | ports | provider | status | reason | subsettings | skipped | updated |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|"
)


def md_escape(text: str) -> str:
    """A Markdown table cell's text: pipes escaped, line breaks flattened."""
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(
    profile: str | None, number: int, pages: int, rows: Sequence[Mapping[str, Any]]
) -> str:
    out = [f"# {md_escape(_title(profile, number, pages))}", "", "[Report](../../REPORT.md)", ""]
    out.append(MD_HEAD)
    for g in rows:
        cells = (
            g["id"],
            g["type"],
            g["firmware"] or "?",
            ", ".join(g["station_ids"]),
            ", ".join(g["port_ids"]),
            g["provider"],
            g["status"] or "-",
            g["reason"],
            ", ".join(f"{k}={value_text(v)}" for k, v in g["subsettings"].items()),
            "; ".join(g["skipped"]),
            g["updated_at"] or "",
        )
        out.append("| " + " | ".join(md_escape(str(x)) for x in cells) + " |")
    return "\n".join(out) + "\n"


# --- HTML --------------------------------------------------------------------------------------

HTML_HEAD = (
    "<table><thead><tr><th>gateway</th><th>type</th><th>firmware</th><th>stations</th>"
    "<th>ports</th><th>provider</th><th>status</th><th>reason</th><th>subsettings</th>"
    "<th>skipped</th><th>updated</th><th>address / owner</th></tr></thead><tbody>"
)


def html(profile: str | None, number: int, pages: int, rows: Sequence[Mapping[str, Any]]) -> str:
    title = escape(_title(profile, number, pages))
    links = ['<a href="../../report.html">report</a>']
    if number > 1:
        links.append(f'<a href="{number - 1:04d}.html" rel="prev">previous page</a>')
    if number < pages:
        links.append(f'<a href="{number + 1:04d}.html" rel="next">next page</a>')
    nav = "<nav>" + " · ".join(links) + "</nav>"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title><style>{STYLE}</style></head><body>\n"
        f"<h1>{title}</h1>\n{nav}\n{HTML_HEAD}\n"
        + "\n".join(html_row(g) for g in rows)
        + f"\n</tbody></table>\n{nav}\n</body></html>\n"
    )


def html_row(g: Mapping[str, Any]) -> str:
    """One member as a table row (``address`` and ``owner`` behind ``<details>``)."""
    subsettings = ", ".join(f"{k}={value_text(v)}" for k, v in g["subsettings"].items())
    labels = " ".join(f"{k}={v}" for k, v in g["labels"].items())
    status = g["status"] or "-"
    return (
        f'<tr class="gw"><td>{escape(g["id"])}</td><td>{escape(g["type"])}</td>'
        f"<td>{escape(g['firmware'] or '?')}</td>"
        f"<td>{escape(', '.join(g['station_ids']))}</td><td>{escape(', '.join(g['port_ids']))}</td>"
        f"<td>{escape(g['provider'])}</td>"
        f'<td class="s-{escape(status)}">{escape(status)}</td><td>{escape(g["reason"])}</td>'
        f"<td>{escape(subsettings)}</td><td>{escape('; '.join(g['skipped']))}</td>"
        f"<td>{escape(g['updated_at'] or '')}</td>"
        f"<td><details><summary>more</summary>{escape(g['address'])}<br>{escape(g['owner'])}"
        + (f"<br>labels: {escape(labels)}" if labels else "")
        + "</details></td></tr>"
    )
