"""The HTTP driver reads the inventory one page at a time (the daemon's paced re-read)."""

from __future__ import annotations

from reconciler.testing import FakeDriver
from reconciler.testing.fakes import fleet
from tests.drivers.conftest import StartSimulator
from tests.drivers.helpers import driver_for


async def test_pages_follow_the_cursor_to_the_whole_fleet(start_simulator: StartSimulator) -> None:
    sim = start_simulator(fleet=130)
    seen: list[str] = []
    cursor: str | None = None
    async with driver_for(sim) as driver:
        while True:
            page = await driver.inventory_page(cursor, 50)
            seen += [g.id for g in page.gateways]
            cursor = page.next_cursor
            if cursor is None:
                break
        whole = await driver.inventory()
    assert seen == [g.id for g in whole]  # the same stable order
    assert len(set(seen)) == 130
    assert sim.counters()["requests"]["gateways"] == 3 + 1  # 3 pages, then the whole (one page)


async def test_a_limit_outside_the_api_range_is_clamped(start_simulator: StartSimulator) -> None:
    sim = start_simulator(fleet=600)
    async with driver_for(sim) as driver:
        big = await driver.inventory_page(None, 10_000)
        small = await driver.inventory_page(None, 0)
    assert len(big.gateways) == 500 and big.next_cursor is not None
    assert len(small.gateways) == 1


async def test_the_fake_driver_pages_in_id_order_while_gateways_come_and_go() -> None:
    driver = FakeDriver(fleet(7))
    first = await driver.inventory_page(None, 3)
    assert [g.id for g in first.gateways] == sorted(driver.gateways)[:3]
    del driver.gateways[first.gateways[0].id]  # one already handed out leaves: no gap, no repeat
    second = await driver.inventory_page(first.next_cursor, 3)
    third = await driver.inventory_page(second.next_cursor, 3)
    assert [g.id for g in second.gateways + third.gateways] == sorted(driver.gateways)[2:]
    assert third.next_cursor is None
    assert driver.calls["inventory_page"] == 3
