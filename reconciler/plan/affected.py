"""Which gateways a new commit may change: the daemon re-plans only those.  Pure.

Called by the daemon's rollout task and ``bench/bench_plan.py``.
"""

from __future__ import annotations

from reconciler.model.repos import Repo


def affected_gateways(old: Repo, new: Repo) -> set[str]:
    """Gateways whose plan may differ between two repos: changed entries and members of changed profiles.

    Unchanged files yield the very same objects from the loader's cache, so a
    commit that touches one file costs work for that file only.
    """
    changed_profiles = {
        name
        for name in old.profiles.keys() | new.profiles.keys()
        if old.profiles.get(name) is not new.profiles.get(name)
        and old.profiles.get(name) != new.profiles.get(name)
    }
    affected: set[str] = set()
    for path in old.entries_by_file.keys() | new.entries_by_file.keys():
        before_entries, after_entries = (
            old.entries_by_file.get(path, ()),
            new.entries_by_file.get(path, ()),
        )
        if before_entries is after_entries:
            continue
        before = {e.id: e for e in before_entries}
        after = {e.id: e for e in after_entries}
        affected.update(g for g in before.keys() | after.keys() if before.get(g) != after.get(g))
    for name in changed_profiles:
        affected.update(old.members.get(name, ()))
        affected.update(new.members.get(name, ()))
    return affected
