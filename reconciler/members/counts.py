"""Counts of members per status and per profile.

Used by :mod:`reconciler.members.listing` (the counts on top of ``reconciler
status`` and of ``GET /api/v1/members``), the daemon's reports (``totals``
and each profile's ``statuses``) and its metrics
(``reconciler_gateways{profile,status}``).  Pure.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from reconciler.members.rows import NO_STATUS, Member
from reconciler.model.state import Status

STATUS_KEYS: tuple[str, ...] = (*(s.value for s in Status), NO_STATUS)
"""Every status key, in lifecycle order; counts always carry all of them."""


@dataclass(frozen=True, slots=True)
class ProfileCounts:
    """Members of one profile (``None``: no profile) and how many are in each status."""

    profile: str | None
    members: int
    statuses: Mapping[str, int]
    """Every key of :data:`STATUS_KEYS`, zero included."""
    reboot_pending: int = 0
    """Members with keys that take effect at the device's next boot."""


def count_statuses(rows: Iterable[Member]) -> dict[str, int]:
    """How many of ``rows`` are in each status; every key of :data:`STATUS_KEYS`, zero included."""
    found = Counter(m.status_key for m in rows)
    return {key: found[key] for key in STATUS_KEYS}


def count_by_profile(
    rows: Iterable[Member], *, profiles: Iterable[str] = ()
) -> list[ProfileCounts]:
    """Counts per profile, by name, "no profile" last; ``profiles`` are listed even with no members."""
    groups: dict[str | None, list[Member]] = {name: [] for name in profiles}
    for row in rows:
        groups.setdefault(row.profile, []).append(row)
    order = sorted((name for name in groups if name is not None), key=str) + (
        [None] if None in groups else []
    )
    return [
        ProfileCounts(
            name,
            len(groups[name]),
            count_statuses(groups[name]),
            sum(1 for m in groups[name] if m.reboot_pending),
        )
        for name in order
    ]
