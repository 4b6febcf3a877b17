"""The prune guard: which plans reset too much of the fleet to be rolled out without consent."""

from __future__ import annotations

import pytest

from reconciler.plan import guards
from reconciler.plan.planning import Action, GatewayPlan, Plan


def plan_of(actions: list[Action]) -> Plan:
    return Plan(
        {f"G{i}": GatewayPlan(f"G{i}", "LSX", "1.0.0", a, None) for i, a in enumerate(actions)}
    )


def test_a_plan_without_resets_is_never_held() -> None:
    check = guards.check_resets(plan_of([Action.PUSH] * 50), managed=50, max_share=0.1)
    assert not check.held and check.resets == 0


def test_resets_within_the_share_pass() -> None:
    managed = 100
    allowed_resets = int(managed * guards.DEFAULT_MAX_RESET_SHARE)
    plan = plan_of([Action.RESET] * allowed_resets)
    assert not guards.check_resets(plan, managed=managed, max_share=0.1).held


def test_resets_above_the_share_are_held_with_the_numbers() -> None:
    managed = 100
    resets = int(managed * guards.DEFAULT_MAX_RESET_SHARE) + 1
    check = guards.check_resets(plan_of([Action.RESET] * resets), managed=managed, max_share=0.1)
    assert check.held
    assert f"would reset {resets} of {managed} managed gateways" in check.reason
    assert "11% > the limit of 10%" in check.reason


def test_leaving_none_managed_is_held_whatever_the_share() -> None:
    managed = 20
    check = guards.check_resets(plan_of([Action.RESET] * managed), managed=managed, max_share=1.0)
    assert check.held and "leave none managed" in check.reason


def test_an_empty_store_holds_nothing() -> None:
    assert not guards.check_resets(plan_of([Action.RESET] * 3), managed=0, max_share=0.1).held


@pytest.mark.parametrize(
    ("commit", "given", "expected"),
    [
        pytest.param("a1b2c3d4e5f6a7b8", "a1b2c3d4e5f6a7b8", True, id="full-sha"),
        pytest.param("a1b2c3d4e5f6a7b8", "A1B2C3D", True, id="prefix-of-7-any-case"),
        pytest.param("a1b2c3d4e5f6a7b8", "a1b2c3", False, id="prefix-too-short"),
        pytest.param("a1b2c3d4e5f6a7b8", "ffffffff", False, id="another-commit"),
        pytest.param(None, "a1b2c3d4", False, id="no-commit"),
        pytest.param("a1b2c3d4e5f6a7b8", None, False, id="not-given"),
    ],
)
def test_allow_reset_names_exactly_one_commit(
    commit: str | None, given: str | None, expected: bool
) -> None:
    assert guards.allowed(commit, given) is expected
