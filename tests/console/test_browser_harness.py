"""The browser harness works: Chromium opens the real daemon's console offline.

A real daemon rolls the example repository out to the simulator over loopback;
Chromium (tests/console/conftest.py) opens the static report's page (``/report.html``), sees the profiles table,
searches with the ``#q`` box and shows the matches the daemon found, without
a single request off loopback.  The screenshots land in
test-artifacts/screenshots/ for reviewers.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.testing import SimulatorHandle
from tests.console.conftest import screenshot
from tests.daemon.conftest import DaemonThread, get_json, git, settled, wait_for

if TYPE_CHECKING:
    from playwright.sync_api import Page

StartDaemon = Callable[..., DaemonThread]


def rolled_out(start_daemon: StartDaemon, config_repo: Path) -> DaemonThread:
    """A daemon whose report shows the example repository rolled out."""
    daemon = start_daemon()
    sha = git(config_repo, "rev-parse", "HEAD")
    wait_for(lambda: settled(daemon, sha), timeout=60, what="the example repository rolled out")
    return daemon


def test_chromium_shows_the_console_and_its_search_offline(
    start_daemon: StartDaemon,
    config_repo: Path,
    simulator: SimulatorHandle,
    page: Page,
    external_requests: list[str],
    record_property: Callable[[str, object], None],
) -> None:
    from playwright.sync_api import expect

    daemon = rolled_out(start_daemon, config_repo)
    profiles = [p["name"] for p in daemon.report()["profiles"]]
    query = "status:accepted"
    found = get_json(
        daemon.url + "/api/v1/members?" + urllib.parse.urlencode({"q": query, "per_page": "1000"})
    )
    assert found["matched"] > 0, "the example rollout accepts some gateways"

    page.goto(daemon.url + "/report.html")
    expect(page).to_have_title("Reconciler report")
    overview = page.locator("h2", has_text="Profiles").locator("xpath=following-sibling::table[1]")
    expect(overview.locator("tbody tr")).to_have_count(len(profiles))
    expect(overview.locator("tbody tr td:first-child")).to_have_text(profiles)

    page.locator("#q").press_sequentially(query)
    expect(page.locator("#matches")).to_have_text(
        re.compile(rf"^{found['matched']} of {found['total']} gateways match$")
    )
    rows = page.locator("#results-body tr")
    expect(rows).to_have_count(min(found["matched"], 200))
    expect(page.locator("#results-body td.s-Accepted")).to_have_count(min(found["matched"], 200))

    assert external_requests == []
    shots = screenshot(page, "harness-search")
    assert all(s.path.stat().st_size > 0 for s in shots)
    # Information only (the static report is wide by design; the console is not):
    # a scroll width above the viewport's means a horizontal scrollbar at that width.
    for shot in shots:
        record_property(f"scroll_width_at_{shot.viewport_width}", shot.scroll_width)
        print(f"{shot.path.name}: scroll width {shot.scroll_width} px")


def test_the_page_fixture_aborts_and_records_requests_off_loopback(
    page: Page, external_requests: list[str]
) -> None:
    page.set_content(
        '<html><head><link rel="stylesheet" href="https://cdn.example.invalid/x.css">'
        "</head><body><img src='http://192.0.2.1/logo.png'></body></html>",
        wait_until="load",
    )
    page.evaluate(
        "() => new Promise(done => { const s = new WebSocket('wss://cdn.example.invalid/live');"
        " s.onclose = s.onerror = done; })"
    )
    assert sorted(external_requests) == [
        "http://192.0.2.1/logo.png",
        "https://cdn.example.invalid/x.css",
        "wss://cdn.example.invalid/live",
    ]
