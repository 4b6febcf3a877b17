"""The configuration screens' answers: a profile's configuration and a gateway's effective one."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pytest

from reconciler.errors import ExplainError
from reconciler.loading.repos import load_repo
from reconciler.loading.sources import MemorySource
from reconciler.model.repos import Repo
from reconciler.model.state import AppliedGateway, Status
from reconciler.plan.desired import DesiredState, Skip
from reconciler.plan.explain import SECRET_SHOWN, gateway_configuration, profile_configuration
from reconciler.plan.values import SecretDigest, keyed_digest, no_secrets

PUBLIC_AC = textwrap.dedent("""\
    name: public-ac
    description: Public AC
    parameters:
      LSX:
        backend:
          HeartbeatInterval: 600
          WebSocketPingInterval: 60
        charging:
          MaxChargingCurrent: 16
        metering:
          MeterValuesSampledData: [Energy.Active.Import.Register, Power.Active.Import]
      LSG:
        backend:
          HeartbeatInterval: 300
    """)
GATEWAYS = textwrap.dedent("""\
    gateways:
      - {id: LSX-1, type: LSX, profile: public-ac}
      - id: LSX-2
        type: LSX
        profile: public-ac
        subsettings:
          charging: {MaxChargingCurrent: 20}
      - id: LSX-3
        type: LSX
        subsettings:
          display: {LightIntensity: 30}
      - {id: LSG-1, type: LSG, profile: public-ac}
    """)


def load(profile: str = PUBLIC_AC, gateways: str = GATEWAYS, **more: str) -> Repo:
    files = {"profiles.d/public-ac.yaml": profile, "gateways.d/a.yaml": gateways, **more}
    repo = load_repo(MemorySource({path: text.encode() for path, text in files.items()}))
    assert repo.valid, repo.diagnostics
    return repo


def keys_of(answer: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["key"]: row for section in answer["sections"] for row in section["keys"]}


def rows_of(answer: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["key"]: row for row in answer["keys"]}


# --- a profile's configuration ---------------------------------------------------------------


def test_a_profile_lists_every_settable_key_of_the_type_by_section_in_catalog_order() -> None:
    repo = load()
    answer = profile_configuration(repo, None, "public-ac", None, {})
    lsx = repo.catalog.types["LSX"]
    assert answer["profile"] == "public-ac" and answer["description"] == "Public AC"
    assert answer["manage"] == "declared"
    assert answer["types"] == [t for t in repo.catalog.types if t in ("LSX", "LSG")]
    assert answer["type"] == answer["types"][0]
    answer = profile_configuration(repo, None, "public-ac", "LSX", {})
    assert [s["name"] for s in answer["sections"]] == list(lsx.sections)
    listed = [r["key"] for s in answer["sections"] for r in s["keys"]]
    assert listed == [k for keys in lsx.sections.values() for k in keys]
    row = keys_of(answer)["HeartbeatInterval"]
    spec = lsx.specs["HeartbeatInterval"]
    assert row == {
        "key": "HeartbeatInterval",
        "type": "integer",
        "unit": "s",
        "description": spec.description,
        "default": spec.default,
        "value": 600,
        "applied": None,
        "state": "pending",
        "reboot": False,
        "access": "read-write",
        "firmware": "",
        "skipped_for": [],
    }
    assert keys_of(answer)["WebSocketPingInterval"]["firmware"] == ">=2.0.0"
    assert keys_of(answer)["MeterValuesSampledData"]["value"] == [
        "Energy.Active.Import.Register",
        "Power.Active.Import",
    ]
    assert json.loads(json.dumps(answer)) == answer


def test_read_only_keys_are_not_listed() -> None:
    repo = load()
    answer = profile_configuration(repo, None, "public-ac", "OCPP16", {})
    specs = repo.catalog.types["OCPP16"].specs
    listed = set(keys_of(answer))
    assert any(s.access == "read-only" for s in specs.values())
    assert listed == {k for k, s in specs.items() if s.access != "read-only"}
    assert all(row["state"] == "unset" for row in keys_of(answer).values())


def test_a_profile_that_sets_no_type_offers_every_catalog_type() -> None:
    repo = load(profile="name: public-ac\n")
    answer = profile_configuration(repo, None, "public-ac", None, {})
    assert answer["types"] == list(repo.catalog.types)
    assert answer["pending"] == 0


def test_values_are_pending_applied_or_unset_against_the_applied_commit() -> None:
    before = load()
    changed = PUBLIC_AC.replace("600", "700").replace("      WebSocketPingInterval: 60\n", "")
    now = load(profile=changed + "rollout: {manage: all}\n")
    answer = profile_configuration(now, before, "public-ac", "LSX", {})
    rows = keys_of(answer)
    assert answer["manage"] == "all"
    assert (rows["HeartbeatInterval"]["value"], rows["HeartbeatInterval"]["applied"]) == (700, 600)
    assert rows["HeartbeatInterval"]["state"] == "pending"
    removed = rows["WebSocketPingInterval"]
    assert (removed["value"], removed["applied"], removed["state"]) == (None, 60, "pending")
    assert rows["MaxChargingCurrent"]["state"] == "applied"
    assert rows["MaxChargingCurrent"]["applied"] == 16
    assert rows["MeterValuesSampledData"]["state"] == "applied"
    assert rows["LightIntensity"]["state"] == "unset"
    assert rows["LightIntensity"]["default"] == 80
    assert answer["pending"] == 2
    # The same commit applied: nothing pending.
    assert profile_configuration(now, now, "public-ac", "LSX", {})["pending"] == 0


def test_a_profile_new_since_the_applied_commit_is_pending_in_full() -> None:
    applied = load(profile="name: public-ac\n")
    answer = profile_configuration(load(), applied, "public-ac", "LSX", {})
    assert answer["pending"] == 4


def test_keys_skipped_per_firmware_with_member_counts_and_the_planners_reason() -> None:
    repo = load()
    firmwares = {"2.0.0": 7, "1.1.0": 3, "V2.12-rc3b": 1, "": 5}
    answer = profile_configuration(repo, None, "public-ac", "LSX", firmwares)
    rows = keys_of(answer)
    assert rows["WebSocketPingInterval"]["skipped_for"] == [
        {"firmware": "1.1.0", "gateways": 3},
        {"firmware": "V2.12-rc3b", "gateways": 1},
    ]
    assert rows["HeartbeatInterval"]["skipped_for"] == []
    assert rows["LightIntensity"]["skipped_for"] == []  # not set by the profile
    desired = DesiredState(repo.catalog, no_secrets)
    assert desired.syntax("LSX", "1.1.0") is not None
    assert answer["skipped"] == [
        {"key": "WebSocketPingInterval", "firmware": "1.1.0", "gateways": 3,
         "reason": "not in LSX 1.1.0"},
        {"key": "WebSocketPingInterval", "firmware": "V2.12-rc3b", "gateways": 1,
         "reason": "firmware 'V2.12-rc3b' is not a version, so only keys without a firmware range apply"},
    ]  # fmt: skip


def test_an_unknown_profile_or_type_is_an_explain_error_naming_what_there_is() -> None:
    repo = load()
    with pytest.raises(
        ExplainError, match="no profile 'depot' in this commit; profiles: public-ac"
    ):
        profile_configuration(repo, None, "depot", None, {})
    with pytest.raises(ExplainError, match=r"type 'XYZ' is not in the catalog; types: .*LSX"):
        profile_configuration(repo, None, "public-ac", "XYZ", {})


# --- a gateway's effective configuration -----------------------------------------------------


def state_of(
    repo: Repo,
    gateway_id: str,
    firmware: str | None,
    digest: SecretDigest = no_secrets,
    **fields: Any,
) -> AppliedGateway:
    """The store's record once the gateway accepted ``repo``'s desired configuration."""
    entry = repo.gateways[gateway_id]
    desired = DesiredState(repo.catalog, digest)
    if entry.profile is not None:
        config = desired.for_member(repo.profiles[entry.profile], entry, firmware).config
    else:
        config = desired.subsettings(entry, firmware)[0]
    state = AppliedGateway(
        gateway_id, entry.type, firmware, entry.profile, Status.ACCEPTED, accepted=dict(config)
    )
    return replace(state, **fields)


def test_each_value_says_where_it_comes_from() -> None:
    repo = load(profile=PUBLIC_AC + "rollout: {manage: all}\n")
    answer = gateway_configuration(repo, "LSX-2", "2.0.0", None, no_secrets)
    rows = rows_of(answer)
    assert rows["MaxChargingCurrent"]["value"] == 20
    assert rows["MaxChargingCurrent"]["origin"] == "subsetting"
    assert rows["HeartbeatInterval"]["origin"] == "profile"
    assert (rows["LightIntensity"]["origin"], rows["LightIntensity"]["value"]) == ("default", 80)
    assert "OfflineThreshold" not in rows  # firmware >=3.0.0
    assert rows["HeartbeatInterval"]["section"] == "backend"
    assert all(r["state"] == "pending" and r["applied"] is None for r in rows.values())
    in_order = [k for keys in repo.catalog.types["LSX"].sections.values() for k in keys]
    assert list(rows) == [k for k in in_order if k in rows]
    assert (answer["id"], answer["type"], answer["profile"], answer["declared"]) == (
        "LSX-2",
        "LSX",
        "public-ac",
        True,
    )
    assert answer["provisional"] is False
    no_profile = rows_of(gateway_configuration(repo, "LSX-3", "2.0.0", None, no_secrets))
    assert list(no_profile) == ["LightIntensity"]
    assert no_profile["LightIntensity"]["origin"] == "subsetting"


def test_states_against_the_accepted_and_the_live_configuration() -> None:
    before = load()
    now = load(
        profile=PUBLIC_AC.replace("600", "700").replace("      WebSocketPingInterval: 60\n", "")
    )
    state = state_of(
        before,
        "LSX-1",
        "2.0.0",
        status=Status.MISMATCH,
        mismatch={"MaxChargingCurrent": 10, "HeartbeatInterval": 900},
        reboot_pending=("MeterValuesSampledData",),
    )
    answer = gateway_configuration(now, "LSX-1", "2.0.0", state, no_secrets)
    rows = rows_of(answer)
    assert rows["HeartbeatInterval"]["state"] == "pending"  # the next job fixes it anyway
    assert (rows["HeartbeatInterval"]["applied"], rows["HeartbeatInterval"]["live"]) == (600, 900)
    assert rows["MaxChargingCurrent"]["state"] == "mismatch"
    assert rows["MaxChargingCurrent"]["live"] == 10
    assert rows["MeterValuesSampledData"]["state"] == "applied"
    assert rows["MeterValuesSampledData"]["reboot_pending"] is True
    assert rows["MaxChargingCurrent"]["reboot_pending"] is False
    gone = rows["WebSocketPingInterval"]
    assert (gone["state"], gone["value"], gone["applied"], gone["origin"]) == (
        "unmanaged",
        None,
        60,
        None,
    )
    assert answer["mismatch"] == [
        {"key": "HeartbeatInterval", "expected": 600, "live": 900},
        {"key": "MaxChargingCurrent", "expected": 16, "live": 10},
    ]


def test_skipped_keys_come_from_the_syntax_and_from_the_store() -> None:
    repo = load()
    recorded = (str(Skip("LightIntensity", "has no firmware default; left as it is")),
                str(Skip("WebSocketPingInterval", "not in LSX 1.1.0")))  # fmt: skip
    state = state_of(repo, "LSX-1", "1.1.0", skipped=recorded)
    answer = gateway_configuration(repo, "LSX-1", "1.1.0", state, no_secrets)
    assert answer["skipped"] == [
        {"key": "WebSocketPingInterval", "reason": "not in LSX 1.1.0"},
        {"key": "LightIntensity", "reason": "has no firmware default; left as it is"},
    ]
    assert "WebSocketPingInterval" not in rows_of(answer)
    odd = gateway_configuration(repo, "LSX-1", "V2.12-rc3b", None, no_secrets)["skipped"]
    assert odd[0]["key"] == "WebSocketPingInterval"
    assert odd[0]["reason"].startswith("firmware 'V2.12-rc3b' is not a version")
    skip = Skip("X", "firmware 'odd' is not a version, so only keys without a firmware range apply")
    assert Skip.from_text(str(skip)) == skip


def test_an_unknown_firmware_is_provisional_and_unrestricted() -> None:
    answer = gateway_configuration(load(), "LSX-1", None, None, no_secrets)
    assert answer["provisional"] is True and answer["firmware"] is None
    assert "WebSocketPingInterval" in rows_of(answer) and answer["skipped"] == []


def test_a_gateway_only_the_store_knows_is_being_reset() -> None:
    before = load()
    now = load(gateways=GATEWAYS.replace("  - {id: LSX-1, type: LSX, profile: public-ac}\n", ""))
    state = state_of(before, "LSX-1", "2.0.0")
    answer = gateway_configuration(now, "LSX-1", "2.0.0", state, no_secrets)
    assert answer["declared"] is False and answer["profile"] is None
    assert answer["previous_profile"] == "public-ac"
    rows = rows_of(answer)
    assert set(rows) == set(state.accepted)
    assert all(r["state"] == "unmanaged" and r["value"] is None for r in rows.values())
    with pytest.raises(ExplainError, match="no gateway 'LSX-9' in this commit nor in the state"):
        gateway_configuration(now, "LSX-9", None, None, no_secrets)


# --- secrets -----------------------------------------------------------------------------------

SECRET_VALUES = {"auth_ref_x9": "first-secret-value-1234", "sim_ref_q7": "4711"}
KEY = b"k" * 32


def digest_of(values: Mapping[str, str]) -> SecretDigest:
    return lambda name: keyed_digest(KEY, values[name])


def secret_repo(auth: str = "auth_ref_x9") -> Repo:
    profile = PUBLIC_AC.replace(
        "      WebSocketPingInterval: 60\n",
        f"      WebSocketPingInterval: 60\n      AuthorizationKey: {{secret: {auth}}}\n",
    ).replace(
        "  LSG:\n    backend:\n      HeartbeatInterval: 300\n",
        "  LSG:\n    backend:\n      HeartbeatInterval: 300\n"
        "    network: {SimPin: {secret: sim_ref_q7}}\n",
    )
    gateways = GATEWAYS + (
        "  - id: LSG-2\n    type: LSG\n    profile: public-ac\n"
        "    subsettings:\n      network: {SimPin: {secret: sim_ref_q7}}\n"
    )
    return load(profile=profile, gateways=gateways)


def test_no_answer_shows_a_secret_its_digest_or_its_reference_name() -> None:
    repo = secret_repo()
    digest = digest_of(SECRET_VALUES)
    states = [
        state_of(repo, "LSX-1", "2.0.0", digest, mismatch={"AuthorizationKey": {"secret": "x"}}),
        state_of(repo, "LSG-2", "4.1.3", digest, mismatch={"SimPin": "4711"}),
    ]
    answers = [
        profile_configuration(repo, secret_repo("other_ref_k2"), "public-ac", t, {"2.0.0": 1})
        for t in ("LSX", "LSG")
    ]
    answers += [gateway_configuration(repo, s.gateway_id, s.firmware, s, digest) for s in states]
    lsx, lsg, gateway, sim_member = answers
    assert keys_of(lsx)["AuthorizationKey"]["value"] == SECRET_SHOWN
    assert keys_of(lsx)["AuthorizationKey"]["applied"] == SECRET_SHOWN
    assert keys_of(lsx)["AuthorizationKey"]["state"] == "pending"  # another reference
    assert keys_of(lsg)["SimPin"]["value"] == SECRET_SHOWN
    assert rows_of(gateway)["AuthorizationKey"]["state"] == "mismatch"
    assert gateway["mismatch"] == [
        {"key": "AuthorizationKey", "expected": SECRET_SHOWN, "live": SECRET_SHOWN}
    ]
    assert rows_of(sim_member)["SimPin"]["origin"] == "subsetting"
    assert rows_of(sim_member)["SimPin"]["applied"] == SECRET_SHOWN
    assert sim_member["mismatch"][0]["live"] == SECRET_SHOWN
    text = json.dumps(answers)
    digests = [digest(name) for name in SECRET_VALUES]
    for hidden in [*SECRET_VALUES.values(), *SECRET_VALUES, "other_ref_k2", *digests]:
        assert hidden is not None and hidden not in text


def test_a_changed_secret_value_is_pending_by_its_keyed_digest() -> None:
    repo = secret_repo()
    state = state_of(repo, "LSX-1", "2.0.0", digest_of(SECRET_VALUES))
    same = gateway_configuration(repo, "LSX-1", "2.0.0", state, digest_of(SECRET_VALUES))
    assert rows_of(same)["AuthorizationKey"]["state"] == "applied"
    other = digest_of({**SECRET_VALUES, "auth_ref_x9": "second-secret-value-1234"})
    changed = gateway_configuration(repo, "LSX-1", "2.0.0", state, other)
    assert rows_of(changed)["AuthorizationKey"]["state"] == "pending"
