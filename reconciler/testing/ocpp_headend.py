"""The OCPP head-end for tests and benchmarks: in a background thread, or as a subprocess.

:func:`running_headend` serves :mod:`reconciler.headends.ocpp.server` in a
thread with its own event loop (like :func:`reconciler.testing.running_simulator`)
and yields a :class:`HeadendHandle` with its URLs and token; leaving the block
stops it.  :func:`headend_process` starts ``reconciler ocpp serve`` as a
subprocess and reads the URLs it prints (for kill -9 and SIGTERM tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.testing.threads import in_thread


@dataclass
class HeadendHandle:
    """A running head-end: where chargers connect, where the API is, and its token."""

    ocpp_url: str
    """``ws(s)://HOST:PORT/ocpp/``: append the charge point id."""
    api_url: str
    token: str = field(repr=False)
    running: Any = field(default=None, repr=False)
    """The :class:`~reconciler.headends.ocpp.server.Running` (thread variant only)."""
    loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)
    process: subprocess.Popen[str] | None = field(default=None, repr=False)

    def charger_url(self, charger_id: str) -> str:
        return self.ocpp_url + charger_id


@contextlib.contextmanager
def running_headend(state: Path, **options: Any) -> Iterator[HeadendHandle]:
    """Run the head-end on 127.0.0.1 (free ports) in a thread; ``options`` are
    :class:`~reconciler.headends.ocpp.server.HeadendOptions` fields (``token``,
    ``accept_unknown``, ``identities``, ``call_timeout_s``, ...)."""
    from reconciler.headends.ocpp.server import HeadendOptions, serving

    settings = HeadendOptions(state=state, **options)
    with in_thread(lambda: serving(settings), "OCPP head-end") as (running, loop):
        yield HeadendHandle(running.ocpp_url, running.api_url, settings.token, running, loop)


@contextlib.contextmanager
def headend_process(
    state: Path, *args: str, token: str = "dev-token", env: dict[str, str] | None = None
) -> Iterator[HeadendHandle]:
    """``reconciler ocpp serve --state STATE ARGS`` on free ports; SIGTERM (then kill) on exit."""
    command = [
        sys.executable, "-m", "reconciler", "ocpp", "serve", "--state", str(state),
        "--listen-ocpp", "127.0.0.1:0", "--listen", "127.0.0.1:0", "--token", token, *args,
    ]  # fmt: skip
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    try:
        urls: dict[str, str] = {}
        deadline = time.monotonic() + 60
        assert process.stdout is not None
        while len(urls) < 2 and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            name, _, url = line.strip().partition(" ")
            if name in ("ocpp", "api"):
                urls[name] = url
        if len(urls) < 2:
            process.kill()
            _, err = process.communicate(timeout=10)
            raise RuntimeError(f"the OCPP head-end did not start: {err[-2000:]}")
        yield HeadendHandle(urls["ocpp"], urls["api"], token, process=process)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
