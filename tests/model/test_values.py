"""Strict value checks against catalog entries, with property tests over the real catalog."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.loading.catalogs import shipped_catalog, shipped_specs
from reconciler.model.catalogs import ParameterSpec, check_value

SPECS = [spec for specs in shipped_specs().values() for spec in specs]
NUMERIC = [
    s for s in SPECS if s.type in ("integer", "decimal") and s.min is not None and s.max is not None
]
LISTS = [s for s in SPECS if s.type == "list"]
STRINGS = [s for s in SPECS if s.type == "string" and s.pattern is None]


def spec(gateway_type: str, key: str) -> ParameterSpec:
    found = shipped_catalog().spec(gateway_type, key)
    assert found is not None
    return found


@pytest.mark.parametrize(
    ("key", "value"),
    [
        pytest.param("HeartbeatInterval", "900", id="string-900-is-not-an-integer"),
        pytest.param("HeartbeatInterval", 900.0, id="float-is-not-an-integer"),
        pytest.param("HeartbeatInterval", 1.5, id="1.5-is-not-an-integer"),
        pytest.param("HeartbeatInterval", True, id="boolean-is-not-an-integer"),
        pytest.param("HeartbeatInterval", None, id="null-is-not-an-integer"),
        pytest.param("StopTransactionOnEVSideDisconnect", "yes", id="yes-is-not-a-boolean"),
        pytest.param("StopTransactionOnEVSideDisconnect", 1, id="1-is-not-a-boolean"),
        pytest.param("MeterValuesSampledData", "Voltage", id="scalar-is-not-a-list"),
        pytest.param("MeterValuesSampledData", [], id="list-below-min-items"),
        pytest.param("MeterValuesSampledData", ["Voltage", "Voltage"], id="list-repeats"),
        pytest.param("MeterValuesSampledData", ["Torque"], id="list-item-unknown"),
        pytest.param("AuthorizationKey", "0123456789abcdef", id="literal-secret"),
        pytest.param("AuthorizationKey", {"secret": "bad name"}, id="secret-name-invalid"),
        pytest.param("AuthorizationKey", {"secret": "x", "value": "y"}, id="secret-extra-key"),
    ],
)
def test_refuses_values_of_the_wrong_type(key: str, value: Any) -> None:
    assert check_value(spec("ACCU", key), value) is not None


def test_accepts_a_secret_reference() -> None:
    assert check_value(spec("ACCU", "AuthorizationKey"), {"secret": "public_ac_auth_key"}) is None


def test_max_charging_current_bounds_depend_on_the_type() -> None:
    assert check_value(spec("ACCU", "MaxChargingCurrent"), 100) is None
    assert check_value(spec("LSX", "MaxChargingCurrent"), 100) is not None


def test_messages_say_what_was_expected_and_what_was_given() -> None:
    message = check_value(spec("LSX", "HeartbeatInterval"), "900")
    assert message == "expected an integer from 30 to 86400 s, got string '900'"


@given(data=st.data())
def test_numbers_inside_the_bounds_pass(data: st.DataObject) -> None:
    s = data.draw(st.sampled_from(NUMERIC))
    if s.type == "integer":
        value: Any = data.draw(st.integers(min_value=int(s.min), max_value=int(s.max)))
    else:
        value = data.draw(st.floats(min_value=s.min, max_value=s.max, allow_nan=False))
    assert check_value(s, value) is None


@given(data=st.data())
def test_numbers_outside_the_bounds_fail(data: st.DataObject) -> None:
    s = data.draw(st.sampled_from(NUMERIC))
    below = st.integers(max_value=int(s.min) - 1)
    above = st.integers(min_value=int(s.max) + 1)
    value = data.draw(st.one_of(below, above))
    if s.type == "decimal":
        value = float(value)
    assert check_value(s, value) is not None


@given(data=st.data())
def test_lists_of_allowed_items_within_length_pass_and_longer_fail(data: st.DataObject) -> None:
    s = data.draw(st.sampled_from(LISTS))
    values = s.values or []
    low, high = s.min_items or 0, min(s.max_items or len(values), len(values))
    chosen = data.draw(st.lists(st.sampled_from(values), min_size=low, max_size=high, unique=True))
    assert check_value(s, chosen) is None
    if low > 0:
        assert check_value(s, []) is not None


@given(data=st.data())
def test_strings_inside_the_length_bounds_pass_and_outside_fail(data: st.DataObject) -> None:
    s = data.draw(st.sampled_from(STRINGS))
    low, high = s.min_length or 0, s.max_length or 200
    text = data.draw(st.text(min_size=low, max_size=high))
    assert check_value(s, text) is None
    if s.max_length is not None:
        assert check_value(s, "x" * (s.max_length + 1)) is not None
