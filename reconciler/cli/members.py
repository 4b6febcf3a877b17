"""The members table for people and tools: printing a :class:`~reconciler.members.listing.Listing`.

``reconciler status`` and ``reconciler search`` get a listing from
:func:`reconciler.members.listing.listing` (which members, grouped and
counted) and print it with :func:`echo`: ``rich`` tables on a terminal, plain
aligned text otherwise (no ANSI codes in a pipe or a file), or :func:`as_json`.
Presentation only; secrets were masked when the rows were built
(:func:`reconciler.members.rows.members`).

JSON schema (``format_version`` 1), stable for tools::

    {
      "format_version": 1,
      "query": str or null,         # the filter, as given (--profile P reads "profile:P")
      "total": n,                   # gateways known (declared, plus those only the store knows)
      "matched": n,                 # gateways listed in "members"
      "statuses": {"Initial": n, "Requested": n, "Sent": n, "Accepted": n,
                   "Declined": n, "Mismatch": n, "none": n},   # over "members"; none: no status yet
      "profiles": {NAME or "(no profile)": {"members": n, "statuses": {...as above}}},
      "members": [
        {"id", "profile" (or null), "type", "firmware" (or null), "status" (or null),
         "reason", "station_ids": [...], "port_ids": [...], "provider", "address", "owner",
         "subsettings": {KEY: VALUE, secrets "(secret)"}, "labels": {KEY: VALUE},
         "skipped": [...], "reboot_pending": [KEY, ...], "updated_at": "2024-05-01T12:00:00Z" or null,
         "declared": bool}     # false: only the store knows it (entry deleted, being reset)
      ],
      "mismatch": {ID: [{"key", "live", "expected"}]},  # each listed Mismatch member's differing keys
      "notes": [str]                # what could not be known (no inventory, no store, ...)
    }

Every key is always present; counts carry every status, zero included.  The
member objects are :func:`reconciler.members.rows.member_json`, the same as
report.json's gateways and the members API's; ``mismatch``
(:func:`~reconciler.members.rows.mismatch_json`, secrets ``"(secret)"``) is
beside them, keyed by gateway id: only these commands read the full states.

In text, a Mismatch member's differing keys follow its profile's table, one
line each: ``ID  KEY: live X, expected Y``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from reconciler.cli.common import plural, text_or_json
from reconciler.members.counts import STATUS_KEYS, ProfileCounts
from reconciler.members.listing import NO_PROFILE, Listing, grouped, listing_json
from reconciler.members.query import Query, QueryError, parse
from reconciler.members.rows import NO_STATUS, Member, mismatch_json, utc_text, value_text
from reconciler.model.repos import Repo

EMPTY = "-"
MISMATCH_HEADING = "Mismatch (live: read back from the gateway; expected: last accepted):"
STATUS_STYLES = {
    "Initial": "blue",
    "Requested": "cyan",
    "Sent": "cyan",
    "Accepted": "green",
    "Declined": "bold red",
    "Mismatch": "bold yellow",
    NO_STATUS: "dim",
}


# --- JSON ------------------------------------------------------------------------------------


def as_json(v: Listing, notes: Sequence[str] = ()) -> dict[str, Any]:
    """The document of the module docstring; ``notes`` (what could not be known) come first."""
    document = listing_json(v)
    drift = {m.gateway_id: mismatch_json(m) for m in v.rows if m.mismatch}
    return {"format_version": 1, **document, "mismatch": drift, "notes": [*notes, *v.notes]}


# --- text ------------------------------------------------------------------------------------


def summary_line(v: Listing) -> str:
    counts = status_counts(v.statuses)
    if v.query is None:
        profiles = sum(1 for g in v.groups if g.profile is not None)
        head = f"{plural(v.total, 'gateway')} in {plural(profiles, 'profile')}"
    else:
        head = f"{len(v.rows)} of {plural(v.total, 'gateway')} match {v.query}"
    return f"{head}: {counts}" if counts else head


def status_counts(statuses: Mapping[str, int]) -> str:
    """``"4 Accepted, 1 Mismatch, 2 no status"``: the non-zero counts, in lifecycle order."""
    return ", ".join(f"{statuses[key]} {status_label(key)}" for key in STATUS_KEYS if statuses[key])


def status_label(key: str) -> str:
    return "no status" if key == NO_STATUS else key


def columns(wide: bool) -> list[str]:
    names = ["GATEWAY", "STATIONS", "PORTS", "TYPE", "FIRMWARE", "PROVIDER"]
    names += ["ADDRESS", "OWNER"] if wide else []
    names += ["SUBSETTINGS", "STATUS"]
    names += ["REASON", "UPDATED"] if wide else []
    return names


def cells(m: Member, wide: bool, *, joiner: str = ", ") -> list[str]:
    """One row of the members table, as text; lists joined by ``joiner``."""
    row = [
        m.gateway_id,
        joiner.join(m.station_ids),
        joiner.join(m.port_ids),
        m.type,
        m.firmware or "",
        m.provider,
    ]
    row += [m.address, m.owner] if wide else []
    row += [
        joiner.join(f"{k}={value_text(v)}" for k, v in m.subsettings.items()),
        status_text(m),
    ]
    row += [m.reason, utc_text(m.updated_at) or ""] if wide else []
    return [cell or EMPTY for cell in row]


def status_text(m: Member) -> str:
    text = m.status.value if m.status is not None else status_label(NO_STATUS)
    if m.reboot_pending:
        text += " (reboot pending)"
    return text if m.declared else f"{text} (entry removed)"


def group_heading(g: ProfileCounts) -> str:
    counts = status_counts(g.statuses)
    return f"{g.profile or NO_PROFILE}: {plural(g.members, 'member')}" + (
        f" ({counts})" if counts else ""
    )


def mismatch_lines(rows: Sequence[Member]) -> list[str]:
    """``ID  KEY: live X, expected Y``: each differing key of the Mismatch members among ``rows``."""
    return [
        f"{m.gateway_id}  {key}: live {_shown(live)}, expected {_shown(expected)}"
        for m in rows
        for key, live, expected in m.mismatch
    ]


def _shown(value: Any) -> str:
    return value_text(value) or "(empty)"


def _counts_header(v: Listing) -> list[str]:
    return [key for key in STATUS_KEYS if any(g.statuses[key] for g in v.groups)]


def text(v: Listing, *, wide: bool = False) -> str:
    """Plain aligned text: the summary, counts per profile, then each profile's members."""
    lines = [summary_line(v)]
    if not v.groups:
        return lines[0] + "\n"
    keys = _counts_header(v)
    counts = aligned(
        ["PROFILE", "MEMBERS", *(status_label(k).upper() for k in keys)],
        [
            [g.profile or NO_PROFILE, str(g.members), *(str(g.statuses[k]) for k in keys)]
            for g in v.groups
        ],
        numeric=range(1, 2 + len(keys)),
    )
    lines += ["", *counts]
    for g, rows in grouped(v):
        if rows:
            lines += ["", group_heading(g)]
            lines += aligned(columns(wide), [cells(m, wide) for m in rows])
            drift = mismatch_lines(rows)
            if drift:
                lines += ["", MISMATCH_HEADING, *(f"  {line}" for line in drift)]
    return "\n".join(lines) + "\n"


def aligned(
    header: Sequence[str], rows: Sequence[Sequence[str]], *, numeric: Iterable[int] = ()
) -> list[str]:
    """Columns padded to their widest cell, two spaces apart; ``numeric`` columns right-aligned."""
    right = set(numeric)
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    return [
        "  ".join(
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in (header, *rows)
    ]


# --- terminal --------------------------------------------------------------------------------


def rich_print(v: Listing, console: Console, *, wide: bool = False) -> None:
    """The same content as :func:`text`, as ``rich`` tables with statuses in colour."""
    console.print(Text(summary_line(v), style="bold"))
    if not v.groups:
        return
    keys = _counts_header(v)
    counts = Table(box=box.SIMPLE_HEAD, show_edge=False)
    counts.add_column("profile")
    counts.add_column("members", justify="right")
    for key in keys:
        counts.add_column(status_label(key), justify="right", style=STATUS_STYLES[key])
    for g in v.groups:
        counts.add_row(
            g.profile or NO_PROFILE,
            str(g.members),
            *(str(g.statuses[k]) if g.statuses[k] else "" for k in keys),
        )
    console.print(counts)
    for g, rows in grouped(v):
        if not rows:
            continue
        table = Table(
            title=group_heading(g), title_justify="left", title_style="bold", box=box.SIMPLE_HEAD
        )
        for name in columns(wide):
            # Fold rather than cut: an id or a value must never lose characters.
            table.add_column(name.lower(), overflow="fold", no_wrap=name in ("GATEWAY", "STATUS"))
        status_column = columns(wide).index("STATUS")
        for m in rows:
            # One station, port or subsetting per line: a terminal table wraps, a pipe must not.
            row: list[str | Text] = list(cells(m, wide, joiner="\n"))
            row[status_column] = Text(str(row[status_column]), style=STATUS_STYLES[m.status_key])
            table.add_row(*row)
        console.print(table)
        drift = mismatch_lines(rows)
        if drift:
            console.print(Text(MISMATCH_HEADING, style=STATUS_STYLES["Mismatch"]))
            for line in drift:
                console.print(Text(f"  {line}"), soft_wrap=True)


def echo(v: Listing, *, notes: Sequence[str] = (), output_format: str, wide: bool) -> None:
    """Print ``v`` to stdout; in text, the notes go to stderr so a pipe gets only the table."""
    if output_format == "json":
        click.echo(json.dumps(as_json(v, notes), indent=2, ensure_ascii=False))
        return
    console = Console()
    if console.is_terminal:
        rich_print(v, console, wide=wide)
    else:
        click.echo(text(v, wide=wide), nl=False)
    for note in [*notes, *v.notes]:
        click.echo(f"note: {note}", err=True)


def parse_query(text: str, repo: Repo) -> Query:
    """``text`` parsed against ``repo``'s catalog (``type:`` takes any of its types, ``catalog.d``
    included); a malformed query is printed with :func:`query_error` and exits 2."""
    try:
        return parse(text, types=repo.catalog.types)
    except QueryError as exc:
        click.echo(query_error(exc), err=True)
        sys.exit(2)


def query_error(exc: QueryError) -> str:
    """A malformed query for people: the message, the query, and a caret under the trouble."""
    return (
        f"reconciler: bad query at column {exc.position + 1}: {exc.message}\n"
        f"  {exc.query}\n"
        f"  {' ' * exc.position}^"
    )


def view_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """``--format text|json`` and ``--wide``, shared by ``status`` and ``search``."""
    function = click.option(
        "--wide",
        is_flag=True,
        envvar="RECONCILER_WIDE",
        help="Also address, owner, reason and the time of the last status change.",
    )(function)
    return text_or_json()(function)
