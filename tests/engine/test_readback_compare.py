"""Read-back comparison (pure): Mismatch by catalog type, and keys that wait for a reboot."""

from __future__ import annotations

from reconciler.drivers.base import LiveConfig
from reconciler.engine.readback import compare
from reconciler.loading.catalogs import shipped_catalog
from reconciler.model.state import AppliedGateway, Status

CATALOG = shipped_catalog()
ACCEPTED = {"HeartbeatInterval": 600, "NetworkConfigurationPriority": "1,0"}


def state(**fields: object) -> AppliedGateway:
    base: dict[str, object] = {"accepted": ACCEPTED}
    return AppliedGateway("CP-1", "OCPP16", "1.0.0", "p", Status.ACCEPTED, **(base | fields))  # type: ignore[arg-type]


def live(**values: object) -> dict[str, LiveConfig]:
    return {"CP-1": LiveConfig("CP-1", "1.0.0", dict(values))}


def test_strings_of_the_right_value_are_no_mismatch() -> None:
    changed, mismatched = compare(
        [state()], live(HeartbeatInterval="600", NetworkConfigurationPriority="1,0"), CATALOG, 1.0
    )
    assert (changed, mismatched) == ([], [])


def test_a_key_pending_a_reboot_is_no_mismatch_until_it_reads_back_right() -> None:
    waiting = state(reboot_pending=("NetworkConfigurationPriority",))
    changed, mismatched = compare(
        [waiting], live(HeartbeatInterval=600, NetworkConfigurationPriority="0"), CATALOG, 1.0
    )
    assert (changed, mismatched) == ([], [])
    # After the boot the value reads back as accepted: no longer pending.
    changed, mismatched = compare(
        [waiting], live(HeartbeatInterval=600, NetworkConfigurationPriority="1,0"), CATALOG, 2.0
    )
    assert mismatched == []
    assert [(s.status, s.reboot_pending) for s in changed] == [(Status.ACCEPTED, ())]


def test_other_keys_still_count_while_one_waits_for_a_reboot() -> None:
    waiting = state(reboot_pending=("NetworkConfigurationPriority",))
    changed, mismatched = compare(
        [waiting], live(HeartbeatInterval=900, NetworkConfigurationPriority="0"), CATALOG, 1.0
    )
    assert mismatched == ["CP-1"]
    assert dict(changed[0].mismatch) == {"HeartbeatInterval": 900}
    assert changed[0].reboot_pending == ("NetworkConfigurationPriority",)
