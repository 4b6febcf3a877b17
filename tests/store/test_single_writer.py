"""One writer per state store: a second ``run``, ``apply`` or writable open is refused, read-only opens are not.

Real processes and real files: the lock is the kernel's, so what matters is
what another process sees, including after the holder was killed with ``kill -9``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from reconciler.errors import StoreError, StoreLockedError
from reconciler.model.state import AppliedGateway, Status
from reconciler.store import open_store, reading
from reconciler.store.locking import lock_path

EXAMPLE = Path(__file__).resolve().parents[2]
HOST = os.uname().nodename

HOLDER = textwrap.dedent(
    """
    import sys, time
    from reconciler.store import open_store

    store = open_store(sys.argv[1])
    print("ready", flush=True)
    time.sleep(120)
    """
)

SECOND = textwrap.dedent(
    """
    import sys
    from reconciler.errors import StoreError
    from reconciler.store import open_store

    try:
        open_store(sys.argv[1]).close()
    except StoreError as exc:
        print(exc, file=sys.stderr)
        sys.exit(1)
    """
)


def gateway(gateway_id: str) -> AppliedGateway:
    return AppliedGateway(gateway_id, "LSX", "2.0.0", "canary", Status.ACCEPTED)


def second_writer(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SECOND, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process that holds the store ``tmp_path/state.db`` open for writing."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path / "state.db")],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    yield process
    process.kill()
    process.wait()
    process.stdout.close()


def test_a_second_writer_process_is_refused_with_the_store_and_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with closing(open_store(path)) as store:
        store.write([gateway("LSX-1")])
        refused = second_writer(path)
    assert refused.returncode != 0
    [line] = refused.stderr.splitlines()
    assert str(path) in line and "in use by another writer" in line
    assert f"pid {os.getpid()} on {HOST} since " in line
    # The first writer closed: the next one may write.
    done = second_writer(path)
    assert done.returncode == 0, done.stderr


def test_a_writer_killed_with_kill_9_leaves_no_lock_behind(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    path = tmp_path / "state.db"
    with pytest.raises(StoreLockedError) as refused:
        open_store(path)
    assert refused.value.holder.startswith(f"pid {holder.pid} on {HOST} since ")
    assert "\n" not in str(refused.value) and isinstance(refused.value, StoreError)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    with closing(open_store(path)) as store:
        store.write([gateway("LSX-1")])
    assert lock_path(path).exists()  # never deleted: the kernel's lock is what counts


def test_read_only_opens_take_no_lock(tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    path = tmp_path / "state.db"
    with closing(open_store(path, read_only=True)) as store:
        assert store.applied() == {}
    state = reading.read_state(path)
    assert state is not None and state.applied == {}


def test_two_writable_opens_in_one_process_are_refused_too(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with (
        closing(open_store(path)),
        pytest.raises(StoreLockedError, match=f"pid {os.getpid()} "),
    ):
        open_store(f"sqlite:///{path}")
    open_store(path).close()


def test_a_writer_may_wait_a_bounded_time_for_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    first = open_store(path)
    started = time.monotonic()
    with pytest.raises(StoreLockedError, match=r"\(waited 0\.3 s\)"):
        open_store(path, wait_s=0.3)
    assert time.monotonic() - started >= 0.3
    threading.Timer(0.3, first.close).start()
    with closing(open_store(path, wait_s=10)) as second:  # the first closes while it waits
        second.write([gateway("LSX-1")])


def test_a_store_that_fails_to_open_gives_its_lock_up(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not sqlite" * 100)
    for _ in range(2):
        with pytest.raises(StoreError, match="cannot open the state store"):
            open_store(path)


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "reconciler", *args]


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    root = tmp_path / "config"
    for folder in ("profiles.d", "gateways.d"):
        shutil.copytree(EXAMPLE / folder, root / folder)
    return root


@pytest.fixture
def environment() -> dict[str, str]:
    return {**os.environ, "RECONCILER_HEADEND_TOKEN": "lock-test-token"}


def run_daemon(tmp_path: Path, config_dir: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        command(
            "run",
            "--repo",
            str(config_dir),
            "--headend",
            "http://127.0.0.1:1",
            "--state",
            str(tmp_path / "state" / "state.db"),
            "--report-dir",
            str(tmp_path / "report"),
            "--listen",
            "127.0.0.1:0",
        ),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def serving(process: subprocess.Popen[str]) -> None:
    assert process.stdout is not None
    line = process.stdout.readline()
    assert "serving on" in line, line + (process.stderr.read() if process.stderr else "")


def test_a_second_daemon_and_an_apply_on_one_store_are_refused_until_the_first_is_killed(
    tmp_path: Path, config_dir: Path, environment: dict[str, str]
) -> None:
    state = tmp_path / "state" / "state.db"
    first = run_daemon(tmp_path, config_dir, environment)
    try:
        serving(first)
        second = run_daemon(tmp_path, config_dir, environment)
        _, errors = second.communicate(timeout=60)
        assert second.returncode == 1
        assert f"{state}: in use by another writer (pid {first.pid} on {HOST} since " in errors
        assert "Traceback" not in errors
        applied = subprocess.run(
            command(
                "apply", str(config_dir), "--headend", "http://127.0.0.1:1", "--state", str(state)
            ),
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert applied.returncode == 1
        assert f"(pid {first.pid} on {HOST} since " in applied.stderr
        assert len(applied.stderr.strip().splitlines()) == 1
    finally:
        first.kill()
        first.communicate(timeout=30)
    third = run_daemon(tmp_path, config_dir, environment)
    try:
        serving(third)
    finally:
        third.send_signal(signal.SIGTERM)
        third.communicate(timeout=30)
    assert third.returncode == 0
