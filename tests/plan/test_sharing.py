"""Gateways that want the same thing share one object: a rollout's plans hold a few hundred
``send`` and desired mappings at 100,000 gateways, not one per gateway."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

from reconciler.model.repos import Repo
from reconciler.plan.assumed import accepted_state
from reconciler.plan.planning import Action, Planner
from tests.plan.test_planning import INVENTORY, PROFILES, entry, gateways

Load = Callable[[Mapping[str, str]], Repo]

SUBSETTINGS = "    subsettings:\n      charging:\n        MaxChargingCurrent: 20\n"


def test_members_with_equal_subsettings_share_their_desired_configuration(load: Load) -> None:
    repo = load(
        {
            **PROFILES,
            **gateways(
                entry("LSX-1", extra=SUBSETTINGS),
                entry("LSX-3", extra=SUBSETTINGS),
                entry("LSX-4", extra=SUBSETTINGS.replace("20", "24")),
            ),
        }
    )
    inventory = {**INVENTORY, "LSX-3": INVENTORY["LSX-1"], "LSX-4": INVENTORY["LSX-1"]}
    plan = Planner(repo.catalog).plan(repo, inventory, {})
    one, two, other = (plan.gateways[i] for i in ("LSX-1", "LSX-3", "LSX-4"))
    assert one.desired is two.desired and one.send is two.send
    assert one.desired["MaxChargingCurrent"] == 20 and other.desired["MaxChargingCurrent"] == 24


def test_a_change_of_shared_configurations_sends_one_shared_mapping(load: Load) -> None:
    files = {**PROFILES, **gateways(entry("LSX-1"), entry("LSX-3"))}
    inventory = {**INVENTORY, "LSX-3": INVENTORY["LSX-1"]}
    repo = load(files)
    first = Planner(repo.catalog).plan(repo, inventory, {})
    states = {i: accepted_state(p) for i, p in first.gateways.items()}
    # The store hands out one shared object per distinct configuration.
    shared = states["LSX-1"]
    assert shared is not None
    applied = {i: replace(s, accepted=shared.accepted) for i, s in states.items() if s}
    changed = load(
        {
            **files,
            "profiles.d/public-ac.yaml": PROFILES["profiles.d/public-ac.yaml"].replace(
                "600", "700"
            ),
        }
    )
    plan = Planner(changed.catalog).plan(changed, inventory, applied)
    one, two = plan.gateways["LSX-1"], plan.gateways["LSX-3"]
    assert one.action is two.action is Action.PUSH
    assert dict(one.send) == {"HeartbeatInterval": 700}
    assert one.send is two.send and one.resets is two.resets
