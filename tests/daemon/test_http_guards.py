"""The daemon's HTTP guards over real HTTP: the Host check (DNS rebinding) and the signed git hook."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from aiohttp import ClientSession

from reconciler.daemon.endpoints import host_allowed
from reconciler.daemon.settings import DaemonSettings
from tests.daemon.conftest import DaemonThread

StartDaemon = Callable[..., DaemonThread]
SECRET = "hook-test-secret"
PUSH = json.dumps({"ref": "refs/heads/main", "after": "0" * 40}).encode()


def request(
    url: str,
    *,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
) -> tuple[int, bytes]:
    """One request with aiohttp's client (it sends a ``Host`` header as given)."""

    async def send() -> tuple[int, bytes]:
        async with (
            ClientSession() as session,
            session.request(method, url, headers=dict(headers or {}), data=body) as response,
        ):
            return response.status, await response.read()

    return asyncio.run(send())


def port_of(daemon: DaemonThread) -> str:
    return daemon.url.rpartition(":")[2]


def test_a_host_that_does_not_name_the_daemon_is_refused_on_every_page(
    start_daemon: StartDaemon,
) -> None:
    daemon = start_daemon()
    rebound = {"Host": f"attacker.example:{port_of(daemon)}"}
    for path in ("/", "/api/v1/status", "/api/v1/members", "/metrics", "/readyz", "/healthz"):
        status, body = request(daemon.url + path, headers=rebound)
        assert status == 403, path
        assert b"\n" not in body.strip() and "allowed-hosts" in json.loads(body)["error"]
    status, _ = request(daemon.url + "/hooks/git", method="POST", headers=rebound)
    assert status == 403


def test_loopback_names_and_configured_hosts_are_answered(start_daemon: StartDaemon) -> None:
    daemon = start_daemon(allowed_hosts=("reconciler.lg2wan-reconciler.svc", ".ops.example"))
    port = port_of(daemon)
    for host in (
        f"localhost:{port}",
        f"127.0.0.1:{port}",
        "LOCALHOST",
        f"reconciler.lg2wan-reconciler.svc:{port}",
        "ops.example",
        f"report.ops.example:{port}",
    ):
        assert request(daemon.url + "/api/v1/status", headers={"Host": host})[0] == 200, host
    assert request(daemon.url + "/", headers={"Host": "evil-ops.example"})[0] == 403


def test_an_ip_address_host_reaches_only_metrics_and_the_probes(start_daemon: StartDaemon) -> None:
    daemon = start_daemon()
    pod_ip = {"Host": f"10.1.2.3:{port_of(daemon)}"}
    assert request(daemon.url + "/metrics", headers=pod_ip)[0] == 200
    assert request(daemon.url + "/healthz", headers=pod_ip)[0] == 200
    assert request(daemon.url + "/readyz", headers=pod_ip)[0] in (200, 503)
    assert request(daemon.url + "/api/v1/status", headers=pod_ip)[0] == 403
    assert request(daemon.url + "/", headers=pod_ip)[0] == 403


def test_a_star_allows_any_host(start_daemon: StartDaemon) -> None:
    daemon = start_daemon(allowed_hosts=("*",))
    assert request(daemon.url + "/", headers={"Host": "anything.example"})[0] == 200


def test_the_hook_without_a_secret_stays_open(start_daemon: StartDaemon) -> None:
    daemon = start_daemon()
    assert request(daemon.url + "/hooks/git", method="POST", body=PUSH)[0] == 202


def test_the_hook_with_a_secret_needs_githubs_signature_or_gitlabs_token(
    start_daemon: StartDaemon,
) -> None:
    daemon = start_daemon(webhook_secret=SECRET)
    hook = daemon.url + "/hooks/git"
    signature = "sha256=" + hmac.new(SECRET.encode(), PUSH, hashlib.sha256).hexdigest()
    wrong = "sha256=" + hmac.new(b"other", PUSH, hashlib.sha256).hexdigest()

    status, body = request(hook, method="POST", body=PUSH)
    assert status == 401 and "X-Hub-Signature-256" in json.loads(body)["error"]
    assert request(hook, method="POST", body=PUSH, headers={"X-Hub-Signature-256": wrong})[0] == 403
    assert (
        request(hook, method="POST", body=PUSH + b" ", headers={"X-Hub-Signature-256": signature})[
            0
        ]
        == 403
    ), "the signature covers the body"
    assert request(hook, method="POST", body=PUSH, headers={"X-Gitlab-Token": "nope"})[0] == 403
    assert (
        request(hook, method="POST", body=PUSH, headers={"X-Hub-Signature-256": signature})[0]
        == 202
    )
    assert request(hook, method="POST", body=PUSH, headers={"X-Gitlab-Token": SECRET})[0] == 202


def test_listening_beyond_loopback_without_a_hook_secret_is_warned_about(
    start_daemon: StartDaemon, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="reconciler.daemon"):
        start_daemon(listen="0.0.0.0:0")
    assert any("without a webhook secret" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("header", "probe", "expected"),
    [
        ("localhost:9108", False, True),
        ("[::1]:9108", False, True),
        ("[::1]", False, True),
        ("127.0.0.1", False, True),
        ("reconciler.svc.", False, True),
        ("reconciler.svc:9108", False, True),
        ("evil.example", False, False),
        ("10.0.0.7:9108", False, False),
        ("10.0.0.7:9108", True, True),
        ("[fd00::7]:9108", True, True),
        ("evil.example", True, False),
        ("localhost:port", False, False),
        ("[::1", False, False),
        ("", False, True),
    ],
)
def test_a_host_header_is_matched_by_name_without_its_port(
    header: str, probe: bool, expected: bool
) -> None:
    hosts = frozenset({"localhost", "127.0.0.1", "::1", "reconciler.svc"})
    assert host_allowed(header, hosts, probe=probe) is expected


def test_allowed_hosts_read_a_comma_separated_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("RECONCILER_ALLOWED_HOSTS", "Reconciler.Example, [fd00::1],")
    settings = DaemonSettings(
        repo=str(tmp_path),
        headend_url="http://headend.invalid",
        state=tmp_path / "state.db",
        report_dir=tmp_path / "report",
        listen="192.0.2.10:9108",
    )
    assert settings.allowed_hosts == ("reconciler.example", "[fd00::1]")
    assert settings.hosts == {
        "localhost",
        "127.0.0.1",
        "::1",
        "192.0.2.10",
        "reconciler.example",
        "fd00::1",
    }
    assert settings.exposed
    loopback = settings.model_copy(update={"listen": "127.0.0.1:9108"})
    assert not loopback.exposed
