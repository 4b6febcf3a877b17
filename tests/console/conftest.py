"""Browser tests of the daemon's web console: Chromium driven by Playwright, offline.

Fixtures:

* ``browser`` (session): Debian's ``/usr/bin/chromium`` launched headless by
  Playwright (``executable_path``; Playwright's own browser download is never
  used, so never run ``playwright install``).  Skipped when chromium or
  playwright is missing, except in CI (``CI`` set; ``.ci/run`` installs both),
  where it fails.
* ``external_requests``: the URLs of the requests (and WebSockets) a test's
  page tried to send to a host that is not loopback; all of them were aborted.
  ``assert external_requests == []`` says the console works offline (no CDN).
* ``page``: a fresh context and page in ``browser`` that aborts and records
  those requests into ``external_requests``.

Helpers: :func:`screenshot` saves full-page PNGs under ``test-artifacts/screenshots/``
(gitignored) at 1,400 and 420 px wide, for reviewers to look at after a run.

The daemon's fixtures (``config_repo``, ``secrets_dir``, ``simulator``,
``start_daemon``) are re-exported from tests/daemon/conftest.py.

Import Playwright's names in test modules under ``TYPE_CHECKING`` or inside
the test functions, so that a machine without playwright skips these tests
instead of failing to collect them.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn
from urllib.parse import urlsplit

import pytest

from tests.daemon.conftest import config_repo, secrets_dir, simulator, start_daemon

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Route, WebSocketRoute

__all__ = [  # fixtures shared with tests/daemon
    "config_repo",
    "secrets_dir",
    "simulator",
    "start_daemon",
]

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
WIDTHS = (1400, 420)
# Generous for a loaded 2-core machine: Playwright's defaults are 30 s (actions) and 5 s (expect).
LAUNCH_TIMEOUT_MS = 60_000
ACTION_TIMEOUT_MS = 20_000
EXPECT_TIMEOUT_MS = 15_000
LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}


def unavailable(reason: str) -> NoReturn:
    """Skip, or fail in CI (``.ci/run`` installs chromium and playwright)."""
    if os.environ.get("CI"):
        pytest.fail(reason + ", and CI must run the browser tests")
    pytest.skip(reason)


def is_loopback(url: str) -> bool:
    """``url`` goes to this machine's loopback (or is not a network URL: data:, blob:, about:)."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https", "ws", "wss"}:
        return True
    host = (parts.hostname or "").lower()
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def chromium_args() -> list[str]:
    args = []
    if os.geteuid() == 0:
        # Chromium refuses to start its sandbox as root ("Running as root without
        # --no-sandbox is not supported"); CI containers run as root.  The pages
        # are our own, served over loopback, with every other host aborted.
        args.append("--no-sandbox")
    shm = Path("/dev/shm")
    if not shm.is_dir() or shutil.disk_usage(shm).total < 512 * 1024 * 1024:
        # Docker's default /dev/shm is 64 MB: large pages then crash the renderer.
        args.append("--disable-dev-shm-usage")
    return args


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Debian chromium driven by Playwright (skipped without them, failed in CI).

    Module-scoped on purpose: Playwright's sync API keeps an asyncio loop running in
    the main thread while it is started, and every other test that calls
    ``asyncio.run`` would fail ("cannot be called from a running event loop") if it
    stayed started for the session.
    """
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        unavailable("playwright is not installed (pip install -e '.[test]')")
    if not os.access(CHROMIUM, os.X_OK):
        unavailable(f"{CHROMIUM} is not installed (apt-get install chromium; .ci/run does)")
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    with sync_playwright() as playwright:
        started = time.monotonic()
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=chromium_args(),
            timeout=LAUNCH_TIMEOUT_MS,
        )
        print(f"chromium {launched.version} launched in {time.monotonic() - started:.2f} s")
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def external_requests() -> list[str]:
    """URLs the test's ``page`` tried to reach off loopback (each one was aborted)."""
    return []


@pytest.fixture
def page(browser: Browser, external_requests: list[str]) -> Iterator[Page]:
    """A page in a fresh context; requests to hosts other than loopback are aborted and recorded."""
    # Service workers would fetch past the context's routes: blocked.
    context = browser.new_context(service_workers="block", viewport={"width": 1400, "height": 900})
    context.set_default_timeout(ACTION_TIMEOUT_MS)

    def guard(route: Route) -> None:
        url = route.request.url
        if is_loopback(url):
            route.continue_()
        else:
            external_requests.append(url)
            route.abort("blockedbyclient")

    def guard_socket(socket: WebSocketRoute) -> None:
        if is_loopback(socket.url):
            socket.connect_to_server()
        else:
            external_requests.append(socket.url)
            socket.close()

    context.route("**/*", guard)
    context.route_web_socket(re.compile(".*"), guard_socket)
    opened = context.new_page()
    try:
        yield opened
    finally:
        context.close()


@dataclass(frozen=True)
class Shot:
    """One saved screenshot, with the page's width as laid out in that viewport."""

    path: Path
    viewport_width: int
    scroll_width: int  # document width; above ``viewport_width`` means a horizontal scrollbar


def screenshot(page: Page, name: str, *, height: int = 900) -> list[Shot]:
    """Save full-page PNGs ``<name>-1400.png`` and ``<name>-420.png`` under test-artifacts/screenshots/.

    Leaves the page at the last width (420 px); returns each shot with the
    page's scroll width, for a test to record or assert.
    """
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "page"
    shots = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_function("w => window.innerWidth === w", arg=width)
        path = SCREENSHOTS / f"{stem}-{width}.png"
        page.screenshot(path=path, full_page=True)
        scroll_width = int(page.evaluate("document.documentElement.scrollWidth"))
        shots.append(Shot(path, width, scroll_width))
    return shots
