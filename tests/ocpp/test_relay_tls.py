"""Relay mode's doors towards the upstream: TLS verified against ``--upstream-ca``, the relay's
client certificate, the charger's Basic credentials passed through or not, and the command.

Real WebSockets over loopback; the certificates (a CA, the upstream's server certificate, the
relay's client certificate) are made here with ``cryptography``.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from ocpp.exceptions import InternalError
from ocpp.v16 import call as call16

from reconciler.testing.ocpp_headend import headend_process, running_headend
from tests.ocpp.charger_doubles import Fake16, Fake201, basic, connect, run
from tests.ocpp.upstream import Upstream

pytestmark = pytest.mark.timeout(90)

RELAY = {"accept_unknown": True, "upstream_wait_s": 2.0, "upstream_retry_max_s": 0.3}


class Pki:
    """A CA and certificates it signed, written as PEM files under ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "relay test CA")])
        self.ca_name = name
        self.ca_cert = (
            self._builder(name, self.ca_key)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_ca_usage(), critical=True)
            .sign(self.ca_key, hashes.SHA256())
        )
        self.ca = directory / "ca.pem"
        self.ca.write_bytes(self.ca_cert.public_bytes(serialization.Encoding.PEM))

    def _builder(self, subject: x509.Name, key: Any) -> x509.CertificateBuilder:
        now = datetime.datetime.now(datetime.UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(getattr(self, "ca_name", subject))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
        )

    def issue(self, name: str, *, server: bool) -> tuple[Path, Path]:
        """A certificate for ``name`` (a server one for 127.0.0.1, else a client one)."""
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = self._builder(subject, key).add_extension(
            x509.ExtendedKeyUsage([usage]), critical=False
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            )
        cert = builder.sign(self.ca_key, hashes.SHA256())
        cert_path, key_path = self.directory / f"{name}.pem", self.directory / f"{name}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return cert_path, key_path

    def server_context(self, *, client_cert_required: bool = False) -> ssl.SSLContext:
        cert, key = self.issue("upstream", server=True)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        if client_cert_required:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(cafile=str(self.ca))
        return context


def _ca_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
        encipher_only=False, decipher_only=False,
    )  # fmt: skip


def test_a_wss_upstream_is_verified_against_upstream_ca(tmp_path: Path) -> None:
    pki = Pki(tmp_path)

    async def scenario() -> None:
        upstream = Upstream(interval=120)
        upstream.tls = pki.server_context()
        url = await upstream.start()
        assert url.startswith("wss://")
        with running_headend(tmp_path / "a.db", upstream=url, upstream_ca=pki.ca, **RELAY) as h:
            async with connect(h.ocpp_url, "CP-T", Fake201) as fake:
                assert (await fake.boot()).interval == 120  # the upstream's answer, over TLS
        assert upstream.seen_of("CP-T").of("BootNotification")
        # Without the CA the upstream's certificate is not trusted: never connected, and the
        # charger's CALL gets the bounded-wait CALLERROR instead of an answer.
        with running_headend(tmp_path / "b.db", upstream=url, **RELAY) as h:
            async with connect(h.ocpp_url, "CP-U", Fake16) as fake:
                with pytest.raises(InternalError, match="upstream unavailable"):
                    await fake.call(call16.Heartbeat(), suppress=False)
        assert upstream.connections_of("CP-U") == 0
        await upstream.stop()

    run(scenario())


def test_the_chargers_basic_credentials_pass_through_unless_user_from_none(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        upstream = Upstream()
        url = await upstream.start()
        for user_from, ident in (("charger", "CP-P"), ("none", "CP-N")):
            with running_headend(
                tmp_path / f"{user_from}.db", upstream=url, upstream_user_from=user_from, **RELAY
            ) as h:
                headers = basic(ident, "s3cret-password-42")
                async with connect(h.ocpp_url, ident, Fake16, headers=headers) as fake:
                    await fake.boot()
            (seen,) = upstream.seen_of(ident).connections
            if user_from == "charger":
                assert (seen.username, seen.password) == (ident, "s3cret-password-42")
            else:
                assert (seen.username, seen.password) == (None, None)
        await upstream.stop()

    run(scenario())


def test_ocpp_serve_upstream_relays_a_boot_over_tls_with_its_client_certificate(
    tmp_path: Path,
) -> None:
    pki = Pki(tmp_path)
    cert, key = pki.issue("relay", server=False)

    async def scenario() -> None:
        upstream = Upstream(interval=450)
        upstream.tls = pki.server_context(client_cert_required=True)
        url = await upstream.start()
        args = ["--accept-unknown", "--upstream", url, "--upstream-ca", str(pki.ca)]
        args += ["--upstream-cert", str(cert), "--upstream-key", str(key), "--upstream-wait", "20"]
        with headend_process(tmp_path / "state.db", *args) as h:
            async with connect(h.ocpp_url, "CP-CLI", Fake201) as fake:
                answer = await fake.boot()
        assert answer.status == "Accepted" and answer.interval == 450
        (boot,) = upstream.seen_of("CP-CLI").of("BootNotification")
        assert boot["charging_station"]["model"]
        await upstream.stop()

    run(scenario())
