"""Replicas sharing one PostgreSQL store: claims, replica and leader leases, fencing, guarded writes.

Each store instance plays one replica (its own connection), against a real
server (``postgres_url``: a fresh database per test).  Leases of 0.5 s run
out for real; waits poll the database clock, never a fixed sleep.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from reconciler.errors import NotLeaderError, StoreError
from reconciler.model.state import AppliedGateway, Status
from reconciler.store import open_store
from reconciler.store.postgres import PostgresStore

SHORT = 0.5
LONG = 60.0


@pytest.fixture
def stores(postgres_url: str) -> Iterator[Callable[[], PostgresStore]]:
    opened: list[PostgresStore] = []

    def open_one() -> PostgresStore:
        store = PostgresStore(postgres_url)
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        store.close()


def gw(
    gateway_id: str, status: Status, rollout_id: int | None, **changes: object
) -> AppliedGateway:
    return AppliedGateway(
        gateway_id, "LSX", "2.0.0", "canary", status, rollout_id=rollout_id, **changes
    )  # type: ignore[arg-type]


def rollout_of(store: PostgresStore, count: int, profile: str = "canary", prefix: str = "G") -> int:
    rollout = store.start_rollout("abc", profile, time.time())
    store.write([gw(f"{prefix}{n:04d}", Status.INITIAL, rollout) for n in range(count)])
    return rollout


def wait_until(check: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def expired(store: PostgresStore, replica_id: str) -> Callable[[], bool]:
    return lambda: all(not r.live for r in store.replicas() if r.replica_id == replica_id)


def unlimited(profile: str | None) -> int | None:
    return None


def test_replicas_claiming_at_once_never_take_a_gateway_twice(
    stores: Callable[[], PostgresStore],
) -> None:
    rollout_of(stores(), 400)
    replicas = [stores() for _ in range(4)]
    for n, replica in enumerate(replicas):
        replica.register(f"r{n}", LONG)
    start = threading.Barrier(len(replicas))

    def drain(replica: PostgresStore) -> list[str]:
        start.wait()
        taken: list[str] = []
        while batch := replica.claim(7, unlimited):
            taken.extend(s.gateway_id for s in batch)
        return taken

    with ThreadPoolExecutor(len(replicas)) as pool:
        claimed = list(pool.map(drain, replicas))
    every = [g for taken in claimed for g in taken]
    assert len(every) == len(set(every)) == 400
    assert sum(r.claims for r in replicas[0].replicas()) == 400


def test_a_claim_skips_rows_locked_by_another_transaction_without_waiting(
    stores: Callable[[], PostgresStore], postgres_url: str
) -> None:
    rollout_of(stores(), 5)
    worker = stores()
    worker.register("w", LONG)
    with psycopg.connect(postgres_url) as other:  # holds G0000 until it ends
        other.execute("SELECT 1 FROM gateways WHERE gateway_id = 'G0000' FOR UPDATE")
        started = time.monotonic()
        taken = [s.gateway_id for s in worker.claim(10, unlimited)]
        assert time.monotonic() - started < 5
        other.rollback()
    assert taken == ["G0001", "G0002", "G0003", "G0004"]
    assert [s.gateway_id for s in worker.claim(10, unlimited)] == ["G0000"]


def test_max_in_flight_holds_across_two_claimers(stores: Callable[[], PostgresStore]) -> None:
    leader = stores()
    rollout = rollout_of(leader, 50)
    other = rollout_of(leader, 5, profile="other", prefix="H")
    a, b = stores(), stores()
    a.register("a", LONG)
    b.register("b", LONG)
    caps = {"canary": 10, "other": None}
    start = threading.Barrier(2)

    def take(replica: PostgresStore) -> list[AppliedGateway]:
        start.wait()
        return replica.claim(50, caps.get)

    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(take, (a, b))
    mine = {
        replica: [s for s in taken if s.rollout_id == rollout]
        for replica, taken in ((a, first), (b, second))
    }
    assert [len(mine[a]), len(mine[b])] == [5, 5]  # each its share of the 10
    assert len([s for s in (*first, *second) if s.rollout_id == other]) == 5
    assert a.claim(50, caps.get) == [] and b.claim(50, caps.get) == []
    owner = max(mine, key=lambda replica: len(mine[replica]))  # holds 5 or more
    owner.write([gw(s.gateway_id, Status.REQUESTED, rollout) for s in mine[owner][:2]])
    assert a.claim(50, caps.get) == [], "work in flight counts, whoever holds it"
    owner.write([gw(s.gateway_id, Status.ACCEPTED, rollout) for s in mine[owner][2:5]])
    assert len(a.claim(50, caps.get)) == 3
    assert leader.rollout_counts([rollout, other, 999]) == {
        rollout: Counter({Status.INITIAL: 45, Status.REQUESTED: 2, Status.ACCEPTED: 3}),
        other: Counter({Status.INITIAL: 5}),
        999: Counter(),
    }


def test_a_replica_that_claims_first_leaves_the_others_their_share(
    stores: Callable[[], PostgresStore],
) -> None:
    rollout_of(stores(), 50)
    a, b, c = stores(), stores(), stores()
    for name, replica in (("a", a), ("b", b), ("c", c)):
        replica.register(name, LONG)
    caps = {"canary": 10}.get
    assert len(a.claim(50, caps)) == 4  # ceil(10 / 3), not the whole budget
    assert a.claim(50, caps) == []
    assert len(b.claim(50, caps)) == 4
    assert len(c.claim(50, caps)) == 2  # what is left of the cap
    c.deregister()  # two live replicas now: a share of 5 each
    assert len(a.claim(50, caps)) == 1
    assert len(b.claim(50, caps)) == 1
    assert a.claim(50, caps) == [] and b.claim(50, caps) == []


def test_work_of_a_replica_whose_lease_ran_out_is_claimed_by_another(
    stores: Callable[[], PostgresStore],
) -> None:
    leader = stores()
    rollout = rollout_of(leader, 3)
    a, b = stores(), stores()
    a_id = a.register("a", LONG)
    b.register("b", LONG)
    taken = a.claim(10, unlimited)
    a.write([gw(s.gateway_id, Status.SENT, rollout, job_id="J1") for s in taken])
    assert a.skipped == [] and b.claim(10, unlimited) == [] and b.unowned() == 0
    assert a.heartbeat(SHORT) is True  # its last renewal: then it hangs
    wait_until(expired(b, a_id))
    assert b.unowned() == 3
    assert a.heartbeat(SHORT) is False  # ran out: a drops its work and registers anew
    with pytest.raises(NotLeaderError, match="ran out"):
        a.write([gw("G0000", Status.ACCEPTED, rollout)])
    assert leader.get("G0000").status is Status.SENT  # type: ignore[union-attr]
    orphans = b.claim(10, unlimited)
    assert [(s.gateway_id, s.status, s.job_id) for s in orphans] == [
        (f"G000{n}", Status.SENT, "J1") for n in range(3)
    ]
    assert b.unowned() == 0
    a.register("a", LONG)  # a new incarnation: its old claims are b's now
    a.write([gw("G0001", Status.ACCEPTED, rollout)])
    assert a.skipped == ["G0001"]
    b.write([gw("G0001", Status.ACCEPTED, rollout)])
    assert b.skipped == [] and leader.get("G0001").status is Status.ACCEPTED  # type: ignore[union-attr]


def test_a_deregistered_replica_frees_its_claims_at_once(
    stores: Callable[[], PostgresStore],
) -> None:
    rollout_of(stores(), 2)
    a, b = stores(), stores()
    a_id = a.register("a", LONG)
    b_id = b.register("b", LONG)
    assert len(a.claim(10, unlimited)) == 2
    listed = {r.replica_id: r for r in b.replicas()}
    assert (listed[a_id].claims, listed[b_id].claims, listed[a_id].name) == (2, 0, "a")
    assert listed[a_id].live and 0 < listed[a_id].expires_in <= LONG
    a.deregister()
    assert [r.replica_id for r in b.replicas()] == [b_id, a_id]  # live first
    assert len(b.claim(10, unlimited)) == 2


def test_the_leader_lease_is_taken_renewed_and_taken_over_with_a_new_epoch(
    stores: Callable[[], PostgresStore],
) -> None:
    a, b = stores(), stores()
    assert a.leader().holder is None and a.leader().expires_in <= 0
    assert a.lead("a-1", "a", LONG) == 1
    assert b.lead("b-1", "b", LONG) is None
    assert a.lead("a-1", "a", LONG) == 1  # renewed
    lease = b.leader()
    assert (lease.holder, lease.epoch, lease.name) == ("a-1", 1, "a") and lease.expires_in > 0
    assert a.lead("a-1", "a", SHORT) == 1  # its last renewal: then it hangs
    wait_until(lambda: b.leader().expires_in <= 0)
    assert b.lead("b-1", "b", LONG) == 2
    assert a.lead("a-1", "a", SHORT) is None
    b.resign("b-1", 1)  # a stale epoch gives nothing up
    assert a.leader().expires_in > 0
    b.resign("b-1", 2)
    assert a.leader().expires_in <= 0 and a.lead("a-1", "a", LONG) == 3


def test_a_deposed_leader_writes_nothing(stores: Callable[[], PostgresStore]) -> None:
    a, b = stores(), stores()
    epoch = a.lead("a-1", "a", LONG)
    assert epoch == 1
    a.fence("a-1", epoch)
    rollout = a.start_rollout("abc", "canary", 1.0)
    a.write([gw("G1", Status.INITIAL, rollout)])
    assert a.lead("a-1", "a", SHORT) == epoch  # its last renewal: then it hangs
    wait_until(lambda: b.leader().expires_in <= 0)
    assert b.lead("b-1", "b", LONG) == 2
    writes: list[Callable[[], object]] = [
        lambda: a.write([gw("G1", Status.DECLINED, rollout), gw("G2", Status.INITIAL, rollout)]),
        lambda: a.start_rollout("def", "canary", 2.0),
        lambda: a.finish_rollout(rollout, "aborted", 2.0, "x"),
        lambda: a.set_meta("k", "v"),
        lambda: a.forget(["G1"]),
        lambda: a.prune_transitions(1),
    ]
    for write in writes:
        with pytest.raises(NotLeaderError, match="no longer holds the leader lease"):
            write()
    assert set(b.applied()) == {"G1"} and b.get("G1").status is Status.INITIAL  # type: ignore[union-attr]
    assert [t.status for t in b.transitions("G1")] == [Status.INITIAL]
    assert [r.state for r in b.rollouts()] == ["running"] and b.get_meta("k") is None
    a.fence(None, None)  # a follower again: unfenced writes pass
    a.set_meta("k", "v")


def test_a_fenced_write_waits_for_no_takeover_inside_its_transaction(
    stores: Callable[[], PostgresStore], postgres_url: str
) -> None:
    a = stores()
    epoch = a.lead("a-1", "a", LONG)
    a.fence("a-1", epoch)
    with psycopg.connect(postgres_url) as taker:  # a takeover in flight holds the lease row
        taker.execute("UPDATE leader SET holder = 'b-1', epoch = epoch + 1 WHERE id = 1")
        result: list[BaseException | None] = []
        writer = threading.Thread(
            target=lambda: result.append(_error_of(lambda: a.write([gw("G1", Status.INITIAL, 1)])))
        )
        writer.start()
        writer.join(0.5)
        assert writer.is_alive(), "the check locks the lease row FOR SHARE: it waits"
        taker.commit()
        writer.join(30)
    assert isinstance(result[0], NotLeaderError)
    assert a.count() == 0


def _error_of(call: Callable[[], object]) -> BaseException | None:
    try:
        call()
    except BaseException as exc:
        return exc
    return None


def test_a_guarded_write_skips_a_row_another_replica_changed(
    stores: Callable[[], PostgresStore],
) -> None:
    a, b = stores(), stores()
    rollout = rollout_of(a, 2)
    assert set(b.applied()) == {"G0000", "G0001"}
    b.write([gw("G0000", Status.REQUESTED, rollout)])
    a.write([gw("G0000", Status.DECLINED, rollout), gw("G0001", Status.DECLINED, rollout)])
    assert a.skipped == ["G0000"]
    assert a.get("G0000").status is Status.REQUESTED  # type: ignore[union-attr]
    assert [t.status for t in a.transitions("G0000")] == [Status.INITIAL, Status.REQUESTED]
    b.write([gw("NEW", Status.INITIAL, rollout)])
    a.write([gw("NEW", Status.DECLINED, rollout)])  # never seen by a: an insert, and it exists
    assert a.skipped == ["NEW"] and a.get("NEW").status is Status.INITIAL  # type: ignore[union-attr]
    a.write([gw("G0000", Status.DECLINED, rollout)])  # read since: expected Requested
    assert a.skipped == []
    b.forget(["G0000", "G0001"])  # b saw G0000 Requested, G0001 Initial: both changed since
    assert sorted(b.skipped) == ["G0000", "G0001"] and a.count() == 3


def test_idle_running_rollouts_are_finished(stores: Callable[[], PostgresStore]) -> None:
    store = stores()
    old = store.start_rollout("a", "canary", time.time() - 100)
    busy = store.start_rollout("b", "canary", time.time() - 100)
    kept = store.start_rollout("c", "canary", time.time() - 100)
    young = store.start_rollout("d", "canary", time.time())
    store.write([gw("G1", Status.ACCEPTED, old), gw("G2", Status.INITIAL, busy)])
    assert store.finish_idle_rollouts(10, exclude=[kept]) == 1
    assert {r.rollout_id for r in store.rollouts(active_only=True)} == {busy, kept, young}
    assert next(r for r in store.rollouts() if r.rollout_id == old).state == "finished"


def test_shared_operations_need_a_writable_registered_store(
    postgres_url: str, stores: Callable[[], PostgresStore]
) -> None:
    with pytest.raises(StoreError, match="register"):
        stores().claim(1, unlimited)
    assert stores().heartbeat(1.0) is False
    stores().close()
    reader = open_store(postgres_url, read_only=True)
    try:
        assert isinstance(reader, PostgresStore)
        with pytest.raises(StoreError, match="read-only"):
            reader.register("r", LONG)
        assert reader.leader().epoch == 0 and reader.replicas() == []
    finally:
        reader.close()
