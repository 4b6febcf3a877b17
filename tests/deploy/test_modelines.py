"""Editor support: every schema association README.md documents finds the schema and validates the files.

Checked the way yaml-language-server resolves them and the way a user checks a
file: a modeline's ``$schema`` is joined with the URL of the file that carries
it (relative to the file, not the repository); the ``yaml.schemas`` setting's
path is relative to the workspace root and its globs are matched as
yaml-language-server matches them (``*`` -> ``.*``, anchored at the end of the
file's URI) and as a glob; then ``check-jsonschema --schemafile RESOLVED FILE``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urljoin, urlsplit
from urllib.request import url2pathname

import pytest

from tests.deploy.conftest import ROOT
from tests.deploy.test_ci_templates import installed

SCHEMA = ".reconciler.schema.json"
MODELINE = re.compile(r"^# yaml-language-server: \$schema=(\S+)$", re.MULTILINE)
ROW = re.compile(
    r"^\| `([^`]+\.yaml)` \| `(# yaml-language-server: \$schema=\S+)` \|$", re.MULTILINE
)
BROKEN = "name: broken\nparameters:\n  LSX:\n    charging:\n      MaxChargingCurrent: 999\n"


def editor_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return text.split("### Editor support\n", 1)[1].split("\n### ", 1)[0]


def documented_modelines() -> list[tuple[str, str]]:
    """``(file pattern, modeline)`` rows of the README's table, e.g. ``("profiles.d/NAME.yaml", "# yaml-...")``."""
    return [(m.group(1), m.group(2)) for m in ROW.finditer(editor_section())]


def resolve(file: Path, reference: str) -> Path:
    """``$schema=reference`` as yaml-language-server resolves it for ``file``: relative to the file."""
    url = urljoin(file.resolve().as_uri(), reference)
    return Path(url2pathname(urlsplit(url).path))


def check_jsonschema(schema: Path, files: Iterable[Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [installed("check-jsonschema"), "--schemafile", str(schema), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """The example config repository with ``reconciler schema > .reconciler.schema.json`` at its top."""
    root = tmp_path / "config"
    root.mkdir()
    shutil.copytree(ROOT / "profiles.d", root / "profiles.d")
    shutil.copytree(ROOT / "gateways.d", root / "gateways.d")
    schema = subprocess.run(
        [sys.executable, "-m", "reconciler", "schema"],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    (root / SCHEMA).write_text(schema, encoding="utf-8")
    return root


def with_modeline(file: Path, modeline: str) -> None:
    file.write_text(modeline + "\n" + file.read_text(encoding="utf-8"), encoding="utf-8")


def test_the_readme_documents_a_modeline_for_each_place_a_file_can_be() -> None:
    rows = dict(documented_modelines())
    assert set(rows) == {
        "profiles.d/NAME.yaml",
        "gateways.d/NAME.yaml",
        "gateways.d/SITE/NAME.yaml",
    }
    assert f"$schema={SCHEMA}" not in editor_section()  # resolved next to the file: not found


@pytest.mark.parametrize(("pattern", "modeline"), documented_modelines())
def test_each_documented_modeline_finds_the_schema_and_the_files_validate(
    repo: Path, pattern: str, modeline: str
) -> None:
    files = sorted(repo.glob(pattern.replace("NAME", "*").replace("SITE", "*")))
    assert files, f"the example has no file like {pattern}"
    (reference,) = MODELINE.findall(modeline)
    for file in files:
        with_modeline(file, modeline)
        assert resolve(file, reference) == repo / SCHEMA
    done = check_jsonschema(resolve(files[0], reference), files)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_modeline_climbs_one_folder_per_level_and_its_schema_catches_mistakes(
    repo: Path,
) -> None:
    deep = repo / "gateways.d" / "region" / "site" / "gateways.yaml"
    deep.parent.mkdir(parents=True)
    shutil.copy(next((repo / "gateways.d").glob("*.yaml")), deep)
    with_modeline(deep, f"# yaml-language-server: $schema=../../../{SCHEMA}")
    assert resolve(deep, f"../../../{SCHEMA}") == repo / SCHEMA
    assert check_jsonschema(repo / SCHEMA, [deep]).returncode == 0

    broken = repo / "profiles.d" / "broken.yaml"
    broken.write_text(f"# yaml-language-server: $schema=../{SCHEMA}\n{BROKEN}", encoding="utf-8")
    done = check_jsonschema(resolve(broken, f"../{SCHEMA}"), [broken])
    assert done.returncode == 1 and "MaxChargingCurrent" in done.stdout + done.stderr
    assert not resolve(broken, SCHEMA).exists()  # what the README said before: next to the file


def test_the_yaml_schemas_setting_covers_every_file_of_the_example(repo: Path) -> None:
    (block,) = re.findall(r"```json\n(.*?)```", editor_section(), re.DOTALL)
    ((schema, globs),) = json.loads(block)["yaml.schemas"].items()
    assert (repo / schema).resolve() == repo / SCHEMA  # relative to the workspace root
    (repo / "gateways.d" / "depots" / "south").mkdir()
    shutil.copy(
        repo / "gateways.d" / "koeln.yaml", repo / "gateways.d" / "depots" / "south" / "x.yaml"
    )
    files = sorted([*repo.glob("profiles.d/**/*.yaml"), *repo.glob("gateways.d/**/*.yaml")])
    as_server = [
        re.compile(re.sub(r"[-\\{}+?|^$.,\[\]()#\s]", r"\\\g<0>", g).replace("*", ".*") + "$")
        for g in globs
    ]
    as_glob = {f for g in globs for f in repo.glob(g)}
    for file in files:
        assert any(p.search(file.as_uri()) for p in as_server), file
        assert file in as_glob, file
    done = check_jsonschema(repo / schema, files)
    assert done.returncode == 0, done.stdout + done.stderr


def test_what_the_product_writes_carries_no_modeline_that_misses_the_schema(repo: Path) -> None:
    """``reconciler profile new`` and the shipped example: any modeline they carry must resolve."""
    subprocess.run(
        [sys.executable, "-m", "reconciler", "profile", "new", "fresh", "--repo", str(repo)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    written = repo / "profiles.d" / "fresh.yaml"
    shipped = [*(ROOT / "reconciler" / "examples").rglob("*.yaml"), written]
    for file in shipped:
        for reference in MODELINE.findall(file.read_text(encoding="utf-8")):
            assert resolve(file, reference).name == SCHEMA
            assert resolve(file, reference).parent in {repo, ROOT / "reconciler" / "examples"}
    modeline = dict(documented_modelines())["profiles.d/NAME.yaml"]
    if not MODELINE.search(written.read_text(encoding="utf-8")):
        with_modeline(written, modeline)
    done = check_jsonschema(resolve(written, MODELINE.findall(modeline)[0]), [written])
    assert done.returncode == 0, done.stdout + done.stderr
