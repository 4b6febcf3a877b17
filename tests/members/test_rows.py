"""Member rows: the join of declaration, inventory and store, their counts, and their one JSON shape."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

from reconciler.loading.catalogs import shipped_catalog
from reconciler.members.counts import count_by_profile
from reconciler.members.matching import matches
from reconciler.members.query import parse
from reconciler.members.rows import Member, member_from_json, member_json, members
from reconciler.model.files import GatewayEntry
from reconciler.model.inventory import InventoryGateway, Station
from reconciler.model.repos import Repo
from reconciler.model.state import AppliedGateway, Status
from tests.members.conftest import member

# --- members(): the join -------------------------------------------------------------------


def repo_of(*entries: GatewayEntry) -> Repo:
    return Repo(shipped_catalog(), gateways={e.id: e for e in entries})


def test_members_join_declaration_inventory_and_store() -> None:
    entry = GatewayEntry(
        id="LSX-1",
        type="LSX",
        profile="public-ac",
        subsettings={"charging": {"MaxChargingCurrent": 16}},
        labels={"site": "x"},
    )
    known = InventoryGateway(
        id="LSX-1",
        type="LSX",
        firmware="2.0.0",
        provider="VoltPoint",
        address="A",
        owner="O",
        stations=[Station(id="S1", ports=["P1", "P2"]), Station(id="S2", ports=["P3"])],
    )
    state = AppliedGateway(
        "LSX-1", "LSX", "1.0.0", "public-ac", Status.DECLINED, reason="busy", updated_at=5.0
    )
    [m] = members(repo_of(entry), {"LSX-1": known}, {"LSX-1": state})
    assert m == Member(
        gateway_id="LSX-1",
        type="LSX",
        firmware="2.0.0",
        profile="public-ac",
        status=Status.DECLINED,
        reason="busy",
        station_ids=("S1", "S2"),
        port_ids=("P1", "P2", "P3"),
        provider="VoltPoint",
        address="A",
        owner="O",
        subsettings={"MaxChargingCurrent": 16},
        labels={"site": "x"},
        updated_at=5.0,
    )


def test_without_inventory_the_firmware_is_the_one_the_store_recorded() -> None:
    entry = GatewayEntry(id="LSX-1", type="LSX")
    state = AppliedGateway("LSX-1", "LSX", "1.0.0", None, Status.ACCEPTED)
    [m] = members(repo_of(entry), None, {"LSX-1": state})
    assert (m.firmware, m.station_ids, m.status) == ("1.0.0", (), Status.ACCEPTED)


def test_a_gateway_not_in_the_store_has_no_status_yet() -> None:
    [m] = members(repo_of(GatewayEntry(id="LSX-1", type="LSX")), None, {})
    assert (m.status, m.firmware, m.updated_at, m.status_key) == (None, None, None, "none")


def test_gateways_only_the_store_knows_are_listed_as_not_declared() -> None:
    state = AppliedGateway("LSX-9", "LSX", "1.0.0", "public-ac", Status.SENT)
    rows = members(repo_of(GatewayEntry(id="LSX-1", type="LSX")), None, {"LSX-9": state})
    assert [(m.gateway_id, m.declared, m.profile) for m in rows] == [
        ("LSX-1", True, None),
        ("LSX-9", False, None),
    ]


def test_secret_subsettings_are_masked() -> None:
    entry = GatewayEntry(
        id="LSX-1",
        type="LSX",
        subsettings={"backend": {"AuthorizationKey": {"secret": "gw_key"}}},
    )
    [m] = members(repo_of(entry), None, {})
    assert m.subsettings == {"AuthorizationKey": "(secret)"}
    assert not matches(parse("gw_key"), m)


def test_counts_per_profile_list_every_status_and_empty_profiles() -> None:
    rows = [
        member(gateway_id="a", status=Status.ACCEPTED),
        member(gateway_id="b", status=Status.MISMATCH),
        member(gateway_id="c", profile=None, status=None),
    ]
    counts = count_by_profile(rows, profiles=["canary", "public-ac"])
    assert [(c.profile, c.members) for c in counts] == [
        ("canary", 0),
        ("public-ac", 2),
        (None, 1),
    ]
    assert counts[1].statuses == {
        "Initial": 0,
        "Requested": 0,
        "Sent": 0,
        "Accepted": 1,
        "Declined": 0,
        "Mismatch": 1,
        "none": 0,
    }


# --- the one JSON shape ----------------------------------------------------------------------

REPORT_SCHEMA = Path(__file__).resolve().parents[2] / "reconciler" / "daemon" / "report.schema.json"


def test_a_member_in_json_has_every_field_the_report_promises() -> None:
    schema = json.loads(REPORT_SCHEMA.read_text(encoding="utf-8"))
    gateway = schema["$defs"]["member"]
    assert set(member_json(member())) == set(gateway["required"]) == set(gateway["properties"])


def test_a_members_last_change_reads_as_iso_8601_utc() -> None:
    assert member_json(member(updated_at=1714564800.0))["updated_at"] == "2024-05-01T12:00:00Z"
    assert member_json(member(updated_at=None))["updated_at"] is None


def test_a_member_reads_back_from_its_json_unchanged() -> None:
    m = member(
        status=Status.MISMATCH,
        reason="live HeartbeatInterval differs",
        skipped=("LightIntensity not in LSX 1.1.0",),
        updated_at=1714564800.0,
        declared=False,
    )
    assert member_from_json(json.loads(json.dumps(member_json(m)))) == m
    assert member_from_json(member_json(member(status=None, firmware=None))).status is None


def test_a_subsetting_value_json_cannot_hold_is_shown_as_text() -> None:
    m = member(subsettings={"Since": datetime.date(2024, 5, 1), "Days": (1, True)})
    assert member_json(m)["subsettings"] == {"Since": "2024-05-01", "Days": [1, True]}
