"""The daemon's HTTP server, on a thread and an event loop of its own.

Started and stopped by :class:`reconciler.daemon.running.Daemon`.  The probes
(``/metrics``, ``/healthz``, ``/readyz``) must answer within milliseconds
while the daemon's loop plans 100,000 gateways or writes their states; served
from the loop's own thread, one callback that runs a second would hold every
request for that second (a Prometheus scrape that times out, a kubelet that
restarts a healthy pod).  So the aiohttp application runs here, and its
handlers only read what is safe to read from another thread: the immutable
status record, the metrics registry, the last report summary, and the store
through connections of their own.  What has to happen on the daemon's loop
(wake it, start a Retry Upload) is handed over by the backend
(``call_soon_threadsafe`` / ``run_coroutine_threadsafe``).
"""

from __future__ import annotations

import asyncio
import threading

from aiohttp import web


class HttpThread:
    """One aiohttp application served on ``host:port`` by a thread of its own."""

    def __init__(self, application: web.Application, host: str, port: int) -> None:
        self._application = application
        self._host = host
        self._port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.address: tuple[str, int] = ("", 0)
        """The bound host and port (the port chosen by the system for port 0)."""

    def start(self) -> tuple[str, int]:
        """Bind and serve; blocks until bound.  Raises what binding raised (``OSError``)."""
        self._thread = threading.Thread(target=self._serve, name="reconciler-http", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            raise self._error
        return self.address

    def stop(self, timeout: float = 10.0) -> None:
        """Close the listener and the open connections (in-flight requests get a second); idempotent."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or not thread.is_alive():
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)

    def _serve(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._setup())
        except BaseException as exc:  # handed to start(), which raises it in the caller
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            if self._runner is not None:
                loop.run_until_complete(self._runner.cleanup())
            loop.close()

    async def _setup(self) -> None:
        self._runner = web.AppRunner(self._application, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.address = (str(host), int(port))
