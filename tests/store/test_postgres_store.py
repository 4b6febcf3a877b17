"""The PostgreSQL store only: opening by URL, migrations, passwords, the key file, pruning, reconnecting.

A real server (the ``postgres_url`` fixture: a fresh database per test); the
behaviour shared with SQLite is in test_store_contract.py, the replicas'
part (claims, leases, fencing, guarded writes) in test_shared_store.py.
"""

from __future__ import annotations

import stat
import threading
from contextlib import closing
from pathlib import Path

import psycopg
import pytest

from reconciler.errors import StoreError
from reconciler.model.state import AppliedGateway, Status
from reconciler.store import open_store, reading
from reconciler.store.opening import describe, is_shared
from reconciler.store.postgres import PostgresStore
from reconciler.store.postgres_schema import SCHEMA_VERSION
from reconciler.store.postgres_urls import describe_url, key_file_path

PASSWORD = "s3cret-Passw0rd"


@pytest.fixture(autouse=True)
def _key_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("RECONCILER_STATE_KEY_FILE", raising=False)


def gateway(gateway_id: str, status: Status = Status.ACCEPTED, **changes: object) -> AppliedGateway:
    values: dict[str, object] = {"accepted": {f"Key{i}": i for i in range(40)}, **changes}
    return AppliedGateway(gateway_id, "LSX", "2.0.0", "canary", status, **values)  # type: ignore[arg-type]


def with_password(url: str) -> str:
    return url.replace("postgres@", f"postgres:{PASSWORD}@")


def test_both_schemes_open_a_postgres_store_and_name_it_without_password(postgres_url: str) -> None:
    url = with_password(postgres_url)
    for location in (url, url.replace("postgresql://", "postgres://")):
        assert is_shared(location)
        with closing(open_store(location)) as store:
            assert isinstance(store, PostgresStore)
            assert store.schema_version == SCHEMA_VERSION
        assert PASSWORD not in describe(location) and describe(location).startswith("postgresql://")
    assert not is_shared("state.db") and describe("sqlite:///state.db") == "state.db"
    assert describe_url("postgresql://u:pw@db.example/x?sslmode=require") == (
        "postgresql://u@db.example:5432/x"
    )
    assert PASSWORD not in describe_url(f"postgresql://db.example/x?password={PASSWORD}")


def test_connection_failures_are_one_line_errors_without_the_password(postgres_url: str) -> None:
    closed_port = postgres_url.rsplit(":", 1)[0].replace("postgres@", f"app:{PASSWORD}@") + ":1/db"
    for location in (closed_port, closed_port + f"?password={PASSWORD}"):
        for read_only in (False, True):
            with pytest.raises(StoreError) as raised:
                open_store(location, read_only=read_only)
            message = str(raised.value)
            assert message.startswith("postgresql://app@127.0.0.1:1/db: cannot connect: ")
            assert PASSWORD not in message and "\n" not in message
            assert raised.value.__cause__ is None and raised.value.__suppress_context__
    with pytest.raises(StoreError) as raised:
        reading.read_state(closed_port)
    assert PASSWORD not in str(raised.value)


def test_three_replicas_starting_at_once_migrate_once(postgres_url: str) -> None:
    start = threading.Barrier(3)
    errors: list[BaseException] = []
    stores: list[PostgresStore] = []

    def open_one() -> None:
        start.wait()
        try:
            stores.append(PostgresStore(postgres_url))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == [] and len(stores) == 3
    stores[0].write([gateway("LSX-1")])
    assert [set(s.applied()) for s in stores] == [{"LSX-1"}] * 3
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    for store in stores:
        store.close()


def test_read_only_never_migrates_and_refuses_another_version(postgres_url: str) -> None:
    with pytest.raises(StoreError, match=r"schema version 0, this release needs"):
        open_store(postgres_url, read_only=True)
    assert reading.read_state(postgres_url) is None  # no schema yet: nothing applied
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT to_regclass('gateways')").fetchone() == (None,)
    open_store(postgres_url).close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("UPDATE schema_version SET version = %s", (SCHEMA_VERSION + 1,))
    with pytest.raises(StoreError, match="newer than this release"):
        open_store(postgres_url)
    with pytest.raises(StoreError, match=rf"schema version {SCHEMA_VERSION + 1}, this release"):
        open_store(postgres_url, read_only=True)


def test_the_key_file_is_private_shared_by_name_and_never_in_the_database(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with closing(open_store(postgres_url)) as store:
        key = store.secret_key()
        store.write([gateway("LSX-1")])
    path = key_file_path(postgres_url)
    assert path.parent == tmp_path / "xdg" / "reconciler"
    assert path.name.startswith("postgresql-127.0.0.1-") and path.name.endswith(".key")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    with psycopg.connect(postgres_url) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            )
        ]
        dump = "".join(str(conn.execute(f"SELECT * FROM {t}").fetchall()) for t in tables)
    assert "gateways" in tables and key.hex() not in dump and "LSX-1" in dump
    named = tmp_path / "secret" / "state.key"
    named.parent.mkdir()
    monkeypatch.setenv("RECONCILER_STATE_KEY_FILE", str(named))
    with closing(open_store(postgres_url)) as store:
        assert store.stored_secret_key() is None
        assert store.secret_key() == bytes.fromhex(named.read_text())


def test_a_pruned_configuration_is_stored_again_by_a_writer_that_cached_it(
    postgres_url: str,
) -> None:
    with PostgresStore(postgres_url) as writer, PostgresStore(postgres_url) as pruner:
        writer.write([gateway("LSX-1")])
        writer.write([gateway("LSX-1", accepted={})])  # the big configuration is unreferenced
        assert pruner.prune_configs() == 1
        writer.write([gateway("LSX-2")])  # its cache says stored; the generation says pruned
        assert pruner.get("LSX-2").accepted["Key39"] == 39  # type: ignore[union-attr]
        assert pruner.prune_configs() == 0


def test_a_store_reconnects_after_its_session_is_killed(postgres_url: str) -> None:
    with PostgresStore(postgres_url) as store:
        store.write([gateway("LSX-1")])
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'reconciler' AND pid <> pg_backend_pid()"
            )
        with pytest.raises(StoreError) as raised:
            store.count()
        assert "\n" not in str(raised.value)
        assert store.count() == 1
