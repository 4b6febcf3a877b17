"""Reading the daemon's report as a user would: the summary and every member page it links to.

Used by the daemon's tests (``tests/daemon``) and the benchmarks: report.json
lists the member pages (``member_pages``); :func:`report_members` reads them
from the report directory in order, and :func:`with_members` returns the
summary with those rows under ``gateways`` (the shape tests compare against).
:func:`read_report` does both for a summary fetched live (``GET
/api/v1/status``), fetching it again when a page it lists was just replaced
by a newer layout (the pages are written before the summary).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any


def report_members(report: Mapping[str, Any], report_dir: Path) -> list[dict[str, Any]]:
    """Every member row of the pages ``report`` lists, read from ``report_dir``, sorted by id."""
    rows: list[dict[str, Any]] = []
    for entry in report["member_pages"]:
        page = json.loads((report_dir / entry["json"]).read_text(encoding="utf-8"))
        rows += page["gateways"]
    return sorted(rows, key=lambda g: str(g["id"]))


def with_members(report: Mapping[str, Any], report_dir: Path) -> dict[str, Any]:
    """``report`` with its members' rows under ``gateways``."""
    return {**report, "gateways": report_members(report, report_dir)}


def read_report(fetch: Callable[[], Mapping[str, Any]], report_dir: Path) -> dict[str, Any]:
    """:func:`with_members` of the summary ``fetch`` returns, asked again while a page is missing."""
    for _ in range(50):
        try:
            return with_members(fetch(), report_dir)
        except FileNotFoundError:
            time.sleep(0.1)
    return with_members(fetch(), report_dir)
