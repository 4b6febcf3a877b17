"""The commands on a PostgreSQL state store: ``apply`` and ``retry`` lead and work, the views read it.

Real processes against the LG2WAN simulator and a throwaway PostgreSQL server
(the ``postgres_url`` fixture; skipped without PostgreSQL's server binaries).
The URLs carry a password (trust authentication ignores it): it must never
appear in any output.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from reconciler.model.state import ACTIVE, Status
from reconciler.store import open_store
from reconciler.store.base import SharedStore, shared_store
from reconciler.testing import SimulatorHandle, running_simulator
from tests.cli.test_apply_command import SECRETS
from tests.cli.test_apply_command import config_repo as config_repo
from tests.cli.test_apply_command import environment as environment
from tests.cli.test_apply_command import simulator as simulator

PASSWORD = "hunter2"


@pytest.fixture
def url(postgres_url: str) -> str:
    """The fixture's database, with a password in the URL."""
    scheme, rest = postgres_url.split("://", 1)
    user, host = rest.split("@", 1)
    return f"{scheme}://{user}:{PASSWORD}@{host}"


@pytest.fixture
def shown(postgres_url: str) -> str:
    """How messages name the store: ``postgresql://USER@HOST:PORT/DB`` (no password)."""
    return postgres_url


@pytest.fixture
def env(environment: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return {**environment, "RECONCILER_STATE_KEY_FILE": str(tmp_path / "state.key")}


@pytest.fixture
def store(url: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[SharedStore]:
    """A writable connection of the test's own to the same database (migrates its schema)."""
    monkeypatch.setenv("RECONCILER_STATE_KEY_FILE", env["RECONCILER_STATE_KEY_FILE"])
    opened = open_store(url)
    shared = shared_store(opened)
    assert shared is not None
    with closing(opened):
        yield shared


def reconciler(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert PASSWORD not in result.stdout + result.stderr, "the URL's password was shown"
    assert "Traceback" not in result.stderr, result.stderr
    for value in SECRETS.values():
        assert value not in result.stdout + result.stderr
    return result


def test_apply_rolls_out_on_postgresql_and_status_and_plan_read_it(
    config_repo: Path,
    simulator: SimulatorHandle,
    url: str,
    env: dict[str, str],
    store: SharedStore,
) -> None:
    applied = reconciler(env, "apply", str(config_repo), "--headend", simulator.url, "--state", url)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    states = store.applied()
    assert states and {s.status for s in states.values()} == {Status.ACCEPTED}
    assert simulator.counters()["jobs_created"] == len(states)
    assert store.leader().expires_in <= 0, "apply gave the lease up at its end"
    assert store.unowned() == 0

    status = reconciler(
        {**env, "RECONCILER_STATE": url}, "status", str(config_repo), "--format", "json"
    )
    assert status.returncode == 0, status.stderr
    members = {m["id"]: m for m in json.loads(status.stdout)["members"]}
    assert {i for i, m in members.items() if m["status"] == "Accepted"} == set(states)

    plan = reconciler(
        env, "plan", str(config_repo), "--state", url, "--format", "json", "--detailed-exitcode"
    )
    assert plan.returncode == 0, plan.stdout + plan.stderr
    summary = json.loads(plan.stdout)["summary"]
    assert summary["none"] == summary["gateways"] >= len(states), summary  # nothing to do

    found = reconciler(env, "search", "status:accepted", str(config_repo), "--state", url)
    assert found.returncode == 0, found.stderr

    again = reconciler(
        env, "retry", "public-ac", "--repo", str(config_repo), "--headend", simulator.url,
        "--state", url,
    )  # fmt: skip
    assert again.returncode == 1
    assert "nothing to retry" in again.stderr
    assert store.leader().expires_in <= 0, "retry gave the lease up"


def test_retry_on_postgresql_pushes_the_declined_members_again(
    config_repo: Path,
    simulator: SimulatorHandle,
    url: str,
    env: dict[str, str],
    store: SharedStore,
) -> None:
    simulator.set_faults(decline_rate=1.0)
    declined = reconciler(
        env, "apply", str(config_repo), "--headend", simulator.url, "--state", url
    )
    assert declined.returncode == 1, declined.stdout + declined.stderr
    members = {i for i, s in store.applied().items() if s.profile == "public-ac"}
    assert any(store.applied()[i].status is Status.DECLINED for i in members)
    simulator.set_faults(decline_rate=0.0)
    retried = reconciler(
        env, "retry", "public-ac", "--repo", str(config_repo), "--headend", simulator.url,
        "--state", url, "--format", "json",
    )  # fmt: skip
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert json.loads(retried.stdout)["result"] == "accepted"
    assert all(store.applied()[i].status is Status.ACCEPTED for i in members)
    assert store.leader().expires_in <= 0 and store.unowned() == 0


def test_apply_is_refused_while_a_daemon_leads_the_store(
    config_repo: Path,
    simulator: SimulatorHandle,
    url: str,
    shown: str,
    env: dict[str, str],
    store: SharedStore,
) -> None:
    assert store.lead("daemon-7f3a-0a1b2c3d", "daemon-7f3a", 60.0) is not None
    refused = reconciler(env, "apply", str(config_repo), "--headend", simulator.url, "--state", url)
    assert refused.returncode == 1
    assert refused.stderr == (
        f"reconciler: {shown}: replica daemon-7f3a leads this store (a `reconciler run` "
        "daemon); apply through its repository instead, or stop it\n"
    )
    assert refused.stdout == ""
    assert simulator.counters()["jobs_created"] == 0
    assert store.count() == 0 and store.rollouts() == []
    lease = store.leader()
    assert lease.name == "daemon-7f3a" and lease.expires_in > 0, "the daemon still leads"

    retry = reconciler(
        {**env, "RECONCILER_STATE": url}, "retry", "public-ac", "--repo", str(config_repo),
        "--headend", simulator.url,
    )  # fmt: skip
    assert retry.returncode == 1
    assert "replica daemon-7f3a leads this store" in retry.stderr
    assert len(retry.stderr.splitlines()) == 1


def test_apply_that_loses_the_lease_stops_with_one_line(
    config_repo: Path,
    url: str,
    postgres_url: str,
    env: dict[str, str],
    store: SharedStore,
    environment: dict[str, str],
) -> None:
    """Another replica takes the lease mid-rollout: apply stops, exit 1, statuses stay durable."""
    import psycopg

    with running_simulator(
        gateways_repo=config_repo, token=environment["RECONCILER_HEADEND_TOKEN"], job_step_ms=3000
    ) as slow:
        command = [sys.executable, "-m", "reconciler", "apply", str(config_repo)]
        running = subprocess.Popen(
            [*command, "--headend", slow.url, "--state", url],
            env={**env, "RECONCILER_LEASE_TERM": "1.5"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            while not any(s.status in ACTIVE for s in store.applied().values()):
                assert running.poll() is None, running.communicate()
                assert time.monotonic() < deadline, "no job started"
                time.sleep(0.1)
            with psycopg.connect(postgres_url, autocommit=True) as conn:
                conn.execute(
                    "UPDATE leader SET holder = 'daemon-9-0a1b2c3d', name = 'daemon-9', "
                    "epoch = epoch + 1, expires_at = clock_timestamp() + interval '60 s'"
                )
            out, err = running.communicate(timeout=60)
        finally:
            running.kill()
    assert running.returncode == 1, out + err
    assert PASSWORD not in out + err and "Traceback" not in err
    last = err.splitlines()[-1]
    assert last.startswith(f"reconciler: {postgres_url}: ") and "leader lease" in last, err
    assert store.leader().name == "daemon-9", "the new leader keeps the lease"
    assert any(s.status in ACTIVE for s in store.applied().values()), "left for a resume"


def test_an_unreachable_database_is_one_line_without_the_password(
    config_repo: Path, env: dict[str, str]
) -> None:
    down = f"postgresql://postgres:{PASSWORD}@127.0.0.1:1/nowhere"
    status = reconciler(env, "status", str(config_repo), "--state", down)
    assert status.returncode == 1
    assert "postgresql://postgres@127.0.0.1:1/nowhere" in status.stderr
    assert "cannot connect" in status.stderr
    applied = reconciler(
        env, "apply", str(config_repo), "--headend", "http://127.0.0.1:1", "--state", down
    )
    assert applied.returncode == 1
    assert applied.stderr.count("\n") == 1 and "cannot connect" in applied.stderr


def test_state_keeps_a_url_whole_and_a_path_a_path(tmp_path: Path) -> None:
    from reconciler.cli.common import StateLocation, describe

    kind = StateLocation()
    assert kind.convert("postgresql://u:p@h:5432/db", None, None) == "postgresql://u:p@h:5432/db"
    assert kind.convert(str(tmp_path / "s.db"), None, None) == tmp_path / "s.db"
    assert describe("postgres://u:p@h:5433/db") == "postgresql://u@h:5433/db"
    assert describe(tmp_path / "s.db") == str(tmp_path / "s.db")
