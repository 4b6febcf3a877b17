"""The probes answer while the daemon's loop is busy: HTTP is served by a thread of its own.

A real daemon against the simulator; its event loop is made to run one
callback of 3 s (as planning 100,000 gateways or writing their states once
did), and ``/healthz``, ``/readyz`` and ``/metrics`` must still answer at
once. What has to happen on the loop (a webhook's wake, a Retry Upload) is
handed over to it and still works.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from tests.daemon.conftest import TOKEN, DaemonThread, git, http, settled, wait_for

StartDaemon = Callable[..., DaemonThread]


def block_the_loop(daemon: DaemonThread, seconds: float) -> threading.Event:
    """Make the daemon's loop run one callback of ``seconds``; the event is set when it starts."""
    started = threading.Event()

    def busy() -> None:
        started.set()
        time.sleep(seconds)  # stands for seconds of CPU work on the loop's thread

    assert daemon._loop is not None
    daemon._loop.call_soon_threadsafe(busy)
    assert started.wait(10)
    return started


def test_the_probes_answer_at_once_while_the_loop_is_busy(
    start_daemon: StartDaemon, config_repo: Path
) -> None:
    daemon = start_daemon(admin_token=TOKEN)
    sha = git(config_repo, "rev-parse", "HEAD")
    wait_for(lambda: settled(daemon, sha), what="the first rollout")
    block_the_loop(daemon, 3.0)
    began = time.monotonic()
    for path in ("/healthz", "/readyz", "/metrics", "/api/v1/status", "/"):
        asked = time.monotonic()
        status, body = http(daemon.url + path)
        assert status == 200 and body, path
        assert time.monotonic() - asked < 1.0, f"{path} waited for the loop"
    assert time.monotonic() - began < 2.5, "every answer came while the loop was still busy"

    # What must run on the loop is handed to it: answered once the loop is free again.
    block_the_loop(daemon, 1.0)
    status, _ = http(
        daemon.url + "/api/v1/profiles/no-such-profile/retry",
        method="POST",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert status == 404
    status, _ = http(
        daemon.url + "/api/v1/profiles/fleet-depot/retry",
        method="POST",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert status == 409, "nothing to retry: counted on the loop, after the busy callback"
    status, _ = http(daemon.url + "/hooks/git", method="POST")
    assert status == 202
