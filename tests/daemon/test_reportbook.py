"""The report's member pages: laid out per profile, rewritten only where something changed.

A real SQLite store and a real report directory; the counts the pages make
are checked against the members table's own counting
(:func:`reconciler.members.counts.count_by_profile` over every row).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

from reconciler.daemon.memberpages import PAGE_SIZE, page_path
from reconciler.daemon.reportbook import ReportBook, Tally
from reconciler.loading.repos import load_repo
from reconciler.loading.sources import DirectorySource
from reconciler.members.counts import count_by_profile, count_statuses
from reconciler.members.rows import members
from reconciler.model.inventory import INVENTORY_LIST
from reconciler.model.repos import Repo
from reconciler.model.state import AppliedGateway, Status
from reconciler.store.sqlite import SQLiteStore
from reconciler.testing.repos import inventory_for, synthetic_repo

GATEWAYS = 1_250  # two profiles of 625: two pages each, the second partly filled


def setup(tmp_path: Path) -> tuple[Repo, SQLiteStore, ReportBook]:
    root = synthetic_repo(tmp_path / "repo", gateways=GATEWAYS, files=5, profiles=2)
    repo = load_repo(DirectorySource(root))
    store = SQLiteStore(tmp_path / "state.db")
    store.write(
        [
            AppliedGateway(g.id, g.type, None, g.profile, Status.ACCEPTED, updated_at=10.0)
            for g in repo.gateways.values()
        ]
    )
    return repo, store, ReportBook(tmp_path / "report")


def page_json(tmp_path: Path, profile: str | None, number: int) -> dict[str, object]:
    text = (tmp_path / "report" / page_path(profile, number, "json")).read_text()
    page: dict[str, object] = json.loads(text)
    return page


def agrees(tally: Tally, repo: Repo, store: SQLiteStore, inventory: object = None) -> None:
    """The pages' counts are those of every member row, counted the members table's way."""
    rows = members(repo, inventory, store.applied())  # type: ignore[arg-type]
    assert tally.totals == count_statuses(rows)
    assert list(tally.counts) == count_by_profile(rows, profiles=repo.profiles)
    assert sum(p["members"] for p in tally.pages) == len(rows)


def test_pages_are_laid_out_per_profile_and_rewritten_only_where_something_changed(
    tmp_path: Path,
) -> None:
    repo, store, book = setup(tmp_path)
    with store:
        first = book.update(repo, None, store, frozenset(), now=20.0)
        assert first.rewritten == 4 and first.error is None
        assert [(p["profile"], p["page"], p["members"]) for p in first.pages] == [
            ("profile-0000", 1, PAGE_SIZE),
            ("profile-0000", 2, GATEWAYS // 2 - PAGE_SIZE),
            ("profile-0001", 1, PAGE_SIZE),
            ("profile-0001", 2, GATEWAYS // 2 - PAGE_SIZE),
        ]
        agrees(first, repo, store)
        assert book.update(repo, None, store, frozenset(), now=30.0).rewritten == 0

        # One gateway's state changes: its page alone is rewritten.
        page = page_json(tmp_path, "profile-0001", 2)
        target = page["gateways"][3]["id"]  # type: ignore[index]
        old = store.get(target)
        assert old is not None
        store.write([dataclasses.replace(old, status=Status.DECLINED, reason="no", updated_at=31)])
        changed = book.update(repo, None, store, frozenset(), now=32.0)
        assert changed.rewritten == 1
        row = next(
            g for g in page_json(tmp_path, "profile-0001", 2)["gateways"] if g["id"] == target
        )  # type: ignore[attr-defined]
        assert (row["status"], row["reason"]) == ("Declined", "no")
        assert changed.totals["Declined"] == 1 and changed.retryable == {"profile-0001": 1}
        agrees(changed, repo, store)
        # The next update looks back a margin (writes in flight), the one after does not.
        assert book.update(repo, None, store, frozenset(), now=60.0).rewritten == 1
        assert book.update(repo, None, store, frozenset(), now=60.5).rewritten == 0

        # The inventory arrives (every page), then one gateway's entry changes (one page).
        types = {g.id: g.type for g in repo.gateways.values()}
        known = {g.id: g for g in INVENTORY_LIST.validate_python(inventory_for(types))}
        assert book.update(repo, known, store, frozenset(), now=61.0).rewritten == 4
        moved = dict(known)
        moved[target] = dataclasses.replace(known[target], owner="New Owner GmbH")
        assert book.update(repo, moved, store, frozenset(), now=62.0).rewritten == 1
        row = next(
            g for g in page_json(tmp_path, "profile-0001", 2)["gateways"] if g["id"] == target
        )  # type: ignore[attr-defined]
        assert row["owner"] == "New Owner GmbH"

        # An aborted rollout decides which Initial members may be retried: every page.
        assert book.update(repo, moved, store, frozenset({7}), now=63.0).rewritten == 4
        agrees(book.update(repo, moved, store, frozenset({7}), now=64.0), repo, store, moved)


def test_a_commit_moves_only_the_pages_it_touches_and_removed_pages_are_deleted(
    tmp_path: Path,
) -> None:
    repo, store, book = setup(tmp_path)
    with store:
        book.update(repo, None, store, frozenset(), now=20.0)
        # The same commit loaded again (new objects, equal declarations): nothing to write.
        again = load_repo(DirectorySource(tmp_path / "repo"))
        assert book.update(again, None, store, frozenset(), now=40.0).rewritten == 0

        # Every member of profile-0001 loses its profile: they move to the "no profile"
        # pages, and profile-0001's pages go.
        root = tmp_path / "repo"
        for path in (root / "gateways.d").rglob("*.yaml"):
            text = path.read_text()
            path.write_text(
                "\n".join(line for line in text.splitlines() if "profile: profile-0001" not in line)
                + "\n"
            )
        changed = load_repo(DirectorySource(root))
        tally = book.update(changed, None, store, frozenset(), now=41.0)
        assert {(p["profile"], p["page"]) for p in tally.pages} == {
            ("profile-0000", 1),
            ("profile-0000", 2),
            (None, 1),
            (None, 2),
        }
        assert tally.rewritten == 2, "profile-0000's pages did not change"
        assert not (tmp_path / "report" / "members" / "profile-profile-0001").exists()
        agrees(tally, changed, store)

        # The store forgets them (their reset is done): still declared, with no status now.
        store.forget([i for i, g in changed.gateways.items() if g.profile is None])
        tally = book.update(changed, None, store, frozenset(), now=42.0)
        assert tally.totals["none"] == GATEWAYS // 2 and tally.rewritten == 2
        agrees(tally, changed, store)


def test_pages_that_cannot_be_written_are_counted_and_written_once_they_can(
    tmp_path: Path,
) -> None:
    repo, store, book = setup(tmp_path)
    report = tmp_path / "report"
    report.write_text("not a directory\n")
    with store:
        failed = book.update(repo, None, store, frozenset(), now=20.0)
        assert isinstance(failed.error, OSError)
        agrees(failed, repo, store)
        report.unlink()
        later = book.update(repo, None, store, frozenset(), now=100.0)
        assert later.error is None and later.rewritten == 4
        assert page_json(tmp_path, "profile-0000", 1)["page"] == 1
        shutil.rmtree(report)
