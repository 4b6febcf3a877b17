"""``reconciler schema``: valid JSON Schema that accepts the example files and catches mistakes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner
from ruamel.yaml import YAML

from reconciler.cli import cli

EXAMPLE = Path(__file__).resolve().parents[2]


def schema(kind: str = "all") -> dict[str, Any]:
    result = CliRunner().invoke(cli, ["schema", "--kind", kind])
    assert result.exit_code == 0
    loaded: dict[str, Any] = json.loads(result.output)
    return loaded


def example_files() -> list[Path]:
    return sorted([*EXAMPLE.glob("profiles.d/*.yaml"), *EXAMPLE.glob("gateways.d/**/*.yaml")])


@pytest.mark.parametrize("kind", ["all", "profile", "gateways"])
def test_the_schema_is_valid_json_schema(kind: str) -> None:
    jsonschema.Draft202012Validator.check_schema(schema(kind))


@pytest.mark.parametrize("path", example_files(), ids=lambda p: p.name)
def test_every_example_file_conforms(path: Path) -> None:
    document = YAML(typ="safe").load(path)
    jsonschema.Draft202012Validator(schema()).validate(document)


def test_the_schema_lists_catalog_keys_per_section() -> None:
    block = schema("profile")["properties"]["parameters"]["properties"]["LSX"]["properties"]
    heartbeat = block["backend"]["properties"]["HeartbeatInterval"]
    assert (heartbeat["minimum"], heartbeat["maximum"], heartbeat["default"]) == (30, 86400, 900)
    assert "LightIntensity" in block["display"]["properties"]


@pytest.mark.parametrize(
    "document",
    [
        pytest.param(
            {"name": "p", "parameters": {"LSX": {"backend": {"HeartbeatInterval": "900"}}}},
            id="string",
        ),
        pytest.param(
            {"name": "p", "parameters": {"LSX": {"charging": {"HeartbeatInterval": 900}}}},
            id="section",
        ),
        pytest.param({"name": "p", "bogus": 1}, id="unknown-key"),
        pytest.param(
            {"gateways": [{"id": "LSG-1", "type": "LSG", "subsettings": {"battery": {}}}]},
            id="subsetting",
        ),
    ],
)
def test_the_schema_catches_common_mistakes(document: dict[str, Any]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema()).validate(document)
