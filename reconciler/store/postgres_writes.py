"""Guarded batch writes of the PostgreSQL store: one statement per batch, whatever its size.

Used by :class:`reconciler.store.postgres.PostgresStore` (``write`` and
``forget``) inside its write transaction.  Each state names the status it
expects to replace (the one the store instance last read or wrote for that
gateway) and, for a gateway the instance claimed, the replica id it claimed
it under (a later incarnation of the replica holds it no more): ``UPDATE ...
FROM unnest(...)`` touches only the rows still as expected, ``INSERT ... ON
CONFLICT DO NOTHING`` adds the gateways the instance never saw, and a
transition is recorded for each row written whose status changed; all in one
round trip.  What the statement did not write, another writer changed.  A writer
that did not claim a gateway clears its claim (a new Initial state of it is then
claimable by any replica).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.model.state import AppliedGateway
from reconciler.store.postgres_rows import PgConfigs
from reconciler.store.postgres_schema import CONFIGS_GENERATION, CONFIGS_LOCK
from reconciler.store.rows import COLUMNS

_TYPES = (
    ("gateway_id", "text"),
    ("type", "text"),
    ("firmware", "text"),
    ("profile", "text"),
    ("status", "text"),
    ("accepted", "text"),
    ("target", "text"),
    ("reason", "text"),
    ("job_id", "text"),
    ("attempts", "int"),
    ("commit_sha", "text"),
    ("updated_at", "float8"),
    ("mismatch", "text"),
    ("skipped", "text"),
    ("job_key", "text"),
    ("rollout_id", "bigint"),
    ("send", "text"),
    ("reboot_pending", "text"),
)
assert ", ".join(name for name, _ in _TYPES) == COLUMNS

_ARRAYS = ", ".join(f"%({name})b::{kind}[]" for name, kind in _TYPES)
_SET = ", ".join(f"{name} = v.{name}" for name, _ in _TYPES[1:])
_V_COLUMNS = ", ".join(f"v.{name}" for name, _ in _TYPES)

WRITE = f"""
WITH v AS (
    SELECT * FROM unnest({_ARRAYS}, %(expected)b::text[], %(claim)b::text[])
    WITH ORDINALITY AS v({COLUMNS}, expected, claim, ord)
),
cf AS (
    INSERT INTO configs (hash, text) SELECT * FROM unnest(%(hashes)b::text[], %(texts)b::text[])
    ON CONFLICT (hash) DO NOTHING
),
upd AS (
    UPDATE gateways g SET {_SET}, claimed_by = CASE WHEN v.claim IS NOT NULL THEN g.claimed_by END FROM v
    WHERE v.expected IS NOT NULL AND g.gateway_id = v.gateway_id AND g.status = v.expected
      AND (v.claim IS NULL OR g.claimed_by = v.claim)
    RETURNING g.gateway_id
),
ins AS (
    INSERT INTO gateways ({COLUMNS}) SELECT {_V_COLUMNS} FROM v WHERE v.expected IS NULL
    ON CONFLICT (gateway_id) DO NOTHING
    RETURNING gateway_id
),
done AS (SELECT gateway_id FROM upd UNION ALL SELECT gateway_id FROM ins),
tr AS (
    INSERT INTO transitions (gateway_id, status, at, reason, rollout_id)
    SELECT v.gateway_id, v.status, v.updated_at, v.reason, v.rollout_id
    FROM v JOIN done ON done.gateway_id = v.gateway_id
    WHERE v.expected IS DISTINCT FROM v.status ORDER BY v.ord
)
SELECT gateway_id FROM done
"""

FORGET = """
DELETE FROM gateways g
USING unnest(%(ids)b::text[], %(expected)b::text[], %(claim)b::text[]) AS v(gateway_id, expected, claim)
WHERE g.gateway_id = v.gateway_id AND (v.expected IS NULL OR g.status = v.expected)
  AND (v.claim IS NULL OR g.claimed_by = v.claim)
RETURNING g.gateway_id
"""


def write_states(
    conn: Any,
    configs: PgConfigs,
    states: Sequence[AppliedGateway],
    rollout_id: int | None,
    expected: Mapping[str, str],
    claimed: Mapping[str, str],
) -> tuple[set[str], dict[str, str]]:
    """Write ``states`` (one per gateway) guarded by ``expected`` statuses and ``claimed`` (gateway
    id -> the replica id that claimed it: the row must still be that replica's);
    the ids written, and the configuration texts this transaction stored (hash -> text)."""
    conn.execute("SELECT pg_advisory_xact_lock_shared(%s)", (CONFIGS_LOCK,))
    generation = conn.execute(  # after the lock: no pruning runs until this commits
        "SELECT value FROM meta WHERE key = %s", (CONFIGS_GENERATION,)
    ).fetchone()
    generation_value = None if generation is None else str(generation[0])
    if generation_value != configs.generation:  # pruned since: any cached hash may be gone
        configs.codec.stored.clear()
        configs.generation = generation_value
    codec = configs.codec
    new: dict[str, str] = {}
    columns: dict[str, list[Any]] = {name: [] for name, _ in _TYPES}
    for s in states:
        columns["gateway_id"].append(s.gateway_id)
        columns["type"].append(s.type)
        columns["firmware"].append(s.firmware)
        columns["profile"].append(s.profile)
        columns["status"].append(s.status.value)
        columns["accepted"].append(codec.ref(s.accepted, new))
        columns["target"].append(codec.ref(s.target, new))
        columns["reason"].append(s.reason)
        columns["job_id"].append(s.job_id)
        columns["attempts"].append(s.attempts)
        columns["commit_sha"].append(s.commit)
        columns["updated_at"].append(float(s.updated_at))
        columns["mismatch"].append(codec.ref(s.mismatch, new))
        columns["skipped"].append(codec.text(s.skipped))
        columns["job_key"].append(s.job_key)
        columns["rollout_id"].append(s.rollout_id if rollout_id is None else rollout_id)
        columns["send"].append(codec.ref(s.send, new))
        columns["reboot_pending"].append(codec.text(s.reboot_pending))
    ids = columns["gateway_id"]
    params: dict[str, Any] = {
        **columns,
        "expected": [expected.get(g) for g in ids],
        "claim": [claimed.get(g) for g in ids],
        "hashes": list(new),
        "texts": list(new.values()),
    }
    written = {row[0] for row in conn.execute(WRITE, params)}
    return written, new


def forget_states(
    conn: Any,
    gateway_ids: Sequence[str],
    expected: Mapping[str, str],
    claimed: Mapping[str, str],
) -> set[str]:
    """Delete these gateways' rows, guarded like :func:`write_states`; the ids deleted."""
    params = {
        "ids": list(gateway_ids),
        "expected": [expected.get(g) for g in gateway_ids],
        "claim": [claimed.get(g) for g in gateway_ids],
    }
    return {row[0] for row in conn.execute(FORGET, params)}


def prune_configs(conn: Any, configs: PgConfigs) -> int:
    """Inside a write transaction: delete the configurations no gateway row refers to; how many went.

    Under the exclusive ``CONFIGS_LOCK``: no write that refers to a configuration runs meanwhile
    (they take it shared), and each later one sees the new generation and stores its
    configurations again rather than trusting its cache."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (CONFIGS_LOCK,))
    referenced = " UNION ".join(
        f"SELECT substr({column}, 2) FROM gateways WHERE {column} LIKE '@%%'"
        for column in ("accepted", "target", "mismatch", "send")
    )
    gone = conn.execute(
        f"DELETE FROM configs WHERE hash NOT IN ({referenced}) RETURNING hash"
    ).fetchall()
    if gone:
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (%s, gen_random_uuid()::text) "
            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            (CONFIGS_GENERATION,),
        )
        configs.codec.forget(row[0] for row in gone)
    return len(gone)
