"""A replica paused (SIGSTOP) past its lease, then resumed (SIGCONT), writes nothing under it.

Two ``reconciler run`` replicas on one PostgreSQL store; the leader, while its
worker holds claims of a rollout in progress, is paused until the other replica
leads and has taken its work over, then resumed.  Every row change is recorded
by triggers with the writing session's name (each replica names its sessions):
after the resume, the paused replica changes no rollout, meta or lease row, and
no gateway under the claims of its old lease; what it writes later, it writes
under a new lease of its own.  The rollout still ends with every gateway
Accepted and no job made twice.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import psycopg
import pytest

from reconciler.testing.replicas import ReplicaRig, rig_repo, wait

pytestmark = pytest.mark.timeout(600)

GATEWAYS = 3_000
TERM_S = 3.0

AUDIT = """
CREATE TABLE audit (
    at timestamptz NOT NULL DEFAULT clock_timestamp(),
    app text NOT NULL DEFAULT current_setting('application_name'),
    tbl text NOT NULL, op text NOT NULL, gateway_id text, claimed_by text
);
CREATE FUNCTION audit_gateway() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    INSERT INTO audit (tbl, op, gateway_id, claimed_by) VALUES ('gateways', TG_OP, OLD.gateway_id, OLD.claimed_by);
  ELSE
    INSERT INTO audit (tbl, op, gateway_id, claimed_by) VALUES ('gateways', TG_OP, NEW.gateway_id, NEW.claimed_by);
  END IF;
  RETURN NULL;
END $$;
CREATE FUNCTION audit_other() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO audit (tbl, op) VALUES (TG_TABLE_NAME, TG_OP);
  RETURN NULL;
END $$;
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON gateways
  FOR EACH ROW EXECUTE FUNCTION audit_gateway();
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON rollouts
  FOR EACH ROW EXECUTE FUNCTION audit_other();
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON meta
  FOR EACH ROW EXECUTE FUNCTION audit_other();
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON leader
  FOR EACH ROW EXECUTE FUNCTION audit_other();
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON transitions
  FOR EACH ROW EXECUTE FUNCTION audit_other();
"""


def claims_of(url: str, name: str) -> int:
    with psycopg.connect(url) as db:
        row = db.execute(
            "SELECT count(*) FROM gateways g JOIN replicas r ON g.claimed_by = r.replica_id "
            "WHERE r.name = %s AND g.status IN ('Initial', 'Requested', 'Sent')",
            (name,),
        ).fetchone()
    return int(row[0]) if row else 0


def log_messages(path: Path) -> list[str]:
    found = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            found.append(str(json.loads(line).get("message", "")))
        except ValueError:
            continue
    return found


def test_a_paused_replica_writes_nothing_under_its_old_lease(
    tmp_path: Path, postgres_url: str
) -> None:
    repo = rig_repo(tmp_path, GATEWAYS, profiles=3, max_in_flight=100)
    rig = ReplicaRig(tmp_path, postgres_url, repo, lease_term_s=TERM_S, job_step_ms=1000)
    try:
        rig.start_fleet(["p1", "p2"])
        paused = wait(rig.leader, 60, "a leader")
        other = next(r for r in rig.replicas.values() if r is not paused)
        wait(lambda: claims_of(postgres_url, paused.name) > 0, 120, "the leader's worker to work")
        with psycopg.connect(postgres_url, autocommit=True) as db:
            db.execute(AUDIT)
        rig.pause(paused)
        wait(lambda: other.ready() and other.ready().get("leading"), 6 * TERM_S, "a new leader")  # type: ignore[union-attr]
        time.sleep(TERM_S)  # past the paused replica's own lease too: its work is taken over
        wait(lambda: claims_of(postgres_url, paused.name) == 0, 6 * TERM_S, "its work taken over")
        with psycopg.connect(postgres_url) as db:
            old = {
                r[0]
                for r in db.execute(
                    "SELECT replica_id FROM replicas WHERE name = %s", (paused.name,)
                )
            }
            resumed_at = db.execute("SELECT clock_timestamp()").fetchone()[0]  # type: ignore[index]
        rig.resume(paused)
        wait(
            lambda: (
                any("stops leading" in m for m in log_messages(paused.log))
                and any("lost its lease" in m for m in log_messages(paused.log))
            ),
            30,
            "the resumed replica to notice it lost both leases",
        )
        time.sleep(2 * TERM_S)  # what it would still write, it would write now
        with psycopg.connect(postgres_url) as db:
            rows = db.execute(
                "SELECT tbl, op, gateway_id, claimed_by FROM audit WHERE app = %s AND at > %s",
                (f"reconciler-{paused.name}", resumed_at),
            ).fetchall()
            others = db.execute(
                "SELECT count(*) FROM audit WHERE app = %s", (f"reconciler-{other.name}",)
            ).fetchone()
        wait(
            lambda: rig.statuses() == Counter({"Accepted": GATEWAYS}),
            300,
            "every gateway Accepted",
            every=1.0,
        )
        counters = rig.counters()
    finally:
        rig.close()
    assert others and others[0] > 0  # the audit sees the replica that took over
    leader_writes = [r for r in rows if r[0] in ("rollouts", "meta", "leader")]
    assert leader_writes == []  # the deposed leader changed no rollout, no meta, no lease
    stale = [r for r in rows if r[0] == "gateways" and (r[3] is None or r[3] in old)]
    assert stale == []  # nothing under its old claims (nor as a leader)
    assert counters["jobs_created"] == GATEWAYS
