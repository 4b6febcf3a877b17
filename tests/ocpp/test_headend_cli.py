"""``reconciler ocpp serve`` as a command: help, a real run in a subprocess, SIGTERM, kill -9."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.drivers.base import JobRequest
from reconciler.testing.ocpp_headend import HeadendHandle, headend_process
from tests.ocpp.charger_doubles import Fake201, connect, driver_for, final_status, run

pytestmark = pytest.mark.timeout(120)


def test_help_names_every_option() -> None:
    result = CliRunner().invoke(cli, ["ocpp", "serve", "--help"])
    assert result.exit_code == 0, result.output
    for option in (
        "--listen-ocpp", "--listen", "--state", "--tls-cert", "--tls-key", "--accept-unknown",
        "--repo", "--identities", "--authorize", "--call-timeout", "--max-frame-bytes",
        "--max-messages-per-s", "--job-retention", "--upstream", "--upstream-ca",
        "--upstream-cert", "--upstream-key", "--upstream-user-from", "--upstream-wait", "--token",
    ):  # fmt: skip
        assert option in result.output


def test_a_bad_identities_file_is_named_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "ids.yaml"
    bad.write_text("chargers:\n  - id: CP-1\n  - id: 'bad id!'\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "reconciler", "ocpp", "serve", "--state", str(tmp_path / "s.db"),
         "--identities", str(bad), "--listen-ocpp", "127.0.0.1:0", "--listen", "127.0.0.1:0"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert f"{bad}:3:" in result.stderr


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_a_database_url_as_state_is_refused_without_creating_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """The daemon's RECONCILER_STATE may be a PostgreSQL URL; the head-end's state is a file."""
    monkeypatch.chdir(tmp_path)
    url = "postgresql://reconciler:s3cret@127.0.0.1:5432/fleet"
    args = ["ocpp", "serve", "--listen-ocpp", "127.0.0.1:0", "--listen", "127.0.0.1:0"]
    if how == "flag":
        result = CliRunner().invoke(cli, [*args, "--state", url])
    else:
        result = CliRunner().invoke(cli, args, env={"RECONCILER_STATE": url})
    assert result.exit_code == 2
    where = " (from RECONCILER_STATE)" if how == "environment" else ""
    assert f"a URL{where}; give a SQLite file" in result.output
    assert "s3cret" not in result.output
    assert list(tmp_path.iterdir()) == []  # no 'postgresql:' folder, no key file


def test_a_real_run_prints_its_urls_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    async def use(h: HeadendHandle) -> str:
        async with connect(h.ocpp_url, "CP-1", Fake201) as cp:
            await cp.boot()
            async with driver_for(h) as driver:
                sub = await driver.submit_job(JobRequest("CP-1", {"Vendor.Key": 5}, "k"))
                assert (await final_status(driver, str(sub.job_id))).status == "accepted"
                return str(sub.job_id)

    async def check(h: HeadendHandle, job_id: str) -> None:
        async with driver_for(h) as driver:
            # the acknowledged job survived; its last answers may not have (replayed, idempotent)
            (status,) = await driver.job_status([job_id])
            assert status.status in ("requested", "accepted")
            assert [g.id for g in await driver.inventory()] == ["CP-1"]
            async with connect(h.ocpp_url, "CP-1", Fake201):
                assert (await final_status(driver, job_id)).status == "accepted"

    state = tmp_path / "state.db"
    with headend_process(state, "--accept-unknown", token="tok-4711") as h:
        assert h.ocpp_url.startswith("ws://127.0.0.1:") and h.ocpp_url.endswith("/ocpp/")
        assert h.api_url.startswith("http://127.0.0.1:")
        job_id = run(use(h))
        assert h.process is not None
        h.process.send_signal(signal.SIGKILL)  # kill -9: the acknowledged job survives
        h.process.wait(timeout=10)
    with headend_process(state, "--accept-unknown", token="tok-4711") as h:
        run(check(h, job_id))
        assert h.process is not None
        started = time.monotonic()
        h.process.send_signal(signal.SIGTERM)
        assert h.process.wait(timeout=15) == 0
        assert time.monotonic() - started < 10
