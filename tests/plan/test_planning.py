"""The rules of docs/reference/desired-state.md, each as its own test, on plain values (no I/O in the planner)."""

from __future__ import annotations

import json
import random
import textwrap
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.engine import jobs
from reconciler.loading.repos import load_repo
from reconciler.loading.sources import MemorySource
from reconciler.model.inventory import InventoryGateway
from reconciler.model.repos import Repo
from reconciler.model.state import AppliedGateway, Status
from reconciler.plan import rendering
from reconciler.plan.affected import affected_gateways
from reconciler.plan.assumed import accepted_state
from reconciler.plan.planning import Action, GatewayPlan, Plan, Planner
from reconciler.plan.values import keyed_digest

Load = Callable[[Mapping[str, str]], Repo]

PROFILES = {
    "profiles.d/public-ac.yaml": """\
        name: public-ac
        description: Public AC
        parameters:
          LSX:
            backend:
              HeartbeatInterval: 600
            charging:
              MaxChargingCurrent: 16
            display:
              LightIntensity: 50
          LSG:
            backend:
              HeartbeatInterval: 300
        """,
    "profiles.d/depot.yaml": """\
        name: depot
        parameters:
          LSX:
            backend:
              HeartbeatInterval: 1200
            charging:
              MaxChargingCurrent: 16
        """,
}


def gateways(*entries: str) -> dict[str, str]:
    return {"gateways.d/a.yaml": "gateways:\n" + "".join(entries)}


def entry(
    gateway_id: str, gateway_type: str = "LSX", profile: str | None = "public-ac", extra: str = ""
) -> str:
    text = f"  - id: {gateway_id}\n    type: {gateway_type}\n"
    if profile:
        text += f"    profile: {profile}\n"
    return text + extra


def inventory(*items: tuple[str, str, str]) -> dict[str, InventoryGateway]:
    return {i: InventoryGateway(id=i, type=t, firmware=f) for i, t, f in items}


INVENTORY = inventory(
    ("LSX-1", "LSX", "2.0.0"), ("LSX-2", "LSX", "1.1.0"), ("LSG-1", "LSG", "4.0.0")
)


def accepted(p: GatewayPlan) -> AppliedGateway:
    state = accepted_state(p)
    assert state is not None
    return state


def plan_of(
    repo: Repo,
    applied: Mapping[str, AppliedGateway] | None = None,
    inv: Mapping[str, InventoryGateway] | None = INVENTORY,
    **kwargs: Any,
) -> Plan:
    return Planner(repo.catalog, **kwargs).plan(repo, inv, applied or {})


@pytest.fixture
def repo(load: Load) -> Callable[..., Repo]:
    def make(*entries: str, profiles: Mapping[str, str] = PROFILES) -> Repo:
        loaded = load({**profiles, **gateways(*entries)})
        assert loaded.valid, [str(d) for d in loaded.diagnostics]
        return loaded

    return make


def test_a_new_member_gets_the_keys_its_profile_declares(
    repo: Callable[..., Repo],
) -> None:
    p = plan_of(repo(entry("LSX-1"))).gateways["LSX-1"]
    assert p.action is Action.PUSH and p.first
    assert dict(p.send) == {
        "HeartbeatInterval": 600,
        "MaxChargingCurrent": 16,
        "LightIntensity": 50,
    }


def test_with_manage_all_a_new_member_gets_firmware_defaults_overlaid_by_the_profile(
    repo: Callable[..., Repo],
) -> None:
    profiles = {
        **PROFILES,
        "profiles.d/public-ac.yaml": PROFILES["profiles.d/public-ac.yaml"].rstrip(" ")
        + "        rollout:\n          manage: all\n",
    }
    p = plan_of(repo(entry("LSX-1"), profiles=profiles)).gateways["LSX-1"]
    assert p.action is Action.PUSH and p.first
    assert p.send["HeartbeatInterval"] == 600
    assert p.send["ConnectionTimeOut"] == 60  # a firmware default: every key of T@F is managed
    assert "ApnName" not in p.send  # an LSG key
    assert "AuthorizationKey" not in p.send  # a secret without a value has no default


def test_a_key_no_longer_declared_is_reset_once_then_left_alone(
    repo: Callable[..., Repo],
) -> None:
    first = plan_of(repo(entry("LSX-1"))).gateways["LSX-1"]
    applied = {"LSX-1": accepted(first)}
    without_light = {
        **PROFILES,
        "profiles.d/public-ac.yaml": PROFILES["profiles.d/public-ac.yaml"].replace(
            "            display:\n              LightIntensity: 50\n", ""
        ),
    }
    changed = repo(entry("LSX-1"), profiles=without_light)
    reset = plan_of(changed, applied).gateways["LSX-1"]
    assert dict(reset.send) == {"LightIntensity": 80}  # the catalog's firmware default
    assert reset.resets == {"LightIntensity"}
    after = plan_of(changed, {"LSX-1": accepted(reset)}).gateways["LSX-1"]
    assert after.action is Action.NONE and not after.send


def test_subsettings_override_the_profile(repo: Callable[..., Repo]) -> None:
    extra = "    subsettings:\n      charging:\n        MaxChargingCurrent: 10\n"
    p = plan_of(repo(entry("LSX-1", extra=extra))).gateways["LSX-1"]
    assert p.send["MaxChargingCurrent"] == 10


def test_keys_outside_the_gateway_syntax_are_skipped_with_the_reason(
    repo: Callable[..., Repo],
) -> None:
    p = plan_of(repo(entry("LSX-2"))).gateways["LSX-2"]
    assert "LightIntensity" not in p.send
    assert [str(s) for s in p.skipped] == ["LightIntensity not in LSX 1.1.0"]


UNVERSIONED = "V2.12-rc3b"
UNVERSIONED_REASON = (
    f"firmware '{UNVERSIONED}' is not a version, so only keys without a firmware range apply"
)


def test_a_firmware_that_is_not_a_version_gets_only_the_keys_without_a_firmware_range(
    repo: Callable[..., Repo],
) -> None:
    extra = "    subsettings:\n      backend:\n        WebSocketPingInterval: 20\n"
    plan = plan_of(repo(entry("LSX-9", extra=extra)), inv=inventory(("LSX-9", "LSX", UNVERSIONED)))
    p = plan.gateways["LSX-9"]
    assert p.action is Action.PUSH and p.firmware == UNVERSIONED
    assert dict(p.send) == {"HeartbeatInterval": 600, "MaxChargingCurrent": 16}
    assert [str(s) for s in p.skipped] == [
        f"LightIntensity skipped: {UNVERSIONED_REASON}",
        f"WebSocketPingInterval skipped: {UNVERSIONED_REASON}",
    ]
    assert f"skipped, {UNVERSIONED_REASON}: LightIntensity, WebSocketPingInterval (1 gateway)" in (
        rendering.text(plan)
    )
    assert {"key": "WebSocketPingInterval", "reason": UNVERSIONED_REASON} in rendering.gateway_json(
        p
    )["skipped"]
    assert UNVERSIONED_REASON in rendering.markdown(plan)


def test_with_manage_all_a_firmware_that_is_not_a_version_gets_the_unrestricted_defaults(
    repo: Callable[..., Repo],
) -> None:
    profiles = {
        "profiles.d/public-ac.yaml": """\
        name: public-ac
        parameters:
          LSX:
            backend:
              HeartbeatInterval: 600
        rollout:
          manage: all
        """
    }
    loaded = repo(entry("LSX-9"), profiles=profiles)
    p = plan_of(loaded, inv=inventory(("LSX-9", "LSX", UNVERSIONED))).gateways["LSX-9"]
    specs = loaded.catalog.types["LSX"].specs
    assert "WebSocketPingInterval" not in p.send and p.send["ConnectionTimeOut"] == 60
    assert all(not specs[k].firmware for k in p.send)


def test_only_the_keys_that_differ_are_pushed_with_old_and_new(repo: Callable[..., Repo]) -> None:
    before = plan_of(repo(entry("LSX-1"))).gateways["LSX-1"]
    profiles = {
        **PROFILES,
        "profiles.d/public-ac.yaml": PROFILES["profiles.d/public-ac.yaml"].replace("600", "700"),
    }
    p = plan_of(repo(entry("LSX-1"), profiles=profiles), {"LSX-1": accepted(before)}).gateways[
        "LSX-1"
    ]
    assert p.action is Action.PUSH and not p.first
    assert [(c.key, c.old, c.new) for c in p.changes()] == [("HeartbeatInterval", 600, 700)]


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda t: t.replace("Public AC", "Public AC chargers"), id="description"),
        pytest.param(lambda t: t.replace("600\n", "600  # was 900 until 2026\n", 1), id="comment"),
        pytest.param(
            lambda t: t.replace(
                "            backend:\n              HeartbeatInterval: 600\n            charging:\n              MaxChargingCurrent: 16\n",
                "            charging:\n              MaxChargingCurrent: 16\n            backend:\n              HeartbeatInterval: 600\n",
            ),
            id="reordering",
        ),
    ],
)
def test_a_change_that_alters_no_effective_value_yields_no_action(
    repo: Callable[..., Repo], edit: Callable[[str], str]
) -> None:
    before = plan_of(repo(entry("LSX-1"))).gateways["LSX-1"]
    profiles = {
        **PROFILES,
        "profiles.d/public-ac.yaml": edit(PROFILES["profiles.d/public-ac.yaml"]),
    }
    assert profiles != PROFILES
    p = plan_of(repo(entry("LSX-1"), profiles=profiles), {"LSX-1": accepted(before)}).gateways[
        "LSX-1"
    ]
    assert p.action is Action.NONE


def test_a_subsetting_equal_to_the_profile_value_yields_no_action(
    repo: Callable[..., Repo],
) -> None:
    before = plan_of(repo(entry("LSX-1"))).gateways["LSX-1"]
    extra = "    subsettings:\n      charging:\n        MaxChargingCurrent: 16\n"
    p = plan_of(repo(entry("LSX-1", extra=extra)), {"LSX-1": accepted(before)}).gateways["LSX-1"]
    assert p.action is Action.NONE


def test_a_gateway_without_profile_manages_only_its_subsettings(repo: Callable[..., Repo]) -> None:
    extra = "    subsettings:\n      charging:\n        MaxChargingCurrent: 10\n"
    p = plan_of(repo(entry("LSX-1", profile=None, extra=extra))).gateways["LSX-1"]
    assert dict(p.send) == {"MaxChargingCurrent": 10}
    assert dict(p.desired) == {"MaxChargingCurrent": 10}


def test_a_gateway_without_profile_or_subsettings_needs_nothing(repo: Callable[..., Repo]) -> None:
    assert plan_of(repo(entry("LSX-1", profile=None))).gateways["LSX-1"].action is Action.NONE


def test_a_member_removed_from_its_profile_gets_the_firmware_defaults_once(
    repo: Callable[..., Repo],
) -> None:
    before = plan_of(repo(entry("LSX-1"))).gateways["LSX-1"]
    extra = "    subsettings:\n      charging:\n        MaxChargingCurrent: 10\n"
    p = plan_of(
        repo(entry("LSX-1", profile=None, extra=extra)), {"LSX-1": accepted(before)}
    ).gateways["LSX-1"]
    assert p.action is Action.RESET
    assert p.send["HeartbeatInterval"] == 900  # the firmware default
    assert p.send["MaxChargingCurrent"] == 10  # still managed by the subsetting
    assert "MaxChargingCurrent" not in p.resets
    after = accepted(p)
    assert dict(after.accepted) == {"MaxChargingCurrent": 10}  # then only the subsettings
    again = plan_of(repo(entry("LSX-1", profile=None, extra=extra)), {"LSX-1": after}).gateways[
        "LSX-1"
    ]
    assert again.action is Action.NONE


def test_a_deleted_entry_is_reset_and_then_forgotten(repo: Callable[..., Repo]) -> None:
    before = plan_of(repo(entry("LSX-1"), entry("LSG-1", "LSG"))).gateways["LSX-1"]
    p = plan_of(repo(entry("LSG-1", "LSG")), {"LSX-1": accepted(before)}).gateways["LSX-1"]
    assert p.action is Action.RESET and not p.declared
    assert p.send["HeartbeatInterval"] == 900
    assert accepted_state(p) is None
    assert "removed from gateways.d" in rendering.headline(p)


def test_a_gateway_of_a_catalog_d_type_that_was_removed_is_reset_without_keys(
    load: Load,
) -> None:
    vendor = (
        "type: VENDOR-X\nextends: OCPP16\nparameters:\n  - {key: VendorKey, section: vendor, "
        "type: integer, min: 0, max: 9, default: 1}\n"
    )
    profile = "name: v\nparameters:\n  VENDOR-X:\n    vendor: {VendorKey: 5}\n"
    with_type = load(
        {
            "catalog.d/v.yaml": vendor,
            "profiles.d/v.yaml": profile,
            **gateways(entry("V-1", "VENDOR-X", "v")),
        }
    )
    assert with_type.valid, [str(d) for d in with_type.diagnostics]
    inv = inventory(("V-1", "VENDOR-X", "1.0.0"))
    before = plan_of(with_type, inv=inv).gateways["V-1"]
    assert dict(before.send) == {"VendorKey": 5}
    without = load_repo(MemorySource({"gateways.d/a.yaml": b"gateways: []\n"}))
    assert "VENDOR-X" not in without.catalog.types  # the type, its profile and its gateway are gone
    p = plan_of(without, {"V-1": accepted(before)}, inv=None).gateways["V-1"]
    assert p.action is Action.RESET and not p.send
    assert [s.key for s in p.skipped] == ["VendorKey"]


def test_a_move_is_listed_as_a_move_with_the_differing_keys(repo: Callable[..., Repo]) -> None:
    before = plan_of(repo(entry("LSX-1"))).gateways["LSX-1"]
    p = plan_of(repo(entry("LSX-1", profile="depot")), {"LSX-1": accepted(before)}).gateways[
        "LSX-1"
    ]
    assert p.action is Action.MOVE
    assert (p.previous_profile, p.profile) == ("public-ac", "depot")
    assert {c.key: (c.old, c.new) for c in p.changes()} == {
        "HeartbeatInterval": (600, 1200),
        "LightIntensity": (50, 80),
    }
    assert "move public-ac -> depot" in rendering.text(
        plan_of(repo(entry("LSX-1", profile="depot")), {"LSX-1": accepted(before)})
    )


@pytest.mark.parametrize("status", [Status.REQUESTED, Status.SENT])
def test_a_membership_change_during_an_active_rollout_is_deferred(
    repo: Callable[..., Repo], status: Status
) -> None:
    before = accepted(plan_of(repo(entry("LSX-1"))).gateways["LSX-1"])
    active = AppliedGateway(**{**_fields(before), "status": status})
    plan = plan_of(repo(entry("LSX-1", profile="depot")), {"LSX-1": active})
    p = plan.gateways["LSX-1"]
    assert p.action is Action.DEFER and p.deferred is Action.MOVE
    assert status.value in p.message
    assert p not in plan.actionable()  # what it would send is shown, nothing is sent


def test_an_active_rollout_already_heading_to_the_desired_state_is_left_alone(
    repo: Callable[..., Repo],
) -> None:
    first = plan_of(repo(entry("LSX-1"))).gateways["LSX-1"]
    active = AppliedGateway(
        "LSX-1", "LSX", "2.0.0", "public-ac", Status.SENT, accepted={}, target=dict(first.desired)
    )
    assert plan_of(repo(entry("LSX-1")), {"LSX-1": active}).gateways["LSX-1"].action is Action.NONE


def test_a_declined_gateway_is_not_retried_until_its_desired_state_changes(
    repo: Callable[..., Repo],
) -> None:
    first = plan_of(repo(entry("LSX-1"))).gateways["LSX-1"]
    declined = AppliedGateway(
        "LSX-1",
        "LSX",
        "2.0.0",
        "public-ac",
        Status.DECLINED,
        target=dict(first.desired),
        reason="rejected",
    )
    assert (
        plan_of(repo(entry("LSX-1")), {"LSX-1": declined}).gateways["LSX-1"].action is Action.NONE
    )
    p = plan_of(repo(entry("LSX-1", profile="depot")), {"LSX-1": declined}).gateways["LSX-1"]
    assert p.action is Action.MOVE


def test_a_type_that_differs_from_the_inventory_is_an_error_for_that_gateway_alone(
    repo: Callable[..., Repo],
) -> None:
    plan = plan_of(repo(entry("LSX-1"), entry("LSG-1", "LSX")))
    assert plan.gateways["LSG-1"].action is Action.ERROR
    assert plan.gateways["LSG-1"].message == "declared type LSX, but the inventory says LSG"
    assert plan.gateways["LSX-1"].action is Action.PUSH


def test_a_gateway_the_inventory_lacks_is_an_error_for_that_gateway_alone(
    repo: Callable[..., Repo],
) -> None:
    plan = plan_of(repo(entry("LSX-1"), entry("LSX-9")))
    assert plan.gateways["LSX-9"].action is Action.ERROR
    assert "inventory" in plan.gateways["LSX-9"].message
    assert plan.gateways["LSX-1"].action is Action.PUSH
    assert plan.has_errors and plan.has_changes


def test_without_inventory_the_store_firmware_is_used(repo: Callable[..., Repo]) -> None:
    before = accepted(plan_of(repo(entry("LSX-2"))).gateways["LSX-2"])
    p = plan_of(repo(entry("LSX-2")), {"LSX-2": before}, inv=None).gateways["LSX-2"]
    assert p.firmware == "1.1.0" and p.action is Action.NONE


def test_without_any_firmware_the_result_is_marked_unknown(repo: Callable[..., Repo]) -> None:
    p = plan_of(repo(entry("LSX-2")), inv=None).gateways["LSX-2"]
    assert not p.firmware_known
    assert p.send["LightIntensity"] == 50  # not filtered: the firmware is not known


SECRET_PROFILE = {
    "profiles.d/public-ac.yaml": "name: public-ac\nparameters:\n  LSX:\n    backend:\n      AuthorizationKey: {secret: auth}\n"
}


def test_a_changed_secret_is_compared_by_keyed_hash_and_never_shown(
    repo: Callable[..., Repo],
) -> None:
    values = {"auth": "first-secret-value-1234"}

    def digest(name: str) -> str | None:
        return keyed_digest(b"k" * 32, values[name])

    r = repo(entry("LSX-1"), profiles=SECRET_PROFILE)
    before = accepted(plan_of(r, digest=digest).gateways["LSX-1"])
    assert "first-secret" not in repr(before.accepted)
    assert plan_of(r, {"LSX-1": before}, digest=digest).gateways["LSX-1"].action is Action.NONE
    values["auth"] = "second-secret-value-1234"
    plan = plan_of(r, {"LSX-1": before}, digest=digest)
    assert [c.key for c in plan.gateways["LSX-1"].changes()] == ["AuthorizationKey"]
    shown = rendering.text(plan) + str(rendering.as_json(plan)) + rendering.markdown(plan)
    assert "(secret changed)" in rendering.text(plan)
    assert "second-secret" not in shown and "first-secret" not in shown


def test_a_secret_that_cannot_be_resolved_is_compared_by_name(repo: Callable[..., Repo]) -> None:
    r = repo(entry("LSX-1"), profiles=SECRET_PROFILE)
    before = accepted(plan_of(r).gateways["LSX-1"])
    assert plan_of(r, {"LSX-1": before}).gateways["LSX-1"].action is Action.NONE


SHORT_SECRET = "Vq3-short"
"""A value for ``auth`` below AuthorizationKey's catalog minimum."""


def test_a_secret_value_outside_its_catalog_rule_is_a_plan_error_for_that_gateway_alone(
    repo: Callable[..., Repo],
) -> None:
    r = repo(entry("LSX-1"), entry("LSX-2"), entry("LSG-1", "LSG"), profiles=SECRET_PROFILE)
    spec = r.catalog.spec("LSX", "AuthorizationKey")
    assert spec is not None and spec.min_length is not None
    assert len(SHORT_SECRET) < spec.min_length
    plan = plan_of(r, check_secret=jobs.secret_check({"auth": SHORT_SECRET}.get))
    bad = plan.gateways["LSX-1"]
    assert bad.action is Action.ERROR and not bad.send
    assert bad.message == jobs.secret_problem(spec, "auth", SHORT_SECRET)
    assert bad.message.startswith("secret 'auth' for AuthorizationKey does not fit the catalog: ")
    assert f"{spec.min_length}..{spec.max_length}" in bad.message
    assert [p.gateway_id for p in plan.actionable()] == []  # LSX-2's firmware lacks the key
    assert plan.gateways["LSX-2"].action is Action.NONE
    shown = rendering.text(plan) + json.dumps(rendering.as_json(plan)) + rendering.markdown(plan)
    assert bad.message in rendering.text(plan) and bad.message in json.dumps(
        rendering.as_json(plan)
    )
    assert SHORT_SECRET not in shown


def test_a_secret_value_within_its_rule_or_not_provided_plans_as_usual(
    repo: Callable[..., Repo],
) -> None:
    r = repo(entry("LSX-1"), profiles=SECRET_PROFILE)
    spec = r.catalog.spec("LSX", "AuthorizationKey")
    assert spec is not None and spec.min_length is not None
    fits = {"auth": "v" * spec.min_length}
    for values in (fits, {}):
        plan = plan_of(r, check_secret=jobs.secret_check(values.get))
        assert plan.gateways["LSX-1"].action is Action.PUSH


def test_each_secret_is_checked_once_per_plan_whatever_the_fleet(
    repo: Callable[..., Repo],
) -> None:
    ids = [f"LSX-{n}" for n in range(1, 6)]
    r = repo(*(entry(i) for i in ids), profiles=SECRET_PROFILE)
    fleet = inventory(*((i, "LSX", "2.0.0") for i in ids))
    asked: list[str] = []

    def check(spec: Any, name: str) -> str | None:
        asked.append(name)
        return "broken"

    planner = Planner(r.catalog, check_secret=check)
    for _ in range(2):
        plan = planner.plan(r, fleet, {})
        assert {p.message for p in plan.gateways.values()} == {"broken"}
    assert asked == ["auth", "auth"]  # once per plan: a value may change between plans


def test_an_incremental_plan_equals_a_full_one(repo: Callable[..., Repo]) -> None:
    old = repo(entry("LSX-1"), entry("LSX-2", profile="depot"), entry("LSG-1", "LSG"))
    planner = Planner(old.catalog)
    first = planner.plan(old, INVENTORY, {})
    profiles = {
        **PROFILES,
        "profiles.d/depot.yaml": PROFILES["profiles.d/depot.yaml"].replace("1200", "1500"),
    }
    new = repo(
        entry("LSX-1"), entry("LSX-2", profile="depot"), entry("LSG-1", "LSG"), profiles=profiles
    )
    changed = affected_gateways(old, new)
    assert changed == {"LSX-2"}
    incremental = planner.plan(new, INVENTORY, {}, previous=first, affected=changed)
    assert incremental.gateways == plan_of(new).gateways


def _fields(state: AppliedGateway) -> dict[str, Any]:
    return {name: getattr(state, name) for name in AppliedGateway.__slots__}


# --- properties ---------------------------------------------------------------

FLEET = (
    [(f"LSX-{i}", "LSX") for i in range(6)]
    + [(f"LSG-{i}", "LSG") for i in range(4)]
    + [("ACCU-1", "ACCU")]
)
FLEET_INVENTORY = {
    i: InventoryGateway(
        id=i,
        type=t,
        firmware={"LSX": "1.1.0", "LSG": "4.0.0", "ACCU": "2.0.0"}[t]
        if n % 2
        else {"LSX": "3.0.1", "LSG": "3.1.0", "ACCU": "1.0.0"}[t],
    )
    for n, (i, t) in enumerate(FLEET)
}
memberships = st.fixed_dictionaries(
    {
        i: st.tuples(
            st.sampled_from([None, "public-ac", "depot"]), st.sampled_from([None, 6, 10, 16])
        )
        for i, _ in FLEET
    }
)


def fleet_files(
    assignment: Mapping[str, tuple[str | None, int | None]], order: list[str]
) -> dict[str, str]:
    types = dict(FLEET)
    entries = []
    for gateway_id in order:
        profile, current = assignment[gateway_id]
        extra = (
            f"    subsettings:\n      charging:\n        MaxChargingCurrent: {current}\n"
            if current
            else ""
        )
        entries.append(
            entry(
                gateway_id,
                types[gateway_id],
                profile if types[gateway_id] != "ACCU" else None,
                extra,
            )
        )
    half = len(entries) // 2
    return {
        **PROFILES,
        "gateways.d/a.yaml": "gateways:\n" + "".join(entries[:half]),
        "gateways.d/b.yaml": "gateways:\n" + "".join(entries[half:]),
    }


def load_memory(files: Mapping[str, str]) -> Repo:
    return load_repo(
        MemorySource({path: textwrap.dedent(text).encode() for path, text in files.items()})
    )


@settings(max_examples=30, deadline=None)
@given(before=memberships, after=memberships)
def test_applying_a_plan_then_planning_again_yields_no_action(
    before: dict[str, tuple[str | None, int | None]],
    after: dict[str, tuple[str | None, int | None]],
) -> None:
    order = [i for i, _ in FLEET]
    applied: dict[str, AppliedGateway] = {}
    for assignment in (before, after):
        repo = load_memory(fleet_files(assignment, order))
        plan = Planner(repo.catalog).plan(repo, FLEET_INVENTORY, applied)
        for p in plan.actionable():
            state = accepted_state(p)
            if state is None:
                applied.pop(p.gateway_id, None)
            else:
                applied[p.gateway_id] = state
        again = Planner(repo.catalog).plan(repo, FLEET_INVENTORY, applied)
        assert not again.actionable(), [rendering.headline(p) for p in again.actionable()]


@settings(max_examples=20, deadline=None)
@given(assignment=memberships, seed=st.integers(0, 1000))
def test_the_plan_does_not_depend_on_file_or_entry_order(
    assignment: dict[str, tuple[str | None, int | None]], seed: int
) -> None:
    order = [i for i, _ in FLEET]
    shuffled = order[:]
    random.Random(seed).shuffle(shuffled)
    first = load_memory(fleet_files(assignment, order))
    second = load_memory(fleet_files(assignment, shuffled))
    assert rendering.as_json(
        Planner(first.catalog).plan(first, FLEET_INVENTORY, {})
    ) == rendering.as_json(Planner(second.catalog).plan(second, FLEET_INVENTORY, {}))
