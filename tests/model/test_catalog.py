"""The shipped parameter catalog: the core keys of docs/reference/catalog.md, exactly, and sound entries."""

from __future__ import annotations

from typing import Any

import pytest
from packaging.version import Version

from reconciler.loading.catalogs import shipped_catalog, shipped_specs
from reconciler.model.catalogs import check_value

ALL = ""
NEVER = None
# key: (section, type, (min, max) per LSX/LSG/ACCU, default per type, firmware per type)
CORE: dict[str, tuple[str, str, Any, Any, tuple[str | None, str | None, str | None]]] = {
    "HeartbeatInterval": ("backend", "integer", (30, 86400), 900, (ALL, ALL, ALL)),
    "WebSocketPingInterval": ("backend", "integer", (0, 3600), 30, (">=2.0.0", ALL, ALL)),
    "AuthorizationKey": ("backend", "secret", (16, 40), None, (">=2.0.0", ">=4.0.0", ALL)),
    "MaxChargingCurrent": ("charging", "integer", None, None, (ALL, ALL, ALL)),
    "ConnectionTimeOut": ("charging", "integer", (10, 600), 60, (ALL, ALL, ALL)),
    "StopTransactionOnEVSideDisconnect": ("charging", "boolean", None, True, (ALL, ALL, ALL)),
    "LocalAuthorizeOffline": ("authorization", "boolean", None, False, (ALL, ALL, ALL)),
    "MeterValueSampleInterval": ("metering", "integer", (0, 3600), 60, (ALL, ALL, ALL)),
    "MeterValuesSampledData": (
        "metering",
        "list",
        (1, 5),
        ["Energy.Active.Import.Register"],
        (ALL, ">=3.2.0", ALL),
    ),
    "LightIntensity": ("display", "integer", (0, 100), 80, (">=1.2.0", NEVER, NEVER)),
    "ApnName": ("network", "string", (1, 63), "internet", (NEVER, ALL, NEVER)),
    "MinStateOfCharge": ("battery", "integer", (5, 50), 20, (NEVER, NEVER, ALL)),
}
TYPES = ("LSX", "LSG", "ACCU")


def _bounds(spec: Any) -> tuple[Any, Any]:
    if spec.type in ("integer", "decimal"):
        return spec.min, spec.max
    if spec.type == "list":
        return spec.min_items, spec.max_items
    return spec.min_length, spec.max_length


@pytest.mark.parametrize("key", list(CORE))
@pytest.mark.parametrize("gateway_type", TYPES)
def test_core_keys_are_exactly_as_designed(key: str, gateway_type: str) -> None:
    section, kind, bounds, default, firmware = CORE[key]
    expected_firmware = firmware[TYPES.index(gateway_type)]
    spec = shipped_catalog().spec(gateway_type, key)
    if expected_firmware is NEVER:
        assert spec is None
        return
    assert spec is not None
    assert (spec.section, spec.type, spec.firmware) == (section, kind, expected_firmware)
    if key == "MaxChargingCurrent":
        bounds, default = ((6, 125), 125) if gateway_type == "ACCU" else ((6, 32), 32)
    if bounds is not None:
        assert _bounds(spec) == bounds
    assert spec.default == default


def test_meter_values_sampled_data_offers_the_designed_measurands() -> None:
    spec = shipped_catalog().spec("LSX", "MeterValuesSampledData")
    assert spec is not None
    assert set(spec.values or ()) == {
        "Energy.Active.Import.Register",
        "Power.Active.Import",
        "Current.Import",
        "Voltage",
        "SoC",
    }


@pytest.mark.parametrize("gateway_type", TYPES)
def test_every_type_has_at_least_25_keys(gateway_type: str) -> None:
    assert len(shipped_specs()[gateway_type]) >= 25


@pytest.mark.parametrize("gateway_type", TYPES)
def test_every_entry_is_documented_and_its_default_valid(gateway_type: str) -> None:
    for spec in shipped_specs()[gateway_type]:
        assert spec.description, spec.key
        if spec.type != "secret":
            assert check_value(spec, spec.default) is None, spec.key


def test_a_key_shared_by_types_has_the_same_section_and_type() -> None:
    seen: dict[str, tuple[str, str]] = {}
    for gateway_type in TYPES:
        for spec in shipped_specs()[gateway_type]:
            assert seen.setdefault(spec.key, (spec.section, spec.type)) == (spec.section, spec.type)


def test_firmware_filtering_uses_version_ranges() -> None:
    catalog = shipped_catalog()
    old = catalog.for_gateway("LSX", Version("1.1.0"))
    new = catalog.for_gateway("LSX", Version("2.0.0"))
    assert "LightIntensity" not in old
    assert "WebSocketPingInterval" not in old
    assert {"LightIntensity", "WebSocketPingInterval", "AuthorizationKey"} <= set(new)
