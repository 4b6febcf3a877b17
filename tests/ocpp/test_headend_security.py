"""The OCPP head-end's doors: identities, HTTP Basic passwords (hashed at rest), TLS, the API token."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import InvalidStatus

from reconciler.drivers.base import JobRequest
from reconciler.errors import AuthenticationError
from reconciler.testing import write
from reconciler.testing.ocpp_headend import HeadendHandle, running_headend
from tests.ocpp.charger_doubles import (
    Fake16,
    Fake201,
    basic,
    connect,
    driver_for,
    final_status,
    run,
)

pytestmark = pytest.mark.timeout(120)

OLD = "old-password-0123456789"
NEW = "new-password-9876543210"


async def refused(url: str, ident: str, **kwargs: Any) -> int:
    """The HTTP status of a refused handshake."""
    try:
        async with connect(url, ident, **kwargs):
            pass
    except InvalidStatus as exc:
        return int(exc.response.status_code)
    raise AssertionError(f"{ident} was let in")


def identities_file(tmp_path: Path) -> Path:
    path = tmp_path / "identities.yaml"
    path.write_text(
        "chargers:\n"
        "  - id: CP-1\n"
        "    password: {secret: cp1_password}\n"
        "  - id: CP-2\n"
        "  - id: CP-3\n"
        "    password: {secret: not_provided}\n"
        "  - {id: CP-4, password: {secret: cp4_password}, owner: depot}\n",
        encoding="utf-8",
    )
    return path


def test_unknown_identities_are_refused_unless_accept_unknown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECONCILER_SECRET_cp1_password", OLD)
    path = identities_file(tmp_path)

    async def scenario(h: HeadendHandle, accept: bool) -> None:
        if accept:
            async with connect(h.ocpp_url, "CP-9") as cp:
                await cp.boot()
        else:
            assert await refused(h.ocpp_url, "CP-9") == 404
        async with connect(h.ocpp_url, "CP-2") as cp:  # known, no password
            await cp.boot()
        assert await refused(h.ocpp_url, "CP-3") == 401  # its secret is missing: never let in
        assert await refused(h.ocpp_url + "../x/", "CP-2") == 404  # not /ocpp/{id}
        with pytest.raises(InvalidStatus) as refusal:
            async with ws_connect(h.ocpp_url + "CP-2", subprotocols=["ocpp9"]):  # type: ignore[list-item]
                pass
        assert refusal.value.response.status_code == 400

    with running_headend(tmp_path / "a.db", identities=path) as h:
        run(scenario(h, accept=False))
    with running_headend(tmp_path / "b.db", identities=path, accept_unknown=True) as h:
        run(scenario(h, accept=True))


def test_basic_auth_right_wrong_and_missing_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECONCILER_SECRET_cp1_password", OLD)
    path = identities_file(tmp_path)

    async def scenario(h: HeadendHandle) -> None:
        assert await refused(h.ocpp_url, "CP-1") == 401
        assert await refused(h.ocpp_url, "CP-1", headers=basic("CP-1", "wrong-password-000")) == 401  # fmt: skip
        assert await refused(h.ocpp_url, "CP-1", headers=basic("CP-2", OLD)) == 401  # wrong user
        async with connect(h.ocpp_url, "CP-1", headers=basic("CP-1", OLD)) as cp:
            await cp.boot()

    with running_headend(tmp_path / "s.db", identities=path) as h:
        run(scenario(h))


@pytest.mark.parametrize("kind", [Fake16, Fake201])
def test_a_password_change_replaces_the_stored_hash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: Any
) -> None:
    monkeypatch.setenv("RECONCILER_SECRET_cp1_password", OLD)
    path = identities_file(tmp_path)
    state = tmp_path / "state.db"
    key = "AuthorizationKey" if kind is Fake16 else "SecurityCtrlr.BasicAuthPassword"

    async def scenario(h: HeadendHandle) -> None:
        async with connect(h.ocpp_url, "CP-1", kind, headers=basic("CP-1", OLD)) as cp:
            await cp.boot()
            async with driver_for(h) as driver:
                sub = await driver.submit_job(JobRequest("CP-1", {key: NEW}, "pw"))
                assert (await final_status(driver, str(sub.job_id))).status == "accepted"
        # the old password still works until the new one has been used once
        async with connect(h.ocpp_url, "CP-1", kind, headers=basic("CP-1", OLD)) as cp:
            await cp.boot()
        async with connect(h.ocpp_url, "CP-1", kind, headers=basic("CP-1", NEW)) as cp:
            await cp.boot()
        assert await refused(h.ocpp_url, "CP-1", kind=kind, headers=basic("CP-1", OLD)) == 401
        async with connect(h.ocpp_url, "CP-1", kind, headers=basic("CP-1", NEW)) as cp:
            await cp.boot()

    with running_headend(state, identities=path) as h:
        run(scenario(h))
    files = [p for p in tmp_path.iterdir() if p.name.startswith("state.db")]
    assert any(p.name == "state.db.key" for p in files)
    assert (tmp_path / "state.db.key").stat().st_mode & 0o077 == 0
    for file in files:
        data = file.read_bytes()
        assert OLD.encode() not in data and NEW.encode() not in data, file.name

    async def after_restart(h: HeadendHandle) -> None:  # the new hash survived the restart
        assert await refused(h.ocpp_url, "CP-1", kind=kind, headers=basic("CP-1", OLD)) == 401
        async with connect(h.ocpp_url, "CP-1", kind, headers=basic("CP-1", NEW)) as cp:
            await cp.boot()

    with running_headend(state, identities=path) as h:
        run(after_restart(h))


def test_identities_from_a_config_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECONCILER_SECRET_hagen_1", OLD)
    repo = write(
        tmp_path / "repo",
        {
            "gateways.d/hagen.yaml": "gateways:\n"
            "  - id: CP-H1\n    type: OCPP16\n"
            "    subsettings: {backend: {AuthorizationKey: {secret: hagen_1}}}\n"
            "  - {id: CP-H2, type: OCPP201}\n"
            "  - {id: LSX-1, type: LSX}\n",
        },
    )

    async def scenario(h: HeadendHandle) -> None:
        assert await refused(h.ocpp_url, "CP-H1") == 401
        async with connect(h.ocpp_url, "CP-H1", headers=basic("CP-H1", OLD)) as cp:
            await cp.boot()
        async with connect(h.ocpp_url, "CP-H2", Fake201) as cp:
            await cp.boot()
        assert await refused(h.ocpp_url, "LSX-1") == 404  # not an OCPP gateway

    with running_headend(tmp_path / "s.db", repo=repo) as h:
        run(scenario(h))


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_tls_handshake_with_a_self_signed_certificate(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    trusted = ssl.create_default_context(cafile=str(cert))

    async def scenario(h: HeadendHandle) -> None:
        assert h.ocpp_url.startswith("wss://")
        async with connect(h.ocpp_url, "CP-T", Fake201, ssl=trusted) as cp:
            assert (await cp.boot()).status == "Accepted"
        with pytest.raises(ssl.SSLError):
            async with connect(h.ocpp_url, "CP-T", ssl=ssl.create_default_context()):
                pass

    with running_headend(tmp_path / "s.db", accept_unknown=True, tls_cert=cert, tls_key=key) as h:
        run(scenario(h))


def test_the_api_wants_the_bearer_token(tmp_path: Path) -> None:
    async def scenario(h: HeadendHandle) -> None:
        async with driver_for(h, token="wrong-token") as driver:
            with pytest.raises(AuthenticationError):
                await driver.inventory()
        async with driver_for(h) as driver:
            assert await driver.inventory() == []

    with running_headend(tmp_path / "s.db", token="the-right-token-4711") as h:
        run(scenario(h))


def test_identities_are_re_read_on_request(tmp_path: Path) -> None:
    path = tmp_path / "identities.yaml"
    path.write_text("chargers:\n  - id: CP-1\n", encoding="utf-8")

    async def scenario(h: HeadendHandle) -> None:
        assert await refused(h.ocpp_url, "CP-2") == 404
        path.write_text("chargers:\n  - id: CP-1\n  - id: CP-2\n", encoding="utf-8")
        assert h.loop is not None
        h.loop.call_soon_threadsafe(h.running.reload)  # what SIGHUP does
        for _ in range(200):
            known = h.running.hub.identities.known
            if known and "CP-2" in known:
                break
            await asyncio.sleep(0.05)
        async with connect(h.ocpp_url, "CP-2") as cp:
            await cp.boot()

    with running_headend(tmp_path / "s.db", identities=path) as h:
        run(scenario(h))
