"""Malformed HTTP requests cost one short log line each, never a traceback, and are rate-limited."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest
from aiohttp import web

from reconciler.daemon import logs

HOSTILE = {
    "10-KB-URL": b"GET /" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "100-KB-header": b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n",
    "1000-headers": b"GET / HTTP/1.1\r\n"
    + b"".join(b"H%d: v\r\n" % i for i in range(1000))
    + b"\r\n",
}


@pytest.fixture
def daemon_logging() -> Iterator[None]:
    names = ("reconciler", "aiohttp.server", "aiohttp.access")
    saved = {
        n: (lg.handlers[:], lg.filters[:], lg.propagate, lg.level)
        for n in names
        if (lg := logging.getLogger(n))
    }
    yield
    for name, (handlers, filters, propagate, level) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:], logger.filters[:] = handlers, filters
        logger.propagate, logger.level = propagate, level


async def ok(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def send_all(payloads: list[bytes]) -> list[bytes]:
    app = web.Application()
    app.router.add_get("/", ok)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    answers = []
    try:
        for payload in payloads:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(payload)
            await writer.drain()
            answers.append(await reader.read(64))
            writer.close()
    finally:
        await runner.cleanup()
    return answers


@pytest.mark.usefixtures("daemon_logging")
@pytest.mark.parametrize("payload", list(HOSTILE.values()), ids=list(HOSTILE))
def test_a_malformed_request_is_answered_400_with_one_log_line(
    payload: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    logs.setup("text")
    answers = asyncio.run(send_all([payload]))
    assert answers[0].startswith(b"HTTP/1.0 400") or answers[0].startswith(b"HTTP/1.1 400")
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "malformed HTTP request from 127.0.0.1 answered 400" in lines[0]
    assert "Traceback" not in err and "aaaaaaaaaa" not in err
    assert len(lines[0]) < 300


@pytest.mark.usefixtures("daemon_logging")
def test_a_flood_of_malformed_requests_is_rate_limited(capsys: pytest.CaptureFixture[str]) -> None:
    logs.setup("text")
    flood = 40
    answers = asyncio.run(send_all([HOSTILE["10-KB-URL"]] * flood))
    assert len(answers) == flood
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == logs.MalformedRequests().burst
