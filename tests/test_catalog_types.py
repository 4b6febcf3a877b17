"""Every surface that shows or takes a gateway type follows the catalog: a ``catalog.d`` type works
with no code change.

One repository defines ``ACME-X1`` in ``catalog.d/vendor.yaml`` (an OCPP 1.6 charger extending
``OCPP16``) and declares gateways of it; each surface of the table must accept, find or list it:
``reconciler schema``, ``search``/``status``/``assign --query`` (the ``type:`` of Magic Search),
the daemon's report and its ``GET /api/v1/members`` answer, and the head-end simulator's fleet.
A second parametrisation runs the same table for every shipped type, so a type added to
``reconciler/catalog/`` is covered the day it lands.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.daemon import reports
from reconciler.headends.fleet import fleet_from_declarations, fleet_types, synthetic_fleet
from reconciler.loading.catalogs import shipped_catalog
from reconciler.loading.repos import load_repo
from reconciler.loading.sources import DirectorySource
from reconciler.members.query import QueryError, parse
from reconciler.members.rows import member_json, members
from reconciler.model.repos import Repo
from reconciler.testing import inventory_for, write

VENDOR_TYPE = "ACME-X1"

VENDOR_CATALOG = f"""
    # A vendor's OCPP 1.6 wallbox: every standard key, plus one of its own.
    type: {VENDOR_TYPE}
    protocol: ocpp1.6
    extends: OCPP16
    parameters:
      - key: AcmeLedMode
        section: display
        type: enum
        values: [off, dim, bright]
        default: bright
        description: The ring light around the socket.
"""


def blocks_for(gateway_type: str) -> dict[str, Any]:
    """A profile block of one key of ``gateway_type`` that every firmware understands."""
    catalog = shipped_catalog().types.get(gateway_type)
    if catalog is None:  # the vendor type: a key of its own
        return {"display": {"AcmeLedMode": "dim"}}
    spec = next(
        s
        for s in catalog.specs.values()
        if not s.firmware and s.type == "integer" and s.access == "read-write"
    )
    value = spec.default if spec.default is not None else spec.min
    return {spec.section: {spec.key: value}}


def make_repo(root: Path, gateway_type: str) -> Path:
    """A repository with two gateways of ``gateway_type``, the first in a profile (and the vendor catalog)."""
    ids = [f"{gateway_type}-GW-{n}" for n in (1, 2)]
    gateways = "\n".join(
        f"  - id: {i}\n    type: {gateway_type}\n    {member}\n    labels: {{site: s}}"
        for i, member in zip(ids, ("profile: site", "# no profile yet"), strict=True)
    )
    profile = {"name": "site", "parameters": {gateway_type: blocks_for(gateway_type)}}
    write(
        root,
        {
            "catalog.d/vendor.yaml": VENDOR_CATALOG,
            "profiles.d/site.yaml": json.dumps(profile),  # JSON is YAML
            "gateways.d/site.yaml": "gateways:\n" + gateways + "\n",
        },
    )
    inventory = inventory_for(
        dict.fromkeys(ids, gateway_type), catalog=load_repo(DirectorySource(root)).catalog
    )
    (root / "inventory.json").write_text(json.dumps(inventory), encoding="utf-8")
    return root


TYPES = [VENDOR_TYPE, *fleet_types(shipped_catalog())]


@pytest.fixture(params=TYPES)
def case(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, Path, Repo]:
    gateway_type: str = request.param
    root = make_repo(tmp_path / "config", gateway_type)
    repo = load_repo(DirectorySource(root))
    assert repo.valid, [d.message for d in repo.diagnostics]
    return gateway_type, root, repo


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


# --- the table ------------------------------------------------------------------------------


def test_the_catalog_knows_the_type(case: tuple[str, Path, Repo]) -> None:
    gateway_type, _, repo = case
    assert gateway_type in repo.catalog.types
    assert VENDOR_TYPE in repo.catalog.types
    assert {g.type for g in repo.gateways.values()} == {gateway_type}


def test_schema_has_the_type(case: tuple[str, Path, Repo]) -> None:
    gateway_type, root, _ = case
    code, out, _ = run("schema", "--kind", "gateways", "--repo", str(root))
    assert code == 0
    assert gateway_type in json.dumps(json.loads(out))
    code, out, _ = run("schema", "--kind", "profile", "--repo", str(root))
    assert code == 0
    assert gateway_type in json.loads(out)["properties"]["parameters"]["properties"]


def test_search_finds_the_type(case: tuple[str, Path, Repo]) -> None:
    gateway_type, root, _ = case
    inventory = str(root / "inventory.json")
    for spelled in (gateway_type, gateway_type.lower()):
        code, out, err = run(
            "search", f"type:{spelled}", str(root), "--inventory", inventory, "--format", "json"
        )
        assert code == 0, err
        document = json.loads(out)
        assert {m["type"] for m in document["members"]} == {gateway_type}
        assert document["matched"] == 2


def test_status_lists_the_type(case: tuple[str, Path, Repo]) -> None:
    gateway_type, root, _ = case
    inventory = str(root / "inventory.json")
    code, out, err = run("status", str(root), "--inventory", inventory, "--format", "json")
    assert code == 0, err
    document = json.loads(out)
    assert [m["type"] for m in document["members"]] == [gateway_type, gateway_type]
    assert all(m["firmware"] for m in document["members"])
    code, out, _ = run(
        "status", str(root), "--inventory", inventory, "--query", f"-type:{gateway_type}"
    )
    assert code == 0
    assert out.startswith("0 of 2 gateways match")


def test_assign_selects_by_the_type(case: tuple[str, Path, Repo]) -> None:
    gateway_type, root, _ = case
    code, out, err = run(
        "assign", "site", "--query", f"type:{gateway_type}", "--dry-run", "--repo", str(root)
    )
    assert code == 0, err
    assert "+    profile: site" in out
    assert f"{gateway_type}-GW-2" in out


def test_the_daemon_report_and_members_api_take_the_type(case: tuple[str, Path, Repo]) -> None:
    gateway_type, _, repo = case
    rows = members(repo, None, {})
    schema_type = json.loads(reports.SCHEMA_PATH.read_text(encoding="utf-8"))
    gateway_schema = schema_type["$defs"]["member"]["properties"]["type"]
    assert "enum" not in gateway_schema  # the report lists no types of its own
    assert {member_json(m)["type"] for m in rows} >= {gateway_type}
    for types in (None, repo.catalog.types):
        query = {"q": f"type:{gateway_type}"}
        status, body = reports.members_answer(rows, ["site"], query, types=types)
        assert status == 200, body
        assert body["matched"] == 2


def test_the_simulator_serves_the_type(case: tuple[str, Path, Repo]) -> None:
    gateway_type, _, repo = case
    declared = [(g.id, g.type) for g in repo.gateways.values()]
    fleet = fleet_from_declarations(repo.catalog, declared, seed=1)
    assert {g.type for g in fleet} == {gateway_type}
    for gateway in fleet:
        assert gateway.syntax.specs, "a simulated gateway knows the keys of its type"
        assert set(gateway.syntax.specs) <= set(repo.catalog.types[gateway_type].specs)


# --- beyond the table -----------------------------------------------------------------------


def test_a_typo_in_a_type_suggests_the_catalogs_type() -> None:
    types = [*shipped_catalog().types, VENDOR_TYPE]
    with pytest.raises(QueryError) as raised:
        parse("type:ACME-X2", types=types)
    assert f"did you mean '{VENDOR_TYPE}'" in raised.value.message
    with pytest.raises(QueryError) as raised:
        parse("type:OCPP2O1")
    assert "did you mean 'OCPP201'" in raised.value.message


def test_a_vendor_type_is_unknown_where_the_catalog_lacks_it() -> None:
    with pytest.raises(QueryError, match="unknown type"):
        parse(f"type:{VENDOR_TYPE}")


def test_the_synthetic_fleet_spans_every_shipped_type() -> None:
    catalog = shipped_catalog()
    fleet = synthetic_fleet(catalog, 10 * len(catalog.types), seed=3)
    assert {g.type for g in fleet} == set(catalog.types)
    assert [g.type for g in fleet[:3]] == ["LSX", "LSG", "ACCU"]
