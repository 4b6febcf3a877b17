"""A live ``/metrics`` scrape of ``reconciler run`` passes ``promtool check metrics``.

The daemon runs as a process against the simulator and a small git config
repo, as an operator runs it; the scrape is taken after its first rollout, so
the labelled counters and histograms have series.  promtool's lint findings
(missing HELP, counters without ``_total``, non-base units, ...) make it exit
non-zero; none is accepted.  The process and Python series (memory, CPU, start
time: the dashboard's Resources row) must be there too: they come from
``/proc/self`` at scrape time, not from the registry's definitions.  The
dashboard test reuses :func:`daemon_url` and :func:`scraped_series`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.testing import SimulatorHandle
from tests.daemon.conftest import TOKEN, get_json, wait_for
from tests.deploy.conftest import exported_series, promtool

REQUIRED = {  # docs/reference/daemon.md
    "reconciler_gateways",
    "reconciler_last_commit_valid",
    "reconciler_applied_commit_timestamp_seconds",
    "reconciler_reconcile_duration_seconds_bucket",
    "reconciler_headend_requests_total",
    "reconciler_rollout_transitions_total",
    "reconciler_build_info",
    "reconciler_git_unsafe_repository",
    "process_resident_memory_bytes",
    "process_cpu_seconds_total",
    "process_start_time_seconds",
    "process_open_fds",
    "python_info",
}


def scrape(url: str) -> bytes:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        body: bytes = response.read()
    return body


def scraped_series(text: bytes) -> set[str]:
    """Series names with a sample in a scrape, and those of families it declares without one.

    A labelled counter that never counted (``reconciler_loop_failures_total``
    before any failure) has ``# TYPE`` but no sample yet: it is declared."""
    series = set()
    for line in text.decode().splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            suffixes = ("_bucket", "_sum", "_count") if kind == "histogram" else ("",)
            series |= {name + suffix for suffix in suffixes}
        elif line and not line.startswith("#"):
            series.add(line.split("{")[0].split(" ")[0])
    return series


@pytest.fixture
def daemon_url(
    tmp_path: Path, config_repo: Path, simulator: SimulatorHandle, secrets_dir: Path
) -> Iterator[str]:
    """``reconciler run`` as a subprocess on a free port, after its first rollout."""
    env = {
        **os.environ,
        "RECONCILER_HEADEND_TOKEN": TOKEN,
        "RECONCILER_SECRETS_DIR": str(secrets_dir),
        "RECONCILER_STATE": str(tmp_path / "state" / "state.db"),
        "RECONCILER_REPORT_DIR": str(tmp_path / "report"),
    }
    with (tmp_path / "run.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "run", "--repo", str(config_repo),
             "--headend", simulator.url, "--listen", "127.0.0.1:0"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=log,
        )  # fmt: skip
        try:
            assert process.stdout is not None
            line = process.stdout.readline().decode()
            assert "serving on" in line, line + (tmp_path / "run.log").read_text()
            url = line.rsplit(" ", 1)[-1].strip()
            wait_for(
                lambda: (
                    (r := get_json(url + "/api/v1/status"))["applied_commit"]
                    and not r["rollout_running"]
                ),
                timeout=60,
                what="the first rollout",
            )
            yield url
        finally:
            process.terminate()
            process.wait(15)
            if process.stdout is not None:
                process.stdout.close()


def test_promtool_check_metrics_passes_on_a_live_scrape_of_the_daemon(daemon_url: str) -> None:
    scraped = scrape(daemon_url)
    series = {
        line.split("{")[0].split(" ")[0]
        for line in scraped.decode().splitlines()
        if line and not line.startswith("#")
    }
    assert not REQUIRED - series, sorted(REQUIRED - series)
    assert series <= exported_series(), (
        "the dashboard and alert tests read the registry: keep it whole"
    )

    done = subprocess.run(
        [promtool(), "check", "metrics"], input=scraped, capture_output=True, timeout=30
    )
    assert done.returncode == 0, (done.stdout + done.stderr).decode()
    assert not (done.stdout + done.stderr).strip(), "promtool lint findings are not accepted"
