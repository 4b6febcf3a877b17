"""The daemon's live member index (:mod:`reconciler.daemon.memberindex`) over a real SQLite store,
and the members API answered from it (:mod:`reconciler.daemon.membersapi`)."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest

from reconciler.daemon import membersapi, reports
from reconciler.daemon.memberindex import LiveMembers
from reconciler.daemon.status import DaemonStatus, Loaded
from reconciler.daemon.watching import CommitInfo
from reconciler.loading.repos import load_repo
from reconciler.loading.sources import DirectorySource
from reconciler.members.index import MemberIndex
from reconciler.members.listing import listing, page_json
from reconciler.members.query import parse
from reconciler.members.rows import Member, members
from reconciler.model.inventory import INVENTORY_LIST, InventoryGateway
from reconciler.model.repos import Repo
from reconciler.model.state import AppliedGateway, Status
from reconciler.store import open_store
from reconciler.store.base import StateStore
from reconciler.testing import inventory_for, synthetic_repo

pytestmark = pytest.mark.timeout(60)
T = TypeVar("T")
COMMIT = CommitInfo("0" * 40, "A <a@example.invalid>", "2024-05-01T12:00:00+00:00", 0.0, "seed")


class Fleet:
    """A config repository, its inventory and a store with states for some of its gateways."""

    def __init__(self, root: Path) -> None:
        self.root = synthetic_repo(root / "repo", gateways=60, files=3, profiles=3)
        self.repo = load_repo(DirectorySource(self.root))
        self.inventory = inventory(self.repo)
        self.path = root / "state" / "state.db"
        self.store: StateStore = open_store(self.path)
        self.ids = sorted(self.repo.gateways)
        self.write(*[(i, Status.ACCEPTED) for i in self.ids[:40]])

    def write(self, *changes: tuple[str, Status]) -> None:
        states = []
        for gateway_id, status in changes:
            entry = self.repo.gateways.get(gateway_id)
            states.append(
                AppliedGateway(
                    gateway_id,
                    entry.type if entry else "LSX",
                    None,
                    entry.profile if entry else None,
                    status,
                    reason=f"{status.value} at {time.time()}",
                    updated_at=time.time(),
                )
            )
        self.store.write(states)

    def status(self, repo: Repo | None = None, inventory: Any = None) -> DaemonStatus:
        repo = repo or self.repo
        known = inventory if inventory is not None else self.inventory
        return DaemonStatus(good=Loaded(COMMIT, repo), inventory=known)

    def expected(self, repo: Repo | None = None, inventory: Any = None) -> list[Member]:
        states = self.store.summaries(self.store.stored_ids())
        known = inventory if inventory is not None else self.inventory
        return members(repo or self.repo, known, states)


def inventory(repo: Repo) -> dict[str, InventoryGateway]:
    items = inventory_for({e.id: e.type for e in repo.gateways.values()})
    return {g.id: g for g in INVENTORY_LIST.validate_python(items)}


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    made = Fleet(tmp_path)
    yield made
    made.store.close()


@pytest.fixture
def live(fleet: Fleet) -> Iterator[LiveMembers]:
    made = LiveMembers(fleet.path, max_age_s=0.0)
    yield made
    made.close()


def eventually(probe: Callable[[], T | None], what: str, timeout: float = 30.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_no_snapshot_before_a_valid_commit(live: LiveMembers) -> None:
    assert live.snapshot(DaemonStatus()) is None


def test_the_first_snapshot_holds_every_member(fleet: Fleet, live: LiveMembers) -> None:
    index = live.snapshot(fleet.status())
    assert index is not None
    assert index.select(None) == fleet.expected()
    assert live.builds == 1


def test_a_state_change_is_applied_without_a_build(fleet: Fleet, live: LiveMembers) -> None:
    before = live.snapshot(fleet.status())
    assert before is not None
    fleet.write((fleet.ids[3], Status.DECLINED), (fleet.ids[50], Status.SENT))
    after = live.snapshot(fleet.status())
    assert after is not None and after is not before
    assert after.select(None) == fleet.expected()
    assert [m.gateway_id for m in after.select(parse("status:declined status:sent"))] == [
        fleet.ids[3],
        fleet.ids[50],
    ]
    assert live.builds == 1, "incremental"
    assert before.get(fleet.ids[3]).status is Status.ACCEPTED, "a snapshot never changes"


def test_a_snapshot_is_kept_for_max_age(fleet: Fleet) -> None:
    live = LiveMembers(fleet.path, max_age_s=3600.0)
    try:
        first = live.snapshot(fleet.status())
        fleet.write((fleet.ids[0], Status.MISMATCH))
        assert live.snapshot(fleet.status()) is first
        fresh = live.snapshot(fleet.status(), fresh=True)
        assert fresh is not None and fresh.get(fleet.ids[0]).status is Status.MISMATCH
    finally:
        live.close()


def test_a_new_commit_builds_the_index_again(fleet: Fleet, live: LiveMembers) -> None:
    first = live.snapshot(fleet.status())
    assert first is not None
    moved = "LSX-000000"
    path = next(
        p
        for p in fleet.root.glob("gateways.d/*/*.yaml")
        if f"id: {moved}\n" in p.read_text(encoding="utf-8")
    )
    text = path.read_text(encoding="utf-8")
    old_profile = fleet.repo.gateways[moved].profile
    assert f"id: {moved}\n" in text and old_profile != "profile-0002"
    path.write_text(
        text.replace(
            f"id: {moved}\n    type: {fleet.repo.gateways[moved].type}\n    profile: {old_profile}",
            f"id: {moved}\n    type: {fleet.repo.gateways[moved].type}\n    profile: profile-0002",
        ),
        encoding="utf-8",
    )
    repo = load_repo(DirectorySource(fleet.root))
    assert repo.gateways[moved].profile == "profile-0002"
    new = live.snapshot(fleet.status(repo), fresh=True)
    assert new is not None and new is not first
    assert new.get(moved).profile == "profile-0002"
    assert new.select(None) == fleet.expected(repo)
    assert moved in {m.gateway_id for m in new.select(None, profile="profile-0002")}
    assert live.builds == 2


def test_a_new_inventory_that_shares_most_gateways_updates_their_rows(
    fleet: Fleet, live: LiveMembers
) -> None:
    live.snapshot(fleet.status())
    changed = dict(fleet.inventory)
    gateway_id = fleet.ids[7]
    changed[gateway_id] = dataclasses.replace(changed[gateway_id], provider="Elsewhere GmbH")
    index = live.snapshot(fleet.status(inventory=changed), fresh=True)
    assert index is not None and index.get(gateway_id).provider == "Elsewhere GmbH"
    assert index.select(None) == fleet.expected(inventory=changed)
    assert live.builds == 1, "only the changed row was made again"
    renewed = inventory(fleet.repo)  # every object new: a build
    index = live.snapshot(fleet.status(inventory=renewed), fresh=True)
    assert index is not None and index.select(None) == fleet.expected(inventory=renewed)
    assert live.builds == 2


def test_a_forgotten_gateway_leaves_the_index(fleet: Fleet, live: LiveMembers) -> None:
    gone = "LSX-999999"  # known to the store only: its entry was deleted
    fleet.write((gone, Status.INITIAL))
    first = live.snapshot(fleet.status())
    assert first is not None and first.get(gone) is not None and not first.get(gone).declared
    declared = fleet.ids[5]
    fleet.store.forget([gone, declared])
    index = live.snapshot(fleet.status())
    assert index is not None
    assert index.get(gone) is None
    assert index.get(declared) is not None and index.get(declared).status is None
    assert index.select(None) == fleet.expected()
    # A forget and a new write between two looks: the count alone would not tell.
    fleet.store.forget([fleet.ids[6]])
    fleet.write((fleet.ids[55], Status.REQUESTED))
    index = live.snapshot(fleet.status())
    assert index is not None and index.select(None) == fleet.expected()


class Blocking(Mapping[str, InventoryGateway]):
    """An inventory whose lookups wait until released: a build in progress, held still."""

    def __init__(self, items: dict[str, InventoryGateway]) -> None:
        self.items_ = items
        self.entered = threading.Event()
        self.release = threading.Event()

    def __getitem__(self, key: str) -> InventoryGateway:
        return self.items_[key]

    def get(self, key: str, default: Any = None) -> Any:
        self.entered.set()
        assert self.release.wait(30), "never released"
        return self.items_.get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self.items_)

    def __len__(self) -> int:
        return len(self.items_)


def test_callers_get_the_previous_snapshot_at_once_while_a_build_runs(
    fleet: Fleet, live: LiveMembers
) -> None:
    first = live.snapshot(fleet.status())
    blocking = Blocking(inventory(fleet.repo))
    status = fleet.status(inventory=blocking)
    try:
        assert live.snapshot(status) is first  # starts the build
        assert blocking.entered.wait(30), "the build started"
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: live.snapshot(status), range(16)))
        assert all(a is first for a in answers), "nobody waits for the build"
        fleet.write((fleet.ids[1], Status.DECLINED))
        assert live.snapshot(fleet.status()) is first, "no refresh of the old commit meanwhile"
    finally:
        blocking.release.set()
    built = eventually(
        lambda: (index := live.snapshot(status)) is not first and index, "the new index"
    )
    assert built.select(None) == fleet.expected(inventory=blocking.items_)
    assert live.builds == 2


def test_a_store_that_cannot_be_read(tmp_path: Path) -> None:
    fleet_root = tmp_path / "fleet"
    repo = load_repo(DirectorySource(synthetic_repo(fleet_root, gateways=5, files=1, profiles=1)))
    live = LiveMembers(tmp_path / "missing.db")
    status = DaemonStatus(good=Loaded(COMMIT, repo), inventory=None)
    with pytest.raises(Exception, match="no state store there"):
        live.snapshot(status)
    live.close()
    with pytest.raises(Exception, match="closed"):
        live.snapshot(status)


# --- the members API over the index -----------------------------------------------------------


PARAMS: list[dict[str, str | list[str]]] = [
    {},
    {"q": "type:LSX"},
    {"q": "status:accepted", "page": "2", "per_page": "7"},
    {"profile": "profile-0001"},
    {"profile": "profile-0001", "q": "type:LSG"},
    {"profile": "none"},
    {"q": "-status:accepted firmware:>=1"},
    {"q": "profile:profile"},
    {"q": "profile:profile-0000 profile:profile-0002"},
    {"q": ""},
]


def test_the_answer_over_the_index_is_the_listing_of_the_rows(fleet: Fleet) -> None:
    rows = fleet.expected()
    index = MemberIndex.build(rows)
    names = list(fleet.repo.profiles)
    for params in PARAMS:
        code, answer = membersapi.members_answer(index, names, params)
        assert code == 200, (params, answer)
        single = {k: v for k, v in params.items() if isinstance(v, str)}
        found = listing(
            rows,
            query=parse(single.get("q", "")),
            profile=single.get("profile") or None,
            profiles=names,
        )
        page = int(single.get("page", "1"))
        per_page = int(single.get("per_page", "100"))
        assert answer == page_json(found, page=page, per_page=per_page), params
        assert reports.members_answer(rows, names, params) == (code, answer)


def test_filters_add_quoted_terms_whose_values_are_alternatives(fleet: Fleet) -> None:
    index = MemberIndex.build(fleet.expected())
    names = list(fleet.repo.profiles)
    # Each profile of this fleet has one type: profile-0000 LSX (not stored), 0001 LSG, 0002 ACCU.
    params: dict[str, str | list[str]] = {
        "q": "profile:profile-0000 profile:profile-0001",
        "type": ["LSX", "ACCU"],
        "status": ["none", "Declined"],
    }
    code, answer = membersapi.members_answer(index, names, params)
    assert code == 200
    assert answer["query"] == (
        'profile:profile-0000 profile:profile-0001 type:"LSX" type:"ACCU" '
        'status:"none" status:"Declined"'
    )
    found = answer["members"]
    assert len(found) == answer["matched"] == 20
    assert {(m["type"], m["status"], m["profile"]) for m in found} == {
        ("LSX", None, "profile-0000")
    }
    code, answer = membersapi.members_answer(
        index, names, {"profile": "profile-0002", "firmware": ["", "none"], "provider": []}
    )
    assert (code, answer["query"]) == (200, 'profile:profile-0002 firmware:"none"')
    assert answer["matched"] == 0, "every gateway is in the inventory"
    code, bad = membersapi.members_answer(index, names, {"q": "owner:x", "type": "NOPE"})
    assert code == 400 and bad["query"] == 'owner:x type:"NOPE"' and bad["position"] == 13
    code, answer = membersapi.members_answer(
        index, names, {"q": ["ignored", "status:accepted"], "page": ["9", "1"]}
    )
    assert code == 200 and answer["query"] == "status:accepted" and answer["page"] == 1
    assert membersapi.query_text({"provider": 'Say "hi" \\'}) == 'provider:"Say \\"hi\\" \\\\"'


def test_each_facet_value_is_a_filter_that_finds_its_members(fleet: Fleet) -> None:
    index = MemberIndex.build(fleet.expected())
    names = list(fleet.repo.profiles)
    for field, values in index.facets("profile-0001").items():
        for value, count in values.items():
            code, answer = membersapi.members_answer(
                index, names, {"profile": "profile-0001", field: value}
            )
            assert (code, answer["matched"]) == (200, count), (field, value, answer)
