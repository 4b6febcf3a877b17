"""One way to run a server for tests and benchmarks: its async context manager on a loop of its own.

:func:`in_thread` enters an async context manager (a server's ``serving(...)``)
on a new event loop in a background thread, hands back what it yields, and on
leaving the block exits it on that loop and joins the thread.  Used by
:func:`~reconciler.testing.simulators.running_simulator`,
:func:`~reconciler.testing.chargers.running_chargers` and
:func:`~reconciler.testing.ocpp_headend.running_headend`, whose handles then
talk to the server over loopback like any client.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

T = TypeVar("T")


@contextlib.contextmanager
def in_thread(
    serving: Callable[[], AbstractAsyncContextManager[T]],
    name: str,
    *,
    start_s: float = 60.0,
    join_s: float = 30.0,
) -> Iterator[tuple[T, asyncio.AbstractEventLoop]]:
    """Enter ``serving()`` on a new loop in a thread; yields ``(what it yields, the loop)``.

    ``serving`` is called in the thread, so whatever it builds belongs to that
    loop.  A failure to start is raised here as :class:`RuntimeError` naming
    ``name`` and the cause.
    """
    started = threading.Event()
    state: dict[str, Any] = {}

    async def run() -> None:
        try:
            stop = asyncio.Event()
            async with serving() as value:
                state.update(value=value, stop=stop, loop=asyncio.get_running_loop())
                started.set()
                await stop.wait()
        except BaseException as exc:
            state["error"] = exc
            raise
        finally:
            started.set()

    thread = threading.Thread(target=asyncio.run, args=(run(),), name=name, daemon=True)
    thread.start()
    started.wait(timeout=start_s)
    if "value" not in state:
        thread.join(timeout=5)
        raise RuntimeError(f"the {name} did not start: {state.get('error')!r}")
    try:
        yield state["value"], state["loop"]
    finally:
        state["loop"].call_soon_threadsafe(state["stop"].set)
        thread.join(timeout=join_s)
