"""Gateway types come from the catalog: a repository's catalog.d defines new ones, with located errors."""

from __future__ import annotations

import string

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.loading.catalogs import shipped_catalog
from reconciler.loading.repos import load_repo
from reconciler.loading.sources import MemorySource
from reconciler.model import schemas
from reconciler.model.catalogs import GATEWAY_TYPES, TYPE_NAME
from reconciler.model.repos import Repo

VENDOR = """\
type: ABB-TERRA
extends: OCPP16
match: {vendor: ABB, model: "Terra AC.*"}
parameters:
  - key: LedBrightness
    section: display
    type: integer
    min: 0
    max: 100
    default: 80
"""


def load(files: dict[str, str]) -> Repo:
    return load_repo(MemorySource({path: text.encode() for path, text in files.items()}))


def located(repo: Repo) -> list[str]:
    return [f"{d.file}:{d.line}:{d.column}: {d.message}" for d in repo.diagnostics]


def only(repo: Repo) -> str:
    lines = located(repo)
    assert len(lines) == 1, lines
    return lines[0]


def new_type(name: str, protocol: str = "ocpp1.6", key: str = "VendorKey") -> str:
    return (
        f"type: {name}\nprotocol: {protocol}\nparameters:\n"
        f"  - key: {key}\n    section: vendor\n    type: integer\n    min: 1\n    max: 9\n"
        "    default: 5\n"
    )


def test_the_shipped_types_are_the_files_of_the_shipped_catalog() -> None:
    assert GATEWAY_TYPES == ("ACCU", "LSG", "LSX", "OCPP16", "OCPP201")
    assert shipped_catalog().type_names == GATEWAY_TYPES
    assert shipped_catalog().shipped_type_names == GATEWAY_TYPES


def test_a_vendor_type_extends_a_shipped_type_and_inherits_its_protocol_and_keys() -> None:
    repo = load(
        {
            "catalog.d/abb.yaml": VENDOR,
            "profiles.d/abb.yaml": "name: abb\nparameters:\n  ABB-TERRA:\n"
            "    backend: {HeartbeatInterval: 600}\n    display: {LedBrightness: 50}\n",
            "gateways.d/a.yaml": "gateways:\n  - {id: CP-1, type: ABB-TERRA, profile: abb}\n",
        }
    )
    assert repo.valid, located(repo)
    vendor = repo.catalog.types["ABB-TERRA"]
    assert (vendor.protocol, vendor.extends, vendor.source) == (
        "ocpp1.6",
        "OCPP16",
        "catalog.d/abb.yaml",
    )
    assert not vendor.shipped and "ABB-TERRA" not in repo.catalog.shipped_type_names
    assert dict(vendor.match) == {"vendor": "ABB", "model": "Terra AC.*"}
    assert vendor.matches("ABB", "Terra AC 22") and not vendor.matches("ABB", "Terra DC")
    assert set(shipped_catalog().types["OCPP16"].specs) < set(vendor.specs)
    assert "ABB-TERRA" not in shipped_catalog().types  # the shipped catalog is untouched


def test_a_catalog_d_file_still_adds_keys_to_a_shipped_type() -> None:
    text = new_type("LSX", "lg2wan", "NewFirmwareKey").replace("protocol: lg2wan\n", "")
    repo = load({"catalog.d/lsx.yaml": text})
    assert repo.valid, located(repo)
    assert repo.catalog.spec("LSX", "NewFirmwareKey") is not None
    assert repo.catalog.types["LSX"].shipped


TYPE_NAMES = st.text(string.ascii_uppercase + string.digits + "_-", min_size=1, max_size=31).map(
    lambda rest: "Q" + rest
)


@settings(max_examples=40, deadline=None)
@given(name=TYPE_NAMES, protocol=st.sampled_from(["lg2wan", "ocpp1.6"]))
def test_a_catalog_d_type_with_any_valid_name_is_accepted_by_validation_and_the_schema(
    name: str, protocol: str
) -> None:
    assert TYPE_NAME.fullmatch(name)
    profile = f"name: p\nparameters:\n  {name}:\n    vendor:\n      VendorKey: 7\n"
    gateways = f"gateways:\n  - id: G-1\n    type: {name}\n    profile: p\n"
    repo = load(
        {
            "catalog.d/new.yaml": new_type(name, protocol),
            "profiles.d/p.yaml": profile,
            "gateways.d/a.yaml": gateways,
        }
    )
    assert repo.valid, located(repo)
    assert repo.gateways["G-1"].type == name
    schema = schemas.combined_schema(repo.catalog)
    validator = jsonschema.Draft202012Validator(schema)
    assert not list(
        validator.iter_errors({"name": "p", "parameters": {name: {"vendor": {"VendorKey": 7}}}})
    )
    assert list(
        validator.iter_errors({"name": "p", "parameters": {name: {"vendor": {"VendorKey": 70}}}})
    )
    assert not list(validator.iter_errors({"gateways": [{"id": "G-1", "type": name}]}))


@pytest.mark.parametrize(
    ("name", "protocol", "first_key"),
    [
        pytest.param("OCPP16", "ocpp1.6", "HeartbeatInterval", id="ocpp16"),
        pytest.param("OCPP201", "ocpp2.0.1", "OCPPCommCtrlr.HeartbeatInterval", id="ocpp201"),
    ],
)
def test_the_json_schema_offers_the_ocpp_types_without_their_read_only_keys(
    name: str, protocol: str, first_key: str
) -> None:
    schema = schemas.profile_schema(shipped_catalog())
    block = schema["properties"]["parameters"]["properties"][name]
    assert protocol in block["description"]
    offered = {key for section in block["properties"].values() for key in section["properties"]}
    assert first_key in offered
    specs = shipped_catalog().types[name].specs
    assert offered == {k for k, s in specs.items() if s.access != "read-only"}
    gateways = schemas.gateways_schema(shipped_catalog())
    assert name in gateways["properties"]["gateways"]["items"]["properties"]["type"]["enum"]


def test_a_read_only_key_in_a_profile_is_an_error_at_its_line() -> None:
    text = "name: p\nparameters:\n  OCPP16:\n    charging:\n      NumberOfConnectors: 2\n"
    assert only(load({"profiles.d/p.yaml": text})) == (
        "profiles.d/p.yaml:5:7: NumberOfConnectors is read-only on OCPP16; it cannot be set"
    )


def test_a_read_only_key_in_subsettings_is_an_error_at_its_line() -> None:
    text = (
        "gateways:\n  - id: CS-1\n    type: OCPP201\n    subsettings:\n      smartcharging:\n"
        "        SmartChargingCtrlr.ProfileStackLevel: 3\n"
    )
    assert only(load({"gateways.d/a.yaml": text})) == (
        "gateways.d/a.yaml:6:9: gateway CS-1: SmartChargingCtrlr.ProfileStackLevel is read-only "
        "on OCPP201; it cannot be set"
    )


def test_an_unknown_type_in_a_profile_parameters_block_is_an_error_with_a_suggestion() -> None:
    text = "name: p\nparameters:\n  OCPP61:\n    backend:\n      HeartbeatInterval: 600\n"
    message = only(load({"profiles.d/p.yaml": text}))
    assert message.startswith(
        "profiles.d/p.yaml:3:3: unknown gateway type 'OCPP61' (did you mean 'OCPP16'?)"
    )


def test_a_lower_case_type_in_a_profile_is_one_error_that_suggests_the_upper_case_one() -> None:
    text = "name: p\nparameters:\n  lsx:\n    backend:\n      HeartbeatInterval: 600\n"
    message = only(load({"profiles.d/p.yaml": text}))
    assert message.startswith(
        "profiles.d/p.yaml:3:3: unknown gateway type 'lsx' (did you mean 'LSX'?)"
    )


def test_a_gateway_of_a_catalog_d_type_that_is_gone_is_an_error_and_not_a_gateway() -> None:
    repo = load({"gateways.d/a.yaml": "gateways:\n  - id: CP-1\n    type: ABB-TERRA\n"})
    assert only(repo).startswith(
        "gateways.d/a.yaml:3:11: gateway CP-1: unknown gateway type 'ABB-TERRA'"
    )
    assert "CP-1" not in repo.gateways


def test_extending_an_unknown_type_is_an_error_with_a_suggestion() -> None:
    text = VENDOR.replace("extends: OCPP16", "extends: OCPP61")
    message = only(load({"catalog.d/abb.yaml": text}))
    assert message.startswith(
        "catalog.d/abb.yaml:2:10: type ABB-TERRA extends unknown type OCPP61 (did you mean 'OCPP16'?)"
    )


def test_types_that_extend_each_other_form_a_cycle_and_are_an_error() -> None:
    repo = load(
        {
            "catalog.d/a.yaml": "type: VENDOR-A\nextends: VENDOR-B\n",
            "catalog.d/b.yaml": "type: VENDOR-B\nextends: VENDOR-A\n",
        }
    )
    assert only(repo) == (
        "catalog.d/b.yaml:2:10: type VENDOR-B extends VENDOR-A, which forms a cycle: "
        "VENDOR-A -> VENDOR-B -> VENDOR-A"
    )
    assert "VENDOR-A" not in repo.catalog.types and "VENDOR-B" not in repo.catalog.types


def test_a_type_that_extends_itself_is_a_cycle() -> None:
    message = only(load({"catalog.d/a.yaml": "type: VENDOR-A\nextends: VENDOR-A\n"}))
    assert message == (
        "catalog.d/a.yaml:2:10: type VENDOR-A extends VENDOR-A, which forms a cycle: VENDOR-A -> VENDOR-A"
    )


def test_two_catalog_d_files_defining_the_same_new_type_are_an_error() -> None:
    repo = load(
        {
            "catalog.d/a.yaml": new_type("VENDOR-X"),
            "catalog.d/b.yaml": new_type("VENDOR-X", key="OtherKey"),
        }
    )
    assert only(repo) == (
        "catalog.d/b.yaml:1:7: type VENDOR-X is already defined in catalog.d/a.yaml; a type is "
        "defined by one file (more keys for it go in that file) (first declared at catalog.d/a.yaml:1:7)"
    )


def test_an_invalid_match_regex_is_an_error_at_its_line() -> None:
    text = VENDOR.replace('model: "Terra AC.*"', 'model: "Terra AC[("')
    message = only(load({"catalog.d/abb.yaml": text}))
    assert message.startswith("catalog.d/abb.yaml:3:29: ")
    assert "'Terra AC[(' is not a regular expression" in message


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("abb", id="lower-case"),
        pytest.param("A", id="one-character"),
        pytest.param("ABB TERRA", id="space"),
        pytest.param("9ABB", id="digit-first"),
        pytest.param("A" * 33, id="too-long"),
    ],
)
def test_a_type_name_outside_the_pattern_is_an_error_at_its_line(name: str) -> None:
    message = only(load({"catalog.d/x.yaml": new_type(name)}))
    assert message.startswith("catalog.d/x.yaml:1:7: type: ")
    assert "does not match ^[A-Z][A-Z0-9_-]{1,31}$" in message


def test_a_new_type_needs_a_protocol_or_extends() -> None:
    message = only(
        load({"catalog.d/x.yaml": new_type("VENDOR-X").replace("protocol: ocpp1.6\n", "")})
    )
    assert message.startswith("catalog.d/x.yaml:1:1: new type VENDOR-X needs 'protocol'")


def test_an_ocpp201_type_wants_component_and_variable_for_each_key() -> None:
    message = only(load({"catalog.d/x.yaml": new_type("VENDOR-X", "ocpp2.0.1")}))
    assert message.startswith(
        "catalog.d/x.yaml:4:10: VendorKey: an OCPP 2.0.1 entry needs 'component'"
    )


def test_an_ocpp201_key_must_be_its_component_and_variable() -> None:
    text = (
        "type: VENDOR-X\nextends: OCPP201\nparameters:\n  - key: VendorCtrlr.Level\n"
        "    component: VendorCtrlr\n    variable: Brightness\n    section: display\n"
        "    type: integer\n"
    )
    message = only(load({"catalog.d/x.yaml": text}))
    assert message.startswith("catalog.d/x.yaml:4:5: ")
    assert "'VendorCtrlr.Brightness', got 'VendorCtrlr.Level'" in message


def test_a_shipped_type_cannot_be_given_extends_in_catalog_d() -> None:
    message = only(load({"catalog.d/x.yaml": "type: LSX\nextends: OCPP16\n"}))
    assert message.startswith("catalog.d/x.yaml:2:1: LSX is a shipped type")
