"""OCPP 1.6 and 2.0.1 charge points configured end to end: head-end, simulated chargers, apply, daemon.

Everything real over loopback: the OCPP head-end (``reconciler ocpp serve``'s
server) with its WebSocket and HTTP faces, simulated charge points speaking
OCPP-J through the ``ocpp`` library's schemas, ``reconciler apply`` as a
command, and the daemon reading a git repository.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from reconciler.daemon.settings import DaemonSettings
from reconciler.testing.chargers import ChargersHandle, running_chargers
from reconciler.testing.ocpp_headend import HeadendHandle, running_headend
from tests.daemon.conftest import DaemonThread, metric, settled
from tests.ocpp.e2e import (
    PROFILE_16,
    PROFILE_201,
    TOKEN,
    apply_command,
    charger_types,
    flat,
    reconciler,
    wait_for,
    write_repo,
)

pytestmark = pytest.mark.timeout(240)


def inventory(headend: HeadendHandle) -> list[dict[str, Any]]:
    request = urllib.request.Request(
        headend.api_url + "/api/v1/gateways?limit=500",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return list(json.loads(answer.read())["items"])


def all_known(headend: HeadendHandle, chargers: ChargersHandle) -> bool:
    known = {g["id"] for g in inventory(headend) if g.get("connected")}
    return known >= set(chargers.ids)


def test_both_protocols_are_configured_through_apply_and_read_back(tmp_path: Path) -> None:
    with (
        running_headend(tmp_path / "headend.db", accept_unknown=True, token=TOKEN) as headend,
        running_chargers(headend.ocpp_url.rstrip("/"), count=6, protocol="mixed") as chargers,
    ):
        wait_for(lambda: all_known(headend, chargers), what="6 chargers in the inventory")
        types = dict(charger_types(chargers.ids))
        assert {g["id"]: g["type"] for g in inventory(headend)} == types
        repo = tmp_path / "repo"
        write_repo(repo, types.items())
        state = tmp_path / "state.db"
        done = subprocess.run(
            apply_command(repo, headend.api_url, state),
            capture_output=True,
            text=True,
            timeout=120,
            env=_env(),
        )
        assert done.returncode == 0, done.stdout + done.stderr
        for charger_id, gateway_type in types.items():
            live = chargers.charger(charger_id)
            expected = flat(PROFILE_16 if gateway_type == "OCPP16" else PROFILE_201)
            assert {k: live["parameters"][k] for k in expected} == expected
            counters = live["counters"]
            if gateway_type == "OCPP16":
                assert counters["ChangeConfiguration"] == len(expected)  # one call per key
                assert counters["GetConfiguration"] >= 1  # read back after acceptance
            else:
                assert counters["SetVariables.entries"] == len(expected)
                assert counters["SetVariables"] == 1  # within ItemsPerMessage: one call
        status = reconciler("status", str(repo), "--state", str(state), "--format", "json")
        members = json.loads(status.stdout)["members"]
        assert {m["id"]: m["status"] for m in members} == dict.fromkeys(types, "Accepted")


def test_a_value_lost_in_a_reboot_or_an_update_is_restored_within_seconds(
    tmp_path: Path,
) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    with (
        running_headend(tmp_path / "headend.db", accept_unknown=True, token=TOKEN) as headend,
        running_chargers(headend.ocpp_url.rstrip("/"), count=2, protocol="mixed") as chargers,
    ):
        wait_for(lambda: all_known(headend, chargers), what="2 chargers in the inventory")
        types = dict(charger_types(chargers.ids))
        repo = tmp_path / "repo"
        head = write_repo(repo, types.items(), rollout={"on_mismatch": "reapply"})
        daemon = DaemonThread(
            DaemonSettings(
                repo=str(repo),
                headend_url=headend.api_url,
                state=tmp_path / "state" / "state.db",
                report_dir=tmp_path / "report",
                listen="127.0.0.1:0",
                readback_interval_s=300.0,  # only the events can explain a read-back within seconds
                report_interval_s=0.1,
                retry_backoff_s=0.2,
                retry_backoff_max_s=1.0,
                poll_interval_s=30.0,
            ),
            secrets,
        ).start()
        try:
            wait_for(lambda: settled(daemon, head), timeout=60, what="the first rollout")
            one_six = next(c for c, t in types.items() if t == "OCPP16")
            two_oh = next(c for c, t in types.items() if t == "OCPP201")
            # A reboot that lost a value (HeartbeatInterval would come back through the
            # BootNotification answer by itself, so another key is the test).
            chargers.drift(one_six, {"ConnectionTimeOut": 60})
            started = time.monotonic()
            chargers.reboot(one_six)
            wait_for(
                lambda: chargers.charger(one_six)["parameters"]["ConnectionTimeOut"] == 300,
                timeout=20,
                what="ConnectionTimeOut restored after the reboot",
            )
            first = time.monotonic() - started
            # A firmware update that reset a value.
            chargers.drift(two_oh, {"TxCtrlr.EVConnectionTimeOut": 30})
            started = time.monotonic()
            chargers.firmware(two_oh, "1.1.0")
            wait_for(
                lambda: (
                    chargers.charger(two_oh)["parameters"]["TxCtrlr.EVConnectionTimeOut"] == 300
                ),
                timeout=20,
                what="EVConnectionTimeOut restored after the update",
            )
            second = time.monotonic() - started
            assert metric(daemon, "reconciler_rollout_transitions_total", status="Mismatch") >= 2
            # Read back within 5 s of the event; the reapply job adds a round trip or two.
            assert first < 8 and second < 8, (first, second)
            wait_for(
                lambda: any(
                    g["id"] == two_oh and g["firmware"] == "1.1.0" for g in inventory(headend)
                ),
                what="the new firmware in the inventory",
            )
        finally:
            daemon.stop()


def test_when_idle_never_resets_during_a_session_and_resets_after_it(tmp_path: Path) -> None:
    key = "OCPPCommCtrlr.NetworkConfigurationPriority"
    with (
        running_headend(tmp_path / "headend.db", accept_unknown=True, token=TOKEN) as headend,
        running_chargers(headend.ocpp_url.rstrip("/"), count=1, protocol="ocpp2.0.1") as chargers,
    ):
        wait_for(lambda: all_known(headend, chargers), what="the charger in the inventory")
        (charger_id,) = chargers.ids
        assert chargers.transaction(charger_id, True)
        wait_for(lambda: inventory(headend)[0].get("busy"), what="the session seen as busy")
        repo = tmp_path / "repo"
        write_repo(
            repo,
            [(charger_id, "OCPP201")],
            blocks={"OCPP201": {"network": {key: "1,0"}}},
            rollout={"reboot": "when_idle"},
        )
        apply = subprocess.Popen(
            apply_command(repo, headend.api_url, tmp_path / "state.db"),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=_env(),
        )
        try:
            wait_for(
                lambda: chargers.charger(charger_id)["pending_reboot"],
                what="the value taken, pending a reboot",
            )
            time.sleep(3)  # ample time for a wrong Reset to arrive
            assert chargers.charger(charger_id)["counters"].get("Reset", 0) == 0
            assert apply.poll() is None  # the job waits: sent, not accepted
            assert chargers.transaction(charger_id, False)
            output, _ = apply.communicate(timeout=60)
        finally:
            if apply.poll() is None:
                apply.kill()
        assert apply.returncode == 0, output
        live = chargers.charger(charger_id)
        assert live["counters"]["Reset"] == 1
        assert live["parameters"][key] == "1,0"
        assert not live["pending_reboot"]


def test_reboot_never_leaves_the_gateway_accepted_with_a_reboot_pending(tmp_path: Path) -> None:
    key = "OCPPCommCtrlr.NetworkConfigurationPriority"
    with (
        running_headend(tmp_path / "headend.db", accept_unknown=True, token=TOKEN) as headend,
        running_chargers(headend.ocpp_url.rstrip("/"), count=1, protocol="ocpp2.0.1") as chargers,
    ):
        wait_for(lambda: all_known(headend, chargers), what="the charger in the inventory")
        (charger_id,) = chargers.ids
        repo = tmp_path / "repo"
        write_repo(repo, [(charger_id, "OCPP201")], blocks={"OCPP201": {"network": {key: "1,0"}}})
        state = tmp_path / "state.db"
        done = reconciler("apply", str(repo), "--headend", headend.api_url, "--state", str(state))
        assert done.returncode == 0, done.stdout + done.stderr
        assert chargers.charger(charger_id)["counters"].get("Reset", 0) == 0
        status = reconciler("status", str(repo), "--state", str(state), "--format", "json")
        (member,) = json.loads(status.stdout)["members"]
        assert (member["status"], member["reboot_pending"]) == ("Accepted", [key])
        text = reconciler("status", str(repo), "--state", str(state))
        assert "Accepted (reboot pending)" in text.stdout


def _env() -> dict[str, str]:
    import os

    return {**os.environ, "RECONCILER_HEADEND_TOKEN": TOKEN, "NO_COLOR": "1"}
