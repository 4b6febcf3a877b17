"""The shipped OCPP 1.6 and 2.0.1 catalogs: the required keys exactly, and sound addressing."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from reconciler.loading.catalogs import shipped_catalog
from reconciler.model.catalogs import ParameterSpec

# key: (section, type, (min, max) or None, access)
OCPP16: dict[str, tuple[str, str, Any, str]] = {
    "HeartbeatInterval": ("backend", "integer", (0, 86400), "read-write"),
    "WebSocketPingInterval": ("backend", "integer", (0, 3600), "read-write"),
    "AuthorizationKey": ("backend", "secret", (16, 40), "write-only"),
    "ConnectionTimeOut": ("charging", "integer", (0, 3600), "read-write"),
    "StopTransactionOnEVSideDisconnect": ("charging", "boolean", None, "read-write"),
    "LocalAuthorizeOffline": ("authorization", "boolean", None, "read-write"),
    "MeterValueSampleInterval": ("metering", "integer", (0, 3600), "read-write"),
    "MeterValuesSampledData": ("metering", "list", (1, 10), "read-write"),
    "NumberOfConnectors": ("charging", "integer", None, "read-only"),
}
TWINS = {
    "OCPPCommCtrlr.HeartbeatInterval": "HeartbeatInterval",
    "OCPPCommCtrlr.WebSocketPingInterval": "WebSocketPingInterval",
    "SecurityCtrlr.BasicAuthPassword": "AuthorizationKey",
    "TxCtrlr.EVConnectionTimeOut": "ConnectionTimeOut",
    "TxCtrlr.StopTxOnEVSideDisconnect": "StopTransactionOnEVSideDisconnect",
    "AuthCtrlr.LocalAuthorizeOffline": "LocalAuthorizeOffline",
    "SampledDataCtrlr.TxUpdatedInterval": "MeterValueSampleInterval",
    "SampledDataCtrlr.TxUpdatedMeasurands": "MeterValuesSampledData",
}
OCPP201 = {key: OCPP16[twin] for key, twin in TWINS.items()}


def _bounds(spec: ParameterSpec) -> tuple[Any, Any]:
    if spec.type in ("integer", "decimal"):
        return spec.min, spec.max
    if spec.type == "list":
        return spec.min_items, spec.max_items
    return spec.min_length, spec.max_length


@pytest.mark.parametrize(
    ("gateway_type", "protocol"), [("OCPP16", "ocpp1.6"), ("OCPP201", "ocpp2.0.1")]
)
def test_each_ocpp_catalog_has_at_least_thirty_keys_and_its_protocol(
    gateway_type: str, protocol: str
) -> None:
    catalog = shipped_catalog().types[gateway_type]
    assert len(catalog.specs) >= 30
    assert catalog.protocol == protocol and catalog.shipped and catalog.extends is None


@pytest.mark.parametrize(
    ("gateway_type", "key"),
    [("OCPP16", k) for k in OCPP16] + [("OCPP201", k) for k in OCPP201],
)
def test_the_required_ocpp_keys_are_exactly_so_named_and_bounded(
    gateway_type: str, key: str
) -> None:
    section, kind, bounds, access = (OCPP16 if gateway_type == "OCPP16" else OCPP201)[key]
    spec = shipped_catalog().spec(gateway_type, key)
    assert spec is not None
    assert (spec.section, spec.type, spec.access, spec.firmware) == (section, kind, access, "")
    if bounds is not None:
        assert _bounds(spec) == bounds


def test_every_lg2wan_type_says_so() -> None:
    for name in ("LSX", "LSG", "ACCU"):
        assert shipped_catalog().types[name].protocol == "lg2wan"


def test_ocpp201_keys_are_their_component_variable_and_instance() -> None:
    for key, spec in shipped_catalog().types["OCPP201"].specs.items():
        assert spec.component and spec.variable
        assert key == ".".join(p for p in (spec.component, spec.variable, spec.instance) if p)
    ntp = shipped_catalog().spec("OCPP201", "ClockCtrlr.NtpServerUri.1")
    assert ntp is not None and (ntp.component, ntp.variable, ntp.instance) == (
        "ClockCtrlr",
        "NtpServerUri",
        "1",
    )


def test_ocpp16_and_lg2wan_keys_are_plain_names() -> None:
    for name in ("OCPP16", "LSX", "LSG", "ACCU"):
        for key, spec in shipped_catalog().types[name].specs.items():
            assert "." not in key and spec.component is None


def test_secrets_are_write_only_and_read_only_keys_are_never_secrets() -> None:
    for catalog in shipped_catalog().types.values():
        for spec in catalog.specs.values():
            if catalog.protocol != "lg2wan" and spec.type == "secret":
                assert spec.access == "write-only"
            if spec.access == "read-only":
                assert spec.type != "secret"


def test_a_device_specific_value_has_a_null_default() -> None:
    spec = shipped_catalog().spec("OCPP16", "NumberOfConnectors")
    assert spec is not None and spec.default is None and not spec.settable


BASE: dict[str, Any] = {"key": "K", "section": "s", "type": "integer"}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        pytest.param(
            {"key": "A.B", "component": "A"},
            "needs both 'component' and 'variable'",
            id="no-variable",
        ),
        pytest.param(
            {"key": "A.C", "component": "A", "variable": "B"},
            "component.variable[.instance]",
            id="wrong-key",
        ),
        pytest.param(
            {"type": "secret", "access": "read-only"}, "cannot be read-only", id="read-only-secret"
        ),
        pytest.param({"access": "hidden"}, "access", id="unknown-access"),
        pytest.param({"key": "A..B"}, "pattern", id="empty-part"),
    ],
)
def test_a_catalog_entry_is_refused_when(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("[", r"\[").replace(".", r"\.")):
        ParameterSpec.model_validate({**BASE, **fields})


def test_an_entry_with_component_variable_and_instance_is_accepted() -> None:
    spec = ParameterSpec.model_validate(
        {
            **BASE,
            "key": "ClockCtrlr.NtpServerUri.2",
            "component": "ClockCtrlr",
            "variable": "NtpServerUri",
            "instance": "2",
            "reboot": True,
            "default": None,
        }
    )
    assert spec.reboot and spec.access == "read-write" and spec.settable and spec.readable
