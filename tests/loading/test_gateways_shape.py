"""A gateways file without its ``gateways:`` key: one clear error from ``validate`` and from the JSON Schema.

A bare list of entries (the ``gateways:`` line forgotten) and a misspelt key
(``gateway:``) used to get the schema's pair "missing required key" and
"unknown key" from ``validate``, and from the JSON Schema that ``reconciler
schema`` prints (editors, check-jsonschema) a profile's "'name' is a required
property".  Run as a user runs them: the command line, and check-jsonschema.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from ruamel.yaml import YAML

EXAMPLE = Path(__file__).resolve().parents[2]
ENTRY = "  - id: LSX-000001\n    type: LSX\n    profile: public-ac\n"
BARE_LIST = "# the Essen site\n- id: LSX-000001\n  type: LSX\n  profile: public-ac\n"
MISSPELT = "# the Essen site\ngateway:\n" + ENTRY
PROFILE_HERE = "name: public-ac\nparameters: {}\n"

MakeRepo = Callable[[Mapping[str, str]], Path]


def yaml_load(text: str) -> Any:
    return YAML(typ="safe", pure=True).load(text)


def validate(root: Path) -> tuple[int, list[str]]:
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "validate", str(root)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "Traceback" not in done.stderr
    return done.returncode, done.stdout.splitlines()


def repo_with(make_repo: MakeRepo, content: str) -> Path:
    root = make_repo({"gateways.d/essen.yaml": content})
    shutil.copytree(EXAMPLE / "profiles.d", root / "profiles.d")
    return root


def test_a_bare_list_of_entries_gets_one_error_saying_what_is_expected(
    make_repo: MakeRepo,
) -> None:
    code, lines = validate(repo_with(make_repo, BARE_LIST))
    assert code == 1
    assert lines[:-1] == [
        "gateways.d/essen.yaml:2:1: error: expected a mapping with a 'gateways:' list, "
        "got a list: put the entries under a first line 'gateways:'"
    ]
    assert lines[-1].startswith("1 error in 1 file (")
    assert "'name'" not in "\n".join(lines)


def test_a_misspelt_gateways_key_gets_one_error_at_its_line_with_a_suggestion(
    make_repo: MakeRepo,
) -> None:
    code, lines = validate(repo_with(make_repo, MISSPELT))
    assert code == 1
    assert lines[:-1] == [
        "gateways.d/essen.yaml:2:1: error: unknown key 'gateway': did you mean 'gateways'? "
        "(expected a mapping with a 'gateways:' list)"
    ]


def test_a_mapping_without_the_key_names_the_keys_it_has_and_spots_a_profile(
    make_repo: MakeRepo,
) -> None:
    _, lines = validate(repo_with(make_repo, PROFILE_HERE))
    assert lines[0] == (
        "gateways.d/essen.yaml:1:1: error: expected a mapping with a 'gateways:' list, "
        "found the keys 'name', 'parameters'; a profile goes in profiles.d"
    )


def schema(tmp_path: Path) -> Path:
    printed = subprocess.run(
        [sys.executable, "-m", "reconciler", "schema"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    path = tmp_path / "reconciler.schema.json"
    path.write_text(printed, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(BARE_LIST, "is not of type 'object'", id="bare-list"),
        pytest.param(MISSPELT, "'gateways' is a required property", id="misspelt"),
    ],
)
def test_the_json_schema_calls_a_broken_gateways_file_a_gateways_file(
    tmp_path: Path, content: str, expected: str
) -> None:
    """Both with the ``jsonschema`` library and with check-jsonschema, the editors' and hooks' tool."""
    path = schema(tmp_path)
    document = yaml_load(content)
    messages = [
        e.message
        for e in jsonschema.Draft202012Validator(json.loads(path.read_text())).iter_errors(document)
    ]
    assert messages and all("'name'" not in m for m in messages), messages
    assert any(expected in m for m in messages), messages

    tool = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent))
    if tool is None:
        if os.environ.get("CI"):
            pytest.fail("check-jsonschema is not installed, and CI must run this test")
        pytest.skip("check-jsonschema is not installed (pip install 'check-jsonschema>=0.29')")
    target = tmp_path / "gateways.d" / "essen.yaml"
    target.parent.mkdir()
    target.write_text(content, encoding="utf-8")
    done = subprocess.run(
        [tool, "--schemafile", str(path), str(target)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert expected in done.stdout and "'name' is a required property" not in done.stdout


def test_the_json_schema_still_tells_the_example_files_apart(tmp_path: Path) -> None:
    validator = jsonschema.Draft202012Validator(json.loads(schema(tmp_path).read_text()))
    files = [*(EXAMPLE / "profiles.d").glob("*.yaml"), *(EXAMPLE / "gateways.d").rglob("*.yaml")]
    for path in files:
        errors = [e.message for e in validator.iter_errors(yaml_load(path.read_text()))]
        assert errors == [], (path, errors)
    broken_profile = {"name": "public-ac", "parameters": {"LSX": {"nope": {}}}}
    assert list(validator.iter_errors(broken_profile)), "a broken profile is still checked"
