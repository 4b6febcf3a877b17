"""The SQL of what replicas share in the PostgreSQL store: replica leases, the leader lease, claims.

Used by :class:`reconciler.store.postgres.PostgresStore`, which runs each
function inside its own transaction (and its own lock): every function takes
an open psycopg connection.  Lease times are on the database clock
(``clock_timestamp()``), never the replicas' own, so replicas whose clocks
disagree agree on who is live and who leads.

A gateway is *claimed* by the replica named in ``claimed_by`` for as long as
that replica's lease runs; work (Requested or Sent) whose replica is no longer
live is an orphan that any live replica may claim.  Claims take rows with
``FOR UPDATE SKIP LOCKED``: two replicas claiming at once never wait on each
other's rows and never take the same one.  The rollouts claimed from are
locked ``FOR UPDATE`` before their gateways in work are counted, so two
claimers never both take a rollout past its ``max_in_flight``.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from reconciler.errors import NotLeaderError
from reconciler.model.state import Status
from reconciler.store.base import Lease, Replica
from reconciler.store.rows import COLUMNS

DEAD_KEPT = "1 hour"
"""How long a dead replica's row stays for the record (:func:`replicas`)."""

_IN_WORK = "('Requested', 'Sent')"
_UNCLAIMED = "(g.claimed_by IS NULL OR g.claimed_by <> ALL(%(live)s::text[]))"


def _term(term_s: float) -> Any:
    return max(0.0, float(term_s))


def live_replicas(conn: Any) -> list[str]:
    rows = conn.execute("SELECT replica_id FROM replicas WHERE expires_at > clock_timestamp()")
    return [row[0] for row in rows]


def check_fences(
    conn: Any, name: str, replica_id: str | None, fence: tuple[str, int] | None
) -> None:
    """Inside a write transaction: refuse it (:class:`NotLeaderError`) unless the leader lease is
    still ``fence`` (holder, epoch), locked ``FOR SHARE`` until commit, and the replica
    ``replica_id`` is still live."""
    if fence is not None:
        held = conn.execute(
            "SELECT 1 FROM leader WHERE id = 1 AND holder = %s AND epoch = %s "
            "AND expires_at > clock_timestamp() FOR SHARE",
            fence,
        ).fetchone()
        if held is None:
            raise NotLeaderError(
                f"{name}: replica {fence[0]} no longer holds the leader lease of epoch {fence[1]}; nothing written"
            )
    if replica_id is not None:
        live = conn.execute(
            "SELECT 1 FROM replicas WHERE replica_id = %s AND expires_at > clock_timestamp()",
            (replica_id,),
        ).fetchone()
        if live is None:
            raise NotLeaderError(
                f"{name}: the lease of replica {replica_id} ran out; nothing written"
            )


def register(conn: Any, name: str, term_s: float) -> str:
    replica_id = f"{name}-{secrets.token_hex(4)}"
    conn.execute(
        f"DELETE FROM replicas WHERE expires_at < clock_timestamp() - interval '{DEAD_KEPT}'"
    )
    conn.execute(
        "INSERT INTO replicas (replica_id, name, started_at, expires_at) VALUES "
        "(%s, %s, clock_timestamp(), clock_timestamp() + make_interval(secs => %s))",
        (replica_id, name, _term(term_s)),
    )
    return replica_id


def heartbeat(conn: Any, replica_id: str, term_s: float) -> bool:
    renewed = conn.execute(
        "UPDATE replicas SET expires_at = clock_timestamp() + make_interval(secs => %s) "
        "WHERE replica_id = %s AND expires_at > clock_timestamp()",
        (_term(term_s), replica_id),
    )
    return bool(renewed.rowcount)


def deregister(conn: Any, replica_id: str) -> None:
    conn.execute(
        "UPDATE replicas SET expires_at = clock_timestamp() "
        "WHERE replica_id = %s AND expires_at > clock_timestamp()",
        (replica_id,),
    )


def lead(conn: Any, replica_id: str, name: str, term_s: float) -> int | None:
    row = conn.execute(
        "WITH now AS (SELECT clock_timestamp() AS t) "
        "UPDATE leader SET holder = %(me)s, name = %(name)s, "
        "epoch = CASE WHEN holder = %(me)s AND expires_at > now.t THEN epoch ELSE epoch + 1 END, "
        "expires_at = now.t + make_interval(secs => %(term)s) FROM now "
        "WHERE id = 1 AND (holder IS NULL OR expires_at <= now.t OR holder = %(me)s) "
        "RETURNING epoch",
        {"me": replica_id, "name": name, "term": _term(term_s)},
    ).fetchone()
    return None if row is None else int(row[0])


def resign(conn: Any, replica_id: str, epoch: int) -> None:
    conn.execute(
        "UPDATE leader SET expires_at = least(expires_at, clock_timestamp()) "
        "WHERE id = 1 AND holder = %s AND epoch = %s",
        (replica_id, epoch),
    )


def leader(conn: Any) -> Lease:
    row = conn.execute(
        "SELECT holder, epoch, extract(epoch FROM expires_at - clock_timestamp()), name "
        "FROM leader WHERE id = 1"
    ).fetchone()
    if row is None:
        return Lease(None, 0, 0.0)
    holder, epoch, expires_in, name = row
    return Lease(holder, int(epoch), float(expires_in), name or "")


def replicas(conn: Any) -> list[Replica]:
    claims = dict(
        conn.execute(
            "SELECT g.claimed_by, count(*) FROM gateways g "
            f"WHERE g.claimed_by IS NOT NULL AND (g.status IN {_IN_WORK} OR (g.status = 'Initial' "
            "AND g.rollout_id IN (SELECT rollout_id FROM rollouts WHERE state = 'running'))) "
            "GROUP BY g.claimed_by"
        ).fetchall()
    )
    rows = conn.execute(
        "SELECT replica_id, name, extract(epoch FROM started_at), "
        "extract(epoch FROM expires_at - clock_timestamp()) FROM replicas "
        "ORDER BY expires_at > clock_timestamp() DESC, started_at, replica_id"
    ).fetchall()
    return [
        Replica(rid, name, float(started), float(expires_in), int(claims.get(rid, 0)))
        for rid, name, started, expires_in in rows
    ]


def claim(
    conn: Any, replica_id: str, limit: int, max_in_flight: Callable[[str | None], int | None]
) -> list[tuple[Any, ...]]:
    """Rows (:data:`COLUMNS`) of the gateways claimed for ``replica_id``; see ``SharedStore.claim``."""
    if limit <= 0:
        return []
    live = live_replicas(conn)
    taken = [
        row[0]
        for row in conn.execute(
            f"SELECT gateway_id FROM gateways g WHERE g.status IN {_IN_WORK} AND {_UNCLAIMED} "
            "ORDER BY g.rollout_id, g.gateway_id LIMIT %(limit)s FOR UPDATE SKIP LOCKED",
            {"live": live, "limit": limit},
        )
    ]
    remaining = limit - len(taken)
    if remaining > 0:
        taken.extend(_claim_initial(conn, replica_id, live, remaining, max_in_flight))
    if not taken:
        return []
    rows = conn.execute(
        f"UPDATE gateways SET claimed_by = %s WHERE gateway_id = ANY(%s::text[]) RETURNING {COLUMNS}",
        (replica_id, taken),
    ).fetchall()
    order = {gateway_id: n for n, gateway_id in enumerate(taken)}
    rows.sort(key=lambda row: order[row[0]])
    return list(rows)


def _claim_initial(
    conn: Any,
    replica_id: str,
    live: list[str],
    remaining: int,
    max_in_flight: Callable[[str | None], int | None],
) -> list[str]:
    """Lock the running rollouts with unclaimed Initial gateways, count their work, take the rest.

    A rollout's ``max_in_flight`` is shared out between the live replicas: one replica
    holds at most its share (rounded up) of a rollout's gateways in work, so a replica
    that claims first cannot keep the whole budget to itself while the others wait.
    """
    rollouts = conn.execute(
        # A LATERAL probe with LIMIT 1 per running rollout: never flattened into a scan of every
        # Initial gateway (the planner turns an EXISTS into one at 100,000 gateways).
        "SELECT r.rollout_id, r.profile FROM rollouts r CROSS JOIN LATERAL (SELECT 1 FROM gateways g "
        "WHERE g.status = 'Initial' AND g.rollout_id = r.rollout_id "
        f"AND {_UNCLAIMED} LIMIT 1) AS waiting WHERE r.state = 'running' "
        "ORDER BY r.rollout_id FOR UPDATE OF r",
        {"live": live},
    ).fetchall()
    if not rollouts:
        return []
    ids = [rollout_id for rollout_id, _ in rollouts]
    busy = Counter[int]()
    mine = Counter[int]()
    # After the locks: sees every claim committed before.
    for rollout_id, owner, count in conn.execute(
        "SELECT rollout_id, claimed_by, count(*) FROM gateways WHERE rollout_id = ANY(%(ids)s::bigint[]) "
        f"AND status IN {_IN_WORK} GROUP BY rollout_id, claimed_by UNION ALL "
        "SELECT rollout_id, claimed_by, count(*) FROM gateways WHERE claimed_by = ANY(%(live)s::text[]) "
        "AND status = 'Initial' AND rollout_id = ANY(%(ids)s::bigint[]) GROUP BY rollout_id, claimed_by",
        {"ids": ids, "live": live},
    ):
        busy[int(rollout_id)] += int(count)
        if owner == replica_id:
            mine[int(rollout_id)] += int(count)
    replicas = max(1, len(live))
    budgets: list[tuple[int, int]] = []
    for rollout_id, profile in rollouts:
        cap = max_in_flight(profile)
        if cap is None:
            room = remaining
        else:
            share = -(-cap // replicas)  # rounded up: together the shares cover the cap
            room = min(remaining, cap - busy[rollout_id], share - mine[rollout_id])
        if room > 0:
            budgets.append((rollout_id, room))
    if not budgets:
        return []
    found = conn.execute(
        "SELECT c.gateway_id FROM unnest(%(ids)s::bigint[], %(limits)s::int[]) WITH ORDINALITY "
        "AS b(rollout_id, lim, ord) CROSS JOIN LATERAL (SELECT g.gateway_id FROM gateways g "
        f"WHERE g.status = 'Initial' AND g.rollout_id = b.rollout_id AND {_UNCLAIMED} "
        "ORDER BY g.gateway_id LIMIT b.lim FOR UPDATE OF g SKIP LOCKED) c ORDER BY b.ord, c.gateway_id",
        {"ids": [b[0] for b in budgets], "limits": [b[1] for b in budgets], "live": live},
    ).fetchall()
    return [row[0] for row in found[:remaining]]


def rollout_counts(conn: Any, rollout_ids: Sequence[int]) -> dict[int, Counter[Status]]:
    counts: dict[int, Counter[Status]] = {int(r): Counter() for r in rollout_ids}
    rows = conn.execute(
        "SELECT rollout_id, status, count(*) FROM gateways WHERE rollout_id = ANY(%s::bigint[]) "
        "GROUP BY rollout_id, status",
        (list(counts),),
    )
    for rollout_id, status, count in rows:
        counts[int(rollout_id)][Status(status)] = int(count)
    return counts


def unowned(conn: Any) -> int:
    row = conn.execute(
        f"SELECT count(*) FROM gateways g WHERE g.status IN {_IN_WORK} AND {_UNCLAIMED}",
        {"live": live_replicas(conn)},
    ).fetchone()
    return int(row[0])


def finish_idle_rollouts(conn: Any, older_than_s: float, exclude: Sequence[int]) -> int:
    done = conn.execute(
        "WITH now AS (SELECT extract(epoch FROM clock_timestamp())::float8 AS t) "
        "UPDATE rollouts r SET state = 'finished', finished_at = now.t FROM now "
        "WHERE r.state = 'running' AND r.started_at < now.t - %(older)s "
        "AND r.rollout_id <> ALL(%(exclude)s::bigint[]) AND NOT EXISTS (SELECT 1 FROM gateways g "
        "WHERE g.rollout_id = r.rollout_id AND g.status IN ('Initial', 'Requested', 'Sent'))",
        {"older": float(older_than_s), "exclude": [int(r) for r in exclude]},
    )
    return int(done.rowcount)
