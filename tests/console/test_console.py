"""The web console in Chromium, against a real daemon rolling the example out to the simulator.

Every screen renders, offline, without a horizontal scrollbar at 1,400 and
420 px (screenshots of each land in test-artifacts/screenshots/); search by
typing, filters and their OR, the URL round-trip and pagination; a changed
profile value shows pending after the commit and applied after the rollout,
without a reload; a Mismatch shows both values; Retry Upload asks for the
token, refuses a wrong one, and starts with the right one.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from reconciler.testing import SimulatorHandle
from tests.console.conftest import screenshot
from tests.daemon.conftest import (
    ADMIN,
    SECRETS,
    DaemonThread,
    commit,
    get_json,
    git,
    replace,
    settled,
    wait_for,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page

StartDaemon = Callable[..., DaemonThread]


def rolled_out(start_daemon: StartDaemon, config_repo: Path, **overrides: Any) -> DaemonThread:
    daemon = start_daemon(**overrides)
    sha = git(config_repo, "rev-parse", "HEAD")
    wait_for(lambda: settled(daemon, sha), timeout=60, what="the example rolled out")
    return daemon


def shots_fit(page: Page, name: str) -> None:
    """Screenshots at both widths; neither scrolls sideways; no secret on the page."""
    text = page.content()
    for secret_name, value in SECRETS.items():
        assert value not in text and secret_name not in text, f"{secret_name} on {page.url}"
    for shot in screenshot(page, name):
        assert shot.scroll_width <= shot.viewport_width, (
            f"{name} is {shot.scroll_width} px wide at {shot.viewport_width} px"
        )
    page.set_viewport_size({"width": 1400, "height": 900})


def test_every_screen_renders_offline_at_both_widths(
    start_daemon: StartDaemon,
    config_repo: Path,
    simulator: SimulatorHandle,
    page: Page,
    external_requests: list[str],
) -> None:
    from playwright.sync_api import expect

    daemon = rolled_out(start_daemon, config_repo)
    overview = get_json(daemon.url + "/api/v1/profiles")
    names = [p["name"] for p in overview["profiles"]]

    page.goto(daemon.url + "/")
    expect(page).to_have_title("Profiles · Reconciler")
    expect(page.locator("table.profiles a.name")).to_have_text(names)
    expect(
        page.get_by_role("img", name=re.compile("^Every gateway by rollout status"))
    ).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("^Retry Upload for profile"))).to_have_count(
        len(names)
    )
    shots_fit(page, "console-profiles")

    page.get_by_role("link", name="workplace", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("workplace")
    expect(page.locator("nav.types a[aria-current=page]")).to_have_count(1)
    expect(page.locator("table.config tr.applied").first).to_be_visible()
    shots_fit(page, "console-configuration")

    page.get_by_role("link", name="Members").click()
    expect(page.locator("#matches")).to_contain_text("gateways match")
    first = page.locator("tbody.member").first
    first.get_by_role("button", name=re.compile("^Details of")).click()
    expect(first.locator("tr.more")).to_be_visible()
    expect(first.locator("tr.more")).to_contain_text("Address")
    shots_fit(page, "console-members")

    gateway_id = first.get_attribute("data-id")
    first.get_by_role("link", name=gateway_id).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(str(gateway_id))
    expect(page.get_by_role("heading", name="Effective configuration")).to_be_visible()
    expect(page.locator("table.history tbody tr").first).to_contain_text("Accepted")
    shots_fit(page, "console-gateway")

    page.get_by_role("link", name="Commits").click()
    expect(page.locator("table.commits tbody tr").first).to_contain_text("rolled out")
    shots_fit(page, "console-commits")

    page.get_by_role("link", name="Gateways").click()
    expect(page.locator("#matches")).to_have_text(
        re.compile(rf"^{overview['gateways']} of {overview['gateways']} gateways match")
    )
    shots_fit(page, "console-gateways")
    assert external_requests == []


def test_search_by_typing_filters_or_url_round_trip_and_pages(
    start_daemon: StartDaemon,
    config_repo: Path,
    simulator: SimulatorHandle,
    page: Page,
    external_requests: list[str],
) -> None:
    from playwright.sync_api import expect

    daemon = rolled_out(start_daemon, config_repo)

    def matched(**params: Any) -> int:
        query = urllib.parse.urlencode({**params, "per_page": 1000}, doseq=True)
        return int(get_json(f"{daemon.url}/api/v1/members?{query}")["matched"])

    page.goto(daemon.url + "/members")
    typed = "provider:chargenet"
    page.get_by_role("searchbox", name="Magic Search").press_sequentially(typed, delay=20)
    expect(page.locator("#matches")).to_have_text(
        re.compile(rf"^{matched(q=typed)} of \d+ gateways match")
    )
    expect(page).to_have_url(re.compile(r"q=provider%3Achargenet"))

    page.get_by_role("searchbox", name="Magic Search").fill("")
    types = page.locator("fieldset.facet", has=page.get_by_text("Type", exact=True))
    boxes = types.get_by_role("checkbox")
    first, second = boxes.nth(0).get_attribute("value"), boxes.nth(1).get_attribute("value")
    boxes.nth(0).check()
    expect(page.locator("#matches")).to_have_text(re.compile(rf"^{matched(type=[first])} of "))
    boxes.nth(1).check()
    both = matched(type=[first, second])
    assert both == matched(type=[first]) + matched(type=[second])
    expect(page.locator("#matches")).to_have_text(re.compile(rf"^{both} of "))
    expect(page).to_have_url(re.compile(rf"type={first}&type={second}"))

    # The URL alone brings the same view back (a bookmark, a reload, a shared link).
    url = page.url
    page.goto("about:blank")
    page.goto(url)
    expect(boxes.nth(0)).to_be_checked()
    expect(boxes.nth(1)).to_be_checked()
    expect(page.locator("#matches")).to_have_text(re.compile(rf"^{both} of "))

    # A malformed query gets the daemon's message, in place.
    page.get_by_role("searchbox", name="Magic Search").fill("status:sleeping")
    expect(page.locator("#query-error")).to_contain_text("status")

    # Pagination: one page of rows at a time, Next moves on, the URL says where.
    page.goto(daemon.url + "/members?per_page=10")
    expect(page.locator("tbody.member")).to_have_count(10)
    ids = page.locator("tbody.member").evaluate_all("els => els.map(e => e.dataset.id)")
    page.get_by_role("link", name="Next").click()
    expect(page).to_have_url(re.compile(r"page=2"))
    expect(page.locator("nav.pager")).to_contain_text("Page 2 of")
    later = page.locator("tbody.member").evaluate_all("els => els.map(e => e.dataset.id)")
    assert later and not set(later) & set(ids) and min(later) > max(ids)
    assert external_requests == []


@pytest.mark.parametrize("simulator", [{"job_step_ms": 2500}], indirect=True)
def test_a_change_is_pending_after_the_commit_and_applied_after_the_rollout(
    start_daemon: StartDaemon,
    config_repo: Path,
    simulator: SimulatorHandle,
    page: Page,
    external_requests: list[str],
) -> None:
    from playwright.sync_api import expect

    daemon = rolled_out(start_daemon, config_repo)
    page.goto(daemon.url + "/profiles/workplace?type=LSX")
    row = page.locator(
        "table.config tbody tr", has=page.get_by_text("ConnectionTimeOut", exact=True)
    )
    expect(row).to_have_class(re.compile(r"\bapplied\b"))
    old = row.locator("td.value").first.inner_text()
    new = "91" if old != "91" else "92"

    profile = config_repo / "profiles.d" / "workplace.yaml"
    text = profile.read_text(encoding="utf-8")
    line = re.search(r"(\n\s+ConnectionTimeOut: )(\d+)", text)
    assert line is not None
    sha = commit(
        config_repo,
        "workplace: ConnectionTimeOut",
        {"profiles.d/workplace.yaml": replace(line.group(0), line.group(1) + new)},
    )

    # No reload: the live region follows the daemon.
    expect(row).to_have_class(re.compile(r"\bpending\b"), timeout=20_000)
    expect(row.locator("td.value").first).to_have_text(new)
    expect(row.get_by_text("pending", exact=True)).to_be_visible()
    shots_fit(page, "console-pending")
    wait_for(lambda: settled(daemon, sha), timeout=60, what="the change rolled out")
    expect(row).to_have_class(re.compile(r"\bapplied\b"), timeout=20_000)
    expect(row.locator("td.value").nth(2)).to_have_text(new)
    assert external_requests == []


def test_a_mismatch_shows_both_values_and_retry_upload_needs_the_token(
    start_daemon: StartDaemon,
    config_repo: Path,
    simulator: SimulatorHandle,
    page: Page,
    external_requests: list[str],
) -> None:
    from playwright.sync_api import expect

    daemon = rolled_out(start_daemon, config_repo, admin_token=ADMIN, readback_interval_s=0.5)
    member = get_json(daemon.url + "/api/v1/members?profile=workplace&per_page=1")["members"][0]
    page.goto(daemon.url + "/profiles/workplace")
    retry = page.get_by_role("button", name="Retry Upload for profile workplace: nothing to retry")
    expect(retry).to_be_disabled()

    simulator.drift(member["id"], {"ConnectionTimeOut": 181})
    page.goto(daemon.url + f"/gateways/{member['id']}")
    drift = page.locator("table.mismatch tbody tr", has=page.get_by_text("ConnectionTimeOut"))
    expect(drift).to_be_visible(timeout=20_000)
    expect(drift.locator("td").nth(2)).to_have_text("181")
    expected = drift.locator("td").nth(1).inner_text()
    assert expected and expected != "181"
    shots_fit(page, "console-mismatch")

    page.goto(daemon.url + "/profiles/workplace")
    retry = page.get_by_role("button", name="Retry Upload for profile workplace", exact=True)
    expect(retry).to_be_enabled(timeout=20_000)
    retry.click()
    dialog = page.get_by_role("dialog", name="Admin token")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Token").fill("not-the-token")
    dialog.get_by_role("button", name="Retry Upload").click()
    expect(page.get_by_role("alert")).to_contain_text("wrong token")
    assert page.evaluate("sessionStorage.length") == 0, "a refused token is forgotten"

    retry.click()
    dialog.get_by_label("Token").fill(ADMIN)
    dialog.get_by_role("button", name="Retry Upload").click()
    expect(page.get_by_role("alert")).to_contain_text(
        "Retry Upload started for workplace: 1 gateways"
    )
    wait_for(
        lambda: get_json(f"{daemon.url}/api/v1/gateways/{member['id']}")["status"] == "Accepted",
        timeout=30,
        what="the retried gateway Accepted",
    )
    # Kept for the tab: the next click does not ask again (and is refused: nothing to retry).
    expect(
        page.get_by_role("button", name="Retry Upload for profile workplace: nothing to retry")
    ).to_be_visible(timeout=20_000)
    assert external_requests == []
