"""The daemon re-reads the inventory in pages at a pace, and on firmware events, never all at once.

With the simulator (no events): a daemon with a short read-back interval asks
for one page at a time and notices a changed firmware, and a gateway gone,
within a pass.  With the in-memory head-end (events): firmware changes are read
with the live configuration (one small call), and the pages slow down.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from reconciler.daemon.context import Context
from reconciler.daemon.events import EventFeed
from reconciler.daemon.metrics import Metrics
from reconciler.daemon.readback import EVENTS_PASSES, ReadBack
from reconciler.daemon.rollout import Rollouts
from reconciler.daemon.settings import DaemonSettings
from reconciler.daemon.status import StatusBoard
from reconciler.drivers.base import HeadendEvent, LiveConfig
from reconciler.engine.settings import EngineSettings
from reconciler.headends.simulator import Simulator, SimulatorOptions, serving
from reconciler.testing import FakeDriver, SimulatorHandle
from reconciler.testing.fakes import fleet
from reconciler.testing.threads import in_thread
from tests.daemon.conftest import (
    SIMULATOR_SEED,
    TOKEN,
    DaemonThread,
    git,
    settled,
    wait_for,
)


class HeldSimulator(SimulatorHandle):
    """A simulator handle that also holds the simulator (its fleet is changed in place)."""

    def __init__(self, url: str, token: str, simulator: Simulator) -> None:
        super().__init__(url, token)
        self.simulator = simulator


@pytest.fixture
def simulator(config_repo: Path) -> Iterator[HeldSimulator]:
    """The simulator of ``conftest``, but reachable: a test changes firmware and removes gateways."""
    simulator = Simulator(
        SimulatorOptions(gateways_repo=config_repo, token=TOKEN, seed=SIMULATOR_SEED)
    )
    with in_thread(lambda: serving(simulator), "simulator") as (url, _):
        yield HeldSimulator(url, TOKEN, simulator)


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD")


def page_requests(simulator: SimulatorHandle) -> int:
    return int(simulator.counters()["requests"].get("gateways", 0))


def test_the_inventory_is_read_in_pages_and_a_new_firmware_is_seen_within_a_pass(
    start_daemon: Any, config_repo: Path, simulator: HeldSimulator
) -> None:
    interval = 2.0
    daemon: DaemonThread = start_daemon(readback_interval_s=interval)
    wait_for(lambda: settled(daemon, head(config_repo)), timeout=60, what="the first rollout")
    fleet_size = len(simulator.simulator.fleet.gateways)
    size = max(1, -(-fleet_size // 4))  # four pages a pass
    daemon.call(lambda d: setattr(d.reconciler.readback.pages, "page_size", size))

    def passes() -> int:
        return int(daemon.call(lambda d: d.reconciler.readback.pages.passes))

    # Pages come one at a time, spread over the interval: never a whole read per interval.
    done = passes()
    wait_for(lambda: passes() >= done + 1, timeout=30, what="a whole pass")
    start, at = page_requests(simulator), time.monotonic()
    wait_for(lambda: passes() >= done + 3, timeout=30, what="two more passes")
    asked, took = page_requests(simulator) - start, time.monotonic() - at
    assert 8 <= asked <= 8 + 4 + 1  # two passes of four pages (the rollouts read none)
    assert took >= 0.5 * 2 * interval  # spread over the passes, not read in a burst

    fleet = simulator.simulator.fleet
    report = {g["id"]: g for g in daemon.report()["gateways"]}
    target = next(gid for gid in sorted(fleet.gateways) if gid in report)
    other = next(
        g.firmware
        for g in fleet.gateways.values()
        if g.type == fleet.gateways[target].type and g.firmware != fleet.gateways[target].firmware
    )
    leaving = next(gid for gid in sorted(fleet.gateways, reverse=True) if gid != target)
    fleet.gateways[target].inventory["firmware"] = other
    fleet.gateways[target].firmware = other
    fleet.order.remove(leaving)

    def inventory() -> dict[str, Any]:
        return dict(daemon.call(lambda d: d.status.inventory) or {})

    wait_for(
        lambda: inventory()[target].firmware == other and leaving not in inventory(),
        timeout=4 * interval + 10,
        what="the new firmware and the gateway gone, within a pass",
    )
    wait_for(
        lambda: {g["id"]: g for g in daemon.report()["gateways"]}[target]["firmware"] == other,
        timeout=30,
        what="the report to show the new firmware",
    )


# --- the paging logic, against the in-memory head-end -------------------------------------------


def parts(
    tmp_path: Path, driver: FakeDriver, interval: float
) -> tuple[Context, Rollouts, ReadBack]:
    settings = DaemonSettings(
        repo=str(tmp_path),
        headend_url="http://127.0.0.1:9",
        state=tmp_path / "state.db",
        report_dir=tmp_path / "report",
        readback_interval_s=interval,
    )
    context = Context(
        settings=settings,
        driver=driver,
        store=None,  # type: ignore[arg-type]  # paging never touches the store
        resolve_secret=lambda name: None,
        metrics=Metrics(),
        board=StatusBoard(),
        engine_settings=EngineSettings(),
        wake=lambda: None,
        on_change=lambda: None,
    )
    rollouts = Rollouts(context)
    readback = ReadBack(context, rollouts)
    context.board.update(inventory={g.id: g for g in driver.gateways.values()})
    return context, rollouts, readback


async def run_for(feed: EventFeed, seconds: float) -> None:
    task = asyncio.create_task(feed.run())
    await asyncio.sleep(seconds)
    feed.stopping.set()
    task.cancel()  # as the daemon does: a long poll may be under way
    await asyncio.gather(task, return_exceptions=True)


@pytest.mark.parametrize("events", [False, True])
def test_pages_slow_down_where_the_head_end_has_events(tmp_path: Path, events: bool) -> None:
    async def main() -> None:
        driver = FakeDriver(fleet(10))
        driver.has_events = events
        context, _, readback = parts(tmp_path, driver, interval=0.5)
        readback.pages.page_size = 5
        await run_for(EventFeed(driver, readback, context.stopping), 1.6)
        pages = driver.calls["inventory_page"]
        if events:
            assert readback.pages.gap_s() == pytest.approx(0.5 * EVENTS_PASSES / 2)
            assert pages == 0  # the first page is seconds away
        else:
            assert readback.pages.gap_s() == pytest.approx(0.25)
            assert 3 <= pages <= 8 and readback.pages.passes >= 1
        assert driver.calls["inventory"] == 0  # never the whole inventory at once

    asyncio.run(main())


def test_a_firmware_event_reads_that_gateway_only(tmp_path: Path) -> None:
    async def main() -> None:
        driver = FakeDriver(fleet(10))
        driver.has_events = True
        context, rollouts, readback = parts(tmp_path, driver, interval=300.0)
        gid = sorted(driver.gateways)[3]
        driver.live[gid] = LiveConfig(gid, "9.9.9", {})
        driver.emit(HeadendEvent(gid, "firmware_changed", "2026-12-03T12:00:00Z"))
        feed = EventFeed(driver, readback, context.stopping)
        task = asyncio.create_task(feed.run())
        for _ in range(200):
            if readback.firmware:
                break
            await asyncio.sleep(0.01)
        assert readback.firmware == {gid} and readback.due()
        await readback.read_firmware(readback.firmware)
        held = context.board.current.inventory or {}
        assert held[gid].firmware == "9.9.9"
        assert rollouts.pending == {gid}
        assert driver.calls["read_configs"] == 1
        assert driver.calls["inventory"] == driver.calls["inventory_page"] == 0
        context.stopping.set()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(main())


def test_a_pass_applies_each_page_and_finds_who_left_at_its_end(tmp_path: Path) -> None:
    async def main() -> None:
        driver = FakeDriver(fleet(9))
        context, rollouts, readback = parts(tmp_path, driver, interval=300.0)
        pages = readback.pages
        pages.page_size = 3
        ids = sorted(driver.gateways)
        driver.gateways[ids[1]] = replace(driver.gateways[ids[1]], firmware="9.9.9")
        driver.gateways[ids[8]] = replace(driver.gateways[ids[8]], address="elsewhere")
        del driver.gateways[ids[5]]
        await pages.step()  # the first page: its change is applied at once
        assert (context.board.current.inventory or {})[ids[1]].firmware == "9.9.9"
        assert rollouts.pending == {ids[1]}
        await pages.step()
        assert ids[5] in (context.board.current.inventory or {})  # not before the pass ends
        await pages.step()
        held = context.board.current.inventory or {}
        assert ids[5] not in held and held[ids[8]].address == "elsewhere"
        assert rollouts.pending == {ids[1], ids[5]}  # an address is no reason to plan again
        assert pages.passes == 1 and pages.cursor is None

        # A whole read during a pass (a rollout's) decides presence: the pass does not.
        driver.gateways.pop(ids[0])
        await pages.step()
        context.inventory_reads += 1
        context.board.update(inventory={**(context.board.current.inventory or {})})
        await pages.step()
        await pages.step()
        assert ids[0] in (context.board.current.inventory or {})
        assert pages.passes == 2

    asyncio.run(main())
