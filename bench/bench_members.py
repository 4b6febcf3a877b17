"""Benchmark: Magic Search over 100,000 members, through the member index and through the daemon's live index.

Run: ``python bench/bench_members.py [--gateways 100000 --repeat 7 --requests 200]``.

A synthetic config repository (``reconciler.testing.synthetic_repo``: 500
profiles, so 200 members each at 100,000 gateways), its inventory
(``inventory_for``) and a real SQLite store with a status for 70 % of the
gateways.  Measured in one run, each beside its baseline:

1. ``MemberIndex.build`` of every row (target < 1 s) and the extra memory
   it keeps per row (tracemalloc: the haystack strings, the pointer lists of
   the fleet and of each profile);
2. ``MemberIndex.select`` of single terms and a few combinations over every
   row (target < 100 ms), and with ``profile=`` one profile of 200 members
   (target < 5 ms); baseline: ``matching.select`` over the same rows (resp.
   that profile's rows), the one query engine without an index.  Median and
   worst of ``--repeat`` runs; both must find the same rows;
3. ``MemberIndex.updated`` with 500 changes (target < 50 ms): status changes
   only (the daemon's case), and mixed (10 % removed, 10 % new ids, 10 %
   moving to another profile); baseline a build of the changed rows;
4. the daemon's ``GET /api/v1/members`` path: ``LiveMembers.snapshot`` plus
   the answer's first page (``membersapi.members_answer``), while a rollout
   writes ``--writes`` states every 0.1 s; p50/p99 over ``--requests``
   requests 20 ms apart of a rotating set of queries: with the default
   ``max_age_s=1`` (one request a second pays the incremental refresh), and
   with ``max_age_s=0`` (every request does).  Baseline: the old path (read
   every state from the store, make every row, list, page).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import random
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reconciler.daemon import membersapi, reports
from reconciler.daemon.memberindex import LiveMembers
from reconciler.daemon.status import DaemonStatus, Loaded
from reconciler.daemon.watching import CommitInfo
from reconciler.loading.repos import load_repo
from reconciler.loading.sources import DirectorySource
from reconciler.members import matching
from reconciler.members.index import ALL, MemberIndex
from reconciler.members.query import parse
from reconciler.members.rows import Member, members
from reconciler.model.inventory import INVENTORY_LIST
from reconciler.model.state import AppliedGateway, Status
from reconciler.store import open_store
from reconciler.testing import inventory_for, synthetic_repo

QUERIES = [
    "hauptstr",
    "status:declined",
    "firmware:>=2",
    "provider:chargenet",
    "profile:profile-0007",
    "type:LSG",
    "owner:gmbh",
    "address:dortmund",
    "id:LSX-0001",
    "station:cs-00012",
    "label:site",
    "label:site=site-5",
    "subsetting:MaxChargingCurrent=16",
    "-status:accepted",
    "status:declined status:mismatch",
    "firmware:>=2 firmware:<3 type:LSX",
    "dortmund gmbh -status:accepted",
]
PROFILE = "profile-0007"
COMMIT = CommitInfo("0" * 40, "bench <bench@example.invalid>", "2024-05-01T12:00:00+00:00", 0, "")


def timed(call: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    runs, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = call()
        runs.append(time.perf_counter() - started)
    return runs, result


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gateways", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--writes", type=int, default=20, help="states written every 0.1 s")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        root = synthetic_repo(Path(tmp) / "repo", gateways=args.gateways, profiles=500)
        repo = load_repo(DirectorySource(root))
        items = inventory_for({e.id: e.type for e in repo.gateways.values()})
        inventory = {g.id: g for g in INVENTORY_LIST.validate_python(items)}
        rng = random.Random(1)
        store = open_store(Path(tmp) / "state" / "state.db")
        states = [
            AppliedGateway(gid, e.type, None, e.profile, rng.choice(list(Status)), updated_at=1.7e9)
            for gid, e in repo.gateways.items()
            if rng.random() < 0.7
        ]
        for start in range(0, len(states), 5000):
            store.write(states[start : start + 5000])
        rows = members(repo, inventory, {s.gateway_id: s for s in states})
        # Long-lived objects leave the collector's generations, as in the daemon (the loaded
        # repository and inventory: reconciler.loading.bulk; the rows of an index it builds).
        gc.collect()
        gc.freeze()
        print(
            f"fleet: {len(rows)} members, {len(states)} stored (set up in {time.perf_counter() - started:.0f} s)"
        )

        index = build(rows, args.repeat)
        select(index, rows, args.repeat)
        updated(index, rows, args.repeat, rng)
        live(repo, inventory, store, Path(tmp) / "state" / "state.db", args, rng)
        store.close()


def build(rows: list[Member], repeat: int) -> MemberIndex:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    index = MemberIndex.build(rows)
    kept = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del index
    runs, index = timed(lambda: MemberIndex.build(rows), max(3, repeat // 2))
    print(f"\nbuild {len(rows)} rows: median {ms(statistics.median(runs))}, worst {ms(max(runs))}")
    print(
        f"  memory kept per row: {kept / len(rows):.0f} B (tracemalloc; haystacks + pointer lists)"
    )
    return index  # type: ignore[no-any-return]


def select(index: MemberIndex, rows: list[Member], repeat: int) -> None:
    print(f"\nselect over {len(rows)} rows: index (median / worst) vs matching.select (median)")
    in_profile = [m for m in rows if m.profile == PROFILE]
    for text in [*QUERIES, ""]:
        query = parse(text)
        runs, found = timed(lambda q=query: index.select(q), repeat)  # type: ignore[misc]
        plain, expected = timed(lambda q=query: matching.select(q, rows), 3)  # type: ignore[misc]
        assert found == expected, text
        print(
            f"  {text or '(empty)':38s} {len(found):7d} rows  index {ms(statistics.median(runs))} /"
            f"{ms(max(runs))}   plain {ms(statistics.median(plain))}"
        )
    print(f"\nselect with profile={PROFILE} ({len(in_profile)} members)")
    for text in ["", "status:declined", "hauptstr", "firmware:>=2 firmware:<3", "label:site"]:
        query = parse(text)
        runs, found = timed(
            lambda q=query: index.select(q, profile=PROFILE),  # type: ignore[misc]
            repeat * 5,
        )
        plain, expected = timed(lambda q=query: matching.select(q, in_profile), 3)  # type: ignore[misc]
        assert found == expected, text
        print(
            f"  {text or '(empty)':38s} {len(found):7d} rows  index {ms(statistics.median(runs))} /"
            f"{ms(max(runs))}   plain {ms(statistics.median(plain))}"
        )
    runs, _ = timed(lambda: index.facets(PROFILE), 1)
    print(
        f"  facets({PROFILE}) first {ms(runs[0])}; facets(ALL) first {ms(timed(lambda: index.facets(ALL), 1)[0][0])}"
    )


def updated(index: MemberIndex, rows: list[Member], repeat: int, rng: random.Random) -> None:
    index.facets(ALL)  # counts made: updated() carries them over
    print(
        "\nupdated() with 500 changes, median / worst (baseline: a build of the 500 changed rows)"
    )
    for kind in ("statuses", "mixed"):
        runs, plain = [], []
        for _ in range(repeat):
            changed: dict[str, Member | None] = {}
            for k, m in enumerate(rng.sample(rows, 500)):
                if kind == "mixed" and k % 10 == 0:
                    changed[m.gateway_id] = None
                elif kind == "mixed" and k % 10 == 1:
                    new_id = m.gateway_id + "-new"
                    changed[new_id] = dataclasses.replace(m, gateway_id=new_id)
                elif kind == "mixed" and k % 10 == 2:
                    profile = rng.choice(["profile-0001", None])
                    changed[m.gateway_id] = dataclasses.replace(m, profile=profile)
                else:
                    changed[m.gateway_id] = dataclasses.replace(m, status=rng.choice(list(Status)))
            started = time.perf_counter()
            index.updated(changed)
            runs.append(time.perf_counter() - started)
            started = time.perf_counter()
            MemberIndex.build([m for m in changed.values() if m is not None])
            plain.append(time.perf_counter() - started)
        what = (
            "status changes (the ids stay)"
            if kind == "statuses"
            else "mixed: 10 % removed, 10 % new ids, 10 % to another profile"
        )
        print(
            f"  {what:60s} {ms(statistics.median(runs))} / {ms(max(runs))}"
            f"   (baseline {ms(statistics.median(plain))})"
        )


def live(repo: Any, inventory: Any, store: Any, path: Path, args: Any, rng: random.Random) -> None:
    status = DaemonStatus(good=Loaded(COMMIT, repo), inventory=inventory)
    names = list(repo.profiles)
    types = repo.catalog.type_names
    started = time.perf_counter()
    with contextlib.closing(open_store(path, read_only=True)) as reader:
        states = reader.summaries(reader.stored_ids())
    old = reports.members_answer(
        members(repo, inventory, states), names, {"q": "status:declined"}, types=types
    )
    print(
        f"\nGET /api/v1/members, old path (every state read, every row made): {ms(time.perf_counter() - started)}"
    )

    ids = sorted(repo.gateways)
    params: list[dict[str, str | list[str]]] = [
        {"q": "status:declined"},
        {"q": "hauptstr"},
        {"profile": "profile-0007"},
        {"profile": "profile-0007", "status": ["Declined", "Mismatch"]},
        {"q": "firmware:>=2", "type": "LSX"},
        {},
    ]
    for max_age in (1.0, 0.0):
        live_members = LiveMembers(path, max_age_s=max_age)
        started = time.perf_counter()
        live_members.snapshot(status)
        print(
            f"\nLiveMembers(max_age_s={max_age}): first snapshot (a full build, waited for):"
            f" {ms(time.perf_counter() - started)}"
        )
        times, snapping = [], []
        next_write = time.monotonic()
        for n in range(args.requests):
            if time.monotonic() >= next_write:  # a rollout: --writes states every 0.1 s
                store.write(
                    [
                        AppliedGateway(
                            gid,
                            repo.gateways[gid].type,
                            None,
                            repo.gateways[gid].profile,
                            rng.choice(list(Status)),
                            updated_at=time.time(),
                        )
                        for gid in rng.sample(ids, args.writes)
                    ]
                )
                next_write += 0.1
            started = time.perf_counter()
            index = live_members.snapshot(status)
            snapped = time.perf_counter()
            code, _ = membersapi.members_answer(index, names, params[n % len(params)], types=types)
            times.append(time.perf_counter() - started)
            snapping.append(snapped - started)
            assert code == 200
            time.sleep(0.02)
        check = live_members.snapshot(status, fresh=True)
        assert check is not None
        again = membersapi.members_answer(check, names, {"q": "status:declined"}, types=types)
        assert again[0] == old[0]
        live_members.close()
        print(
            f"  snapshot + first page, {len(times)} requests 20 ms apart, {args.writes} writes"
            f" / 0.1 s:\n  p50 {ms(percentile(times, 0.5))}  p99 {ms(percentile(times, 0.99))}"
            f"  max {ms(max(times))}   (of which snapshot: p50 {ms(percentile(snapping, 0.5))}"
            f" p99 {ms(percentile(snapping, 0.99))}); full builds: {live_members.builds}"
        )


if __name__ == "__main__":
    main()
