"""Fixtures of the engine tests: ``make_rig`` builds a :class:`~tests.engine.rig.Rig`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from reconciler.engine.settings import EngineSettings
from reconciler.store.sqlite import SQLiteStore
from reconciler.testing import FakeClock, FakeDriver, fleet, write

from .rig import PROFILE, VIRTUAL, Rig, RigFactory


@pytest.fixture
def make_rig(tmp_path: Path) -> Iterator[RigFactory]:
    """``make_rig({"fleet": 20, "depot": 10}, answer_after=1)``: gateways per profile."""
    stores: list[SQLiteStore] = []

    def make(
        sizes: Mapping[str, int] | None = None,
        *,
        answer_after: int = 1,
        settings: EngineSettings = VIRTUAL,
    ) -> Rig:
        sizes = dict(sizes or {"fleet": 20})
        members: dict[str, dict[str, str]] = {}
        files: dict[str, str] = {}
        start = 0
        for index, (name, size) in enumerate(sizes.items()):
            members[name] = fleet(size, start=start)
            start += size
            files[f"profiles.d/{name}.yaml"] = PROFILE.format(name=name, heartbeat=600 + index)
            lines = ["gateways:"]
            for gid, kind in members[name].items():
                lines += [f"  - id: {gid}", f"    type: {kind}", f"    profile: {name}"]
            files[f"gateways.d/{name}.yaml"] = "\n".join(lines) + "\n"
        root = write(tmp_path / f"config-{len(stores)}", files)
        clock = FakeClock()
        everything = {gid: kind for group in members.values() for gid, kind in group.items()}
        driver = FakeDriver(everything, answer_after=answer_after, clock=clock.now)
        store = SQLiteStore(tmp_path / f"state-{len(stores)}.db")
        stores.append(store)
        return Rig(root, members, driver, clock, store, settings)

    yield make
    for store in stores:
        store.close()
