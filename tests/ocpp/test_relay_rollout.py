"""A rollout through the relay: simulated chargers, the head-end relaying to an upstream that calls too.

Everything real over loopback, as in :mod:`tests.ocpp.test_end_to_end`: the
head-end with ``upstream=...``, simulated charge points of both protocols,
``reconciler apply`` as a command, and the test upstream central system
(:mod:`tests.ocpp.upstream`) sending calls of its own throughout, killed and
restarted in the middle of the rollout.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from reconciler.testing.chargers import running_chargers
from reconciler.testing.ocpp_headend import HeadendHandle, running_headend
from tests.ocpp.e2e import TOKEN, apply_command, charger_types, reconciler, wait_for, write_repo
from tests.ocpp.test_end_to_end import _env, all_known
from tests.ocpp.upstream import Upstream, UpstreamThread

pytestmark = pytest.mark.timeout(120)


def _metric(headend: HeadendHandle, name: str) -> float:
    with urllib.request.urlopen(headend.api_url + "/metrics", timeout=10) as answer:
        for line in answer.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
    return 0.0


def test_a_rollout_through_the_relay_converges_across_an_upstream_restart(tmp_path: Path) -> None:
    upstream = Upstream(interval=300)
    with (
        UpstreamThread(upstream) as up, running_headend(
            tmp_path / "headend.db", accept_unknown=True, token=TOKEN, upstream=up.url,
            upstream_wait_s=1.0, upstream_retry_max_s=0.5, call_timeout_s=5.0,
        ) as headend,
        running_chargers(headend.ocpp_url.rstrip("/"), count=6, protocol="mixed") as chargers,
    ):  # fmt: skip
        wait_for(lambda: all_known(headend, chargers), what="6 chargers in the inventory")
        ids = chargers.ids
        wait_for(
            lambda: up.snapshot(lambda u: all(u.seen_of(c).of("StatusNotification") for c in ids)),
            what="every boot and status relayed upstream",
        )
        up.chatter(0.2)
        repo = tmp_path / "repo"
        write_repo(repo, charger_types(ids))
        apply = subprocess.Popen(
            apply_command(repo, headend.api_url, tmp_path / "state.db"),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env(),
        )  # fmt: skip
        try:
            time.sleep(0.3)
            up.kill()  # mid-rollout: the upstream crashes
            busy = ids[0]
            assert chargers.transaction(busy, True)  # a charger CALL during the outage
            wait_for(
                lambda: _metric(headend, "reconciler_ocpp_upstream_timeouts_total") >= 1,
                what="the bounded-wait CALLERROR",
            )
            up.restart()
            output, _ = apply.communicate(timeout=90)
        finally:
            if apply.poll() is None:
                apply.kill()
        assert apply.returncode == 0, output
        wait_for(
            lambda: up.snapshot(lambda u: all(u.connections_of(c) >= 2 for c in ids)),
            what="every charger linked upstream again",
        )
        # A charger that reconnects gets a new upstream connection.
        before = up.snapshot(lambda u: u.connections_of(ids[1]))
        chargers.disconnect(ids[1], for_s=0.3)
        wait_for(
            lambda: up.snapshot(lambda u: u.connections_of(ids[1])) > before,
            what="a new upstream connection after the reconnect",
        )
        wait_for(
            lambda: up.snapshot(lambda u: u.outcomes["ok"] >= 3 * len(ids)),
            what="the upstream's own calls answered",
        )
        assert up.snapshot(lambda u: u.outcomes["timeout"]) == 0
        # Start/Stop or TransactionEvent after the outage reach the upstream too.
        assert chargers.transaction(busy, False)
        wait_for(
            lambda: up.snapshot(
                lambda u: (
                    u.seen_of(busy).of("StopTransaction") or u.seen_of(busy).of("TransactionEvent")
                )
            ),
            what="the transaction's end relayed",
        )
        status = reconciler(
            "status", str(repo), "--state", str(tmp_path / "state.db"), "--format", "json"
        )
        members = json.loads(status.stdout)["members"]
        assert {m["id"]: m["status"] for m in members} == dict.fromkeys(ids, "Accepted")
