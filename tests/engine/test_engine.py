"""The rollout engine end to end against the real simulator over loopback HTTP, with a real store."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from reconciler.drivers.http import HttpDriver
from reconciler.drivers.settings import HeadendSettings
from reconciler.engine.rollouts import Engine, NothingToRetry, Outcome, TransitionHook
from reconciler.engine.settings import EngineSettings
from reconciler.loading.repos import load_repo
from reconciler.loading.sources import DirectorySource
from reconciler.model.files import AbortPolicy, RolloutPolicy
from reconciler.model.repos import Repo
from reconciler.model.state import Status
from reconciler.plan.planning import Planner
from reconciler.store.sqlite import SQLiteStore
from reconciler.testing import SimulatorHandle, running_simulator, write

TOKEN = "engine-test-token"
PROFILE = """\
name: fleet
parameters:
  LSX:
    backend:
      HeartbeatInterval: 600
    charging:
      MaxChargingCurrent: 16
  LSG:
    backend:
      HeartbeatInterval: 300
"""


def gateways(count: int) -> str:
    lines = ["gateways:"]
    for n in range(count):
        kind = "LSX" if n % 2 == 0 else "LSG"
        lines += [f"  - id: {kind}-{n:06d}", f"    type: {kind}", "    profile: fleet"]
    return "\n".join(lines) + "\n"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write(
        tmp_path / "config", {"profiles.d/fleet.yaml": PROFILE, "gateways.d/a.yaml": gateways(20)}
    )


@pytest.fixture
def simulator(config: Path) -> Iterator[Callable[..., SimulatorHandle]]:
    import contextlib

    with contextlib.ExitStack() as stack:

        def start(**options: Any) -> SimulatorHandle:
            merged = {
                "gateways_repo": config,
                "token": TOKEN,
                "job_step_ms": 5,
                "seed": 3,
                **options,
            }
            return stack.enter_context(running_simulator(**merged))

        yield start


FAST = EngineSettings(poll_interval_s=0.02, resubmit_backoff_s=0.01, submit_attempts=3)


def run(
    handle: SimulatorHandle,
    store: SQLiteStore,
    repo: Repo,
    *,
    policies: Mapping[str, RolloutPolicy] | None = None,
    action: str = "apply",
    settings: EngineSettings = FAST,
    secrets: Mapping[str, str] | None = None,
    after_inventory: Callable[[], object] | None = None,
    on_transition: TransitionHook | None = None,
) -> Outcome:
    async def go() -> Outcome:
        headend = HeadendSettings(
            base_url=handle.url,
            token=TOKEN,
            max_attempts=2,
            backoff_base_s=0.01,
            backoff_max_s=0.05,
            timeout_s=2,
        )
        async with HttpDriver(headend) as driver:
            inventory = {g.id: g for g in await driver.inventory()}
            if after_inventory is not None:
                after_inventory()
            engine = Engine(
                driver=driver,
                store=store,
                catalog=repo.catalog,
                resolve_secret=(secrets or {}).get,
                settings=settings,
                on_transition=on_transition,
            )
            chosen = dict(policies or {name: p.rollout for name, p in repo.profiles.items()})
            if action == "retry":
                return await engine.retry("fleet", policies=chosen)
            if action == "read_back":
                await engine.read_back()
                return await engine.repair(chosen)
            plan = Planner(repo.catalog).plan(repo, inventory, store.applied())
            return await engine.apply(plan, commit="c1", policies=chosen)

    return asyncio.run(go())


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    with SQLiteStore(tmp_path / "state.db") as opened:
        yield opened


def statuses(store: SQLiteStore) -> dict[Status, int]:
    counts: dict[Status, int] = {}
    for state in store.applied().values():
        counts[state.status] = counts.get(state.status, 0) + 1
    return counts


def test_every_gateway_moves_through_the_statuses_to_accepted(
    config: Path, simulator: Any, store: SQLiteStore
) -> None:
    handle = simulator()
    outcome = run(handle, store, load_repo(DirectorySource(config)))
    assert outcome.all_accepted
    assert statuses(store) == {Status.ACCEPTED: 20}
    history = [t.status for t in store.transitions("LSX-000000")]
    assert history == [Status.INITIAL, Status.REQUESTED, Status.SENT, Status.ACCEPTED]
    assert store.get("LSX-000000").accepted["HeartbeatInterval"] == 600  # type: ignore[union-attr]
    assert handle.counters()["jobs_created"] == 20


def test_a_second_apply_with_nothing_changed_sends_nothing(
    config: Path, simulator: Any, store: SQLiteStore
) -> None:
    handle = simulator()
    repo = load_repo(DirectorySource(config))
    run(handle, store, repo)
    again = run(handle, store, repo)
    assert again.groups == {}
    assert handle.counters()["jobs_created"] == 20


def test_transport_faults_are_retried_until_accepted(
    config: Path, simulator: Any, store: SQLiteStore
) -> None:
    handle = simulator(error_rate=0.3, throttle_rate=0.2, timeout_rate=0.1, timeout_mode="drop")
    outcome = run(handle, store, load_repo(DirectorySource(config)))
    assert outcome.all_accepted, outcome.counts()
    counters = handle.counters()
    assert counters["jobs_created"] == 20  # retried submissions replayed, not duplicated


def test_an_outage_longer_than_the_retries_declines_with_retries_exhausted(
    config: Path, simulator: Any, store: SQLiteStore
) -> None:
    handle = simulator()
    repo = load_repo(DirectorySource(config))
    # The outage starts once the inventory is read: every job submission fails.
    run(handle, store, repo, policies={}, after_inventory=lambda: handle.set_faults(error_rate=1.0))
    states = store.applied().values()
    assert {s.status for s in states} == {Status.DECLINED}
    assert all(s.reason.startswith("retries exhausted: ") for s in states)
    assert all(s.attempts == FAST.submit_attempts for s in states)


def test_jobs_the_simulator_forgets_are_resubmitted_once_with_their_keys_and_accepted(
    config: Path, simulator: Any, store: SQLiteStore
) -> None:
    handle = simulator()
    repo = load_repo(DirectorySource(config))
    forgotten: list[int] = []

    def restart(status: Status, count: int) -> None:
        # The head-end restarts without its job table right after taking the first batch.
        if status is Status.REQUESTED and not forgotten:
            forgotten.append(handle.forget())

    settings = FAST.model_copy(update={"lost_job_grace_s": 0.2})
    outcome = run(handle, store, repo, settings=settings, on_transition=restart)
    fleet = len(repo.gateways)
    assert forgotten == [fleet]
    assert outcome.all_accepted and statuses(store) == {Status.ACCEPTED: fleet}
    assert outcome.lost_jobs == fleet
    counters = handle.counters()
    # Resubmitted with the stored keys: the forgetful head-end creates each job once more.
    assert counters["jobs_created"] == 2 * fleet and counters["idempotent_replays"] == 0


def test_declines_keep_their_reason_and_are_not_retried_automatically(
    config: Path, simulator: Any, store: SQLiteStore
) -> None:
    handle = simulator(decline_rate=1.0)
    repo = load_repo(DirectorySource(config))
    run(handle, store, repo)
    assert statuses(store) == {Status.DECLINED: 20}
    assert all(s.reason for s in store.applied().values())
    created = handle.counters()["jobs_created"]
    assert run(handle, store, repo).groups == {}  # the plan leaves them alone
    assert handle.counters()["jobs_created"] == created


def test_retry_upload_is_refused_without_declined_or_mismatch_members(
    config: Path, simulator: Any, store: SQLiteStore
) -> None:
    handle = simulator()
    repo = load_repo(DirectorySource(config))
    run(handle, store, repo)
    with pytest.raises(NothingToRetry, match="nothing to retry"):
        run(handle, store, repo, action="retry")


def test_retry_upload_pushes_declined_members_again(
    config: Path, simulator: Any, store: SQLiteStore
) -> None:
    handle = simulator(decline_rate=1.0)
    repo = load_repo(DirectorySource(config))
    run(handle, store, repo)
    handle.set_faults(decline_rate=0.0)
    outcome = run(handle, store, repo, action="retry")
    assert outcome.all_accepted
    assert statuses(store) == {Status.ACCEPTED: 20}


def test_the_abort_policy_stops_starting_jobs_and_leaves_the_rest_initial(
    config: Path, simulator: Any, store: SQLiteStore
) -> None:
    handle = simulator(decline_rate=1.0)
    repo = load_repo(DirectorySource(config))
    policy = RolloutPolicy(
        max_in_flight=2, abort=AbortPolicy(min_attempted=4, max_declined_ratio=0.5)
    )
    outcome = run(handle, store, repo, policies={"fleet": policy})
    group = outcome.groups["fleet"]
    assert group.aborted.startswith("aborted: ")
    counts = statuses(store)
    assert counts[Status.INITIAL] >= 14 and counts[Status.DECLINED] <= 6
    assert [r.state for r in store.rollouts()] == ["aborted"]
    handle.set_faults(decline_rate=0.0)
    assert run(handle, store, repo, action="retry").all_accepted  # Retry Upload starts them
    assert statuses(store) == {Status.ACCEPTED: 20}


def test_a_key_outside_the_firmware_syntax_is_declined_by_the_headend(
    tmp_path: Path, simulator: Any, store: SQLiteStore
) -> None:
    config = write(
        tmp_path / "c2", {"profiles.d/fleet.yaml": PROFILE, "gateways.d/a.yaml": gateways(2)}
    )
    handle = simulator(gateways_repo=config)
    repo = load_repo(DirectorySource(config))

    async def go() -> None:
        headend = HeadendSettings(base_url=handle.url, token=TOKEN)
        async with HttpDriver(headend) as driver:
            inventory = {g.id: g for g in await driver.inventory()}
            lsx = inventory["LSX-000000"]
            # Pretend the gateway runs firmware 3.0.1: the planner then sends LightIntensity defaults...
            engine = Engine(
                driver=driver,
                store=store,
                catalog=repo.catalog,
                resolve_secret={}.get,
                settings=FAST,
            )
            plan = Planner(repo.catalog).plan(repo, inventory, {})
            forged = plan.gateways["LSX-000000"]
            forged.send = {**forged.send, "ApnName": "not-an-lsx-key"}
            await engine.apply(plan, commit="c1", policies={})
            del lsx

    asyncio.run(go())
    state = store.get("LSX-000000")
    assert state is not None and state.status is Status.DECLINED
    assert "ApnName" in state.reason


def roll_out_drift_and_read_back(
    config: Path, simulator: Any, store: SQLiteStore, live: dict[str, Any], on_mismatch: str
) -> Outcome:
    """Roll the fleet out, let LSX-000000's live values drift to ``live``, read back under the policy."""
    handle = simulator()
    repo = load_repo(DirectorySource(config))
    run(handle, store, repo)
    handle.drift("LSX-000000", live)
    policy = RolloutPolicy(on_mismatch=on_mismatch)  # type: ignore[arg-type]
    return run(handle, store, repo, action="read_back", policies={"fleet": policy})


def test_drift_is_detected_as_mismatch_and_reported(
    config: Path, simulator: Any, store: SQLiteStore
) -> None:
    roll_out_drift_and_read_back(config, simulator, store, {"HeartbeatInterval": 1234}, "report")
    state = store.get("LSX-000000")
    assert state is not None and state.status is Status.MISMATCH
    assert dict(state.mismatch) == {"HeartbeatInterval": 1234}
    assert "HeartbeatInterval" in state.reason


def test_drift_is_repaired_with_on_mismatch_reapply(
    config: Path, simulator: Any, store: SQLiteStore
) -> None:
    outcome = roll_out_drift_and_read_back(
        config, simulator, store, {"HeartbeatInterval": 1234}, "reapply"
    )
    assert outcome.all_accepted
    state = store.get("LSX-000000")
    assert state is not None and state.status is Status.ACCEPTED
    assert Status.MISMATCH in [t.status for t in store.transitions("LSX-000000")]


def test_values_read_back_as_strings_compare_by_catalog_type(
    config: Path, simulator: Any, store: SQLiteStore
) -> None:
    roll_out_drift_and_read_back(config, simulator, store, {"HeartbeatInterval": "600"}, "report")
    assert store.get("LSX-000000").status is Status.ACCEPTED  # type: ignore[union-attr]


def test_a_missing_secret_declines_that_gateway_without_exposing_anything(
    tmp_path: Path, simulator: Any, store: SQLiteStore
) -> None:
    profile = PROFILE + "  ACCU:\n    backend:\n      AuthorizationKey: {secret: fleet_key}\n"
    accu = "  - id: ACCU-000001\n    type: ACCU\n    profile: fleet\n"  # ACCU: the key exists in all firmware
    config = write(
        tmp_path / "c3", {"profiles.d/fleet.yaml": profile, "gateways.d/a.yaml": gateways(2) + accu}
    )
    handle = simulator(gateways_repo=config)
    repo = load_repo(DirectorySource(config))
    run(handle, store, repo)
    state = store.get("ACCU-000001")
    assert state is not None and state.status is Status.DECLINED
    assert state.reason.startswith("secret 'fleet_key' for AuthorizationKey is not provided")
    assert store.get("LSX-000000").status is Status.ACCEPTED  # type: ignore[union-attr]


def test_a_secret_value_is_sent_but_never_stored(
    tmp_path: Path, simulator: Any, store: SQLiteStore
) -> None:
    profile = "name: fleet\nparameters:\n  ACCU:\n    backend:\n      AuthorizationKey: {secret: fleet_key}\n"
    config = write(
        tmp_path / "c4",
        {
            "profiles.d/fleet.yaml": profile,
            "gateways.d/a.yaml": "gateways:\n  - id: ACCU-000001\n    type: ACCU\n    profile: fleet\n",
        },
    )
    handle = simulator(gateways_repo=config)
    repo = load_repo(DirectorySource(config))
    outcome = run(handle, store, repo, secrets={"fleet_key": "super-secret-value-0001"})
    assert outcome.all_accepted
    state = store.get("ACCU-000001")
    assert state is not None and state.accepted["AuthorizationKey"]["secret"] == "fleet_key"
    store.close()
    for path in Path(store.path).parent.glob("state.db*"):
        assert b"super-secret-value-0001" not in path.read_bytes()
