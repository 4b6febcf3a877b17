"""A throwaway PostgreSQL server for tests and benchmarks: :class:`PostgresCluster`.

Used by ``tests/conftest.py`` (the ``postgres_cluster`` and ``postgres_url``
fixtures) and ``bench/bench_pg_driver.py``.  It runs Debian's (or any)
PostgreSQL server binaries: ``initdb`` into a temporary folder, ``pg_ctl
start`` on 127.0.0.1 and a free port, the Unix socket in the same folder,
``fsync=off`` (a test database needs no durability), and ``pg_ctl stop -m
immediate`` plus removal of the folder at the end.  ``initdb`` and
``postgres`` refuse to run as root (CI runs as root): then they run as the
user ``nobody``, in a folder owned by it.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Any

SERVER_TOOLS = ("initdb", "pg_ctl")


def server_bindir() -> Path | None:
    """The folder of ``initdb`` and ``pg_ctl``: ``pg_config --bindir``, else the newest
    ``/usr/lib/postgresql/*/bin`` (Debian), else ``None``."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            found = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=30
            )
            candidates.append(Path(found.stdout.strip()))

    def major(folder: str) -> int:
        name = Path(folder).parent.name
        return int(name) if name.isdigit() else 0

    candidates.extend(
        Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=major, reverse=True)
    )
    for folder in candidates:
        if all((folder / tool).is_file() for tool in SERVER_TOOLS):
            return folder
    on_path = [shutil.which(tool) for tool in SERVER_TOOLS]
    if all(on_path):
        return Path(str(on_path[0])).resolve().parent
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresCluster:
    """A PostgreSQL server of its own in a temporary folder, up from construction until :meth:`stop`."""

    def __init__(self, bindir: Path | None = None, *, max_connections: int = 200) -> None:
        found = bindir or server_bindir()
        if found is None:
            raise FileNotFoundError("PostgreSQL server binaries (initdb, pg_ctl) not found")
        self.bindir = found
        self.port = free_port()
        self._names = itertools.count(1)
        self.folder = Path(tempfile.mkdtemp(prefix="reconciler-pg-"))
        self.data = self.folder / "data"
        self._as: dict[str, Any] = {}
        if os.geteuid() == 0:  # initdb and postgres refuse root
            nobody = pwd.getpwnam("nobody")
            os.chmod(self.folder, 0o755)
            os.chown(self.folder, nobody.pw_uid, nobody.pw_gid)
            self._as = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}
        try:
            self._run(
                "initdb", "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8",
                "--locale=C", "-D", str(self.data),
            )  # fmt: skip
            self.options = options = (
                f"-c listen_addresses=127.0.0.1 -c port={self.port} "
                f"-c unix_socket_directories={self.folder} -c fsync=off "
                f"-c synchronous_commit=off -c full_page_writes=off "
                f"-c max_connections={max_connections} -c shared_buffers=64MB"
            )
            self._run(
                "pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data),
                "-l", str(self.folder / "server.log"), "-o", options,
            )  # fmt: skip
        except BaseException:
            self.stop()
            raise

    def _run(self, tool: str, *args: str) -> None:
        result = subprocess.run(
            [str(self.bindir / tool), *args],
            capture_output=True,
            text=True,
            **self._as,
            cwd=self.folder,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            log = self.folder / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{tool} failed: {result.stdout}{result.stderr}{tail}")

    def url(self, dbname: str = "postgres", user: str = "postgres") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self) -> str:
        """A new empty database; its URL."""
        import psycopg

        name = f"test_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def restart(self) -> None:
        """Restart the server (``pg_ctl restart -m fast``): every session is ended, as in a
        managed database's failover; returns once it accepts connections again."""
        self._run(
            "pg_ctl", "restart", "-m", "fast", "-w", "-t", "60", "-D", str(self.data),
            "-l", str(self.folder / "server.log"), "-o", self.options,
        )  # fmt: skip

    def stop(self) -> None:
        """Stop the server at once and remove its folder."""
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self._run("pg_ctl", "stop", "-m", "immediate", "-w", "-D", str(self.data))
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> PostgresCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
