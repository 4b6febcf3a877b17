"""Loads the parameter catalog: the shipped files plus a repository's ``catalog.d``.

The shipped catalog (``reconciler/catalog/TYPE.yaml``) is read once per
process.  A repository may add keys (new firmware) in ``catalog.d/*.yaml`` in
the same format; redefining a shipped key differently is an error, repeating
it identically is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from reconciler.loading import yamlfiles
from reconciler.loading.problems import Problem, problems_from_validation
from reconciler.model.catalogs import Catalog, GatewayType, GatewayTypeName, ParameterSpec

CATALOG_FOLDER = "catalog.d"


class CatalogFile(BaseModel):
    """One catalog file: the parameters of one gateway type."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    type: GatewayTypeName
    parameters: list[ParameterSpec]


@dataclass(frozen=True)
class CatalogFileResult:
    parsed: CatalogFile | None
    problems: list[Problem]


def parse_catalog_file(data: Any) -> CatalogFileResult:
    """Validate a loaded catalog document; problems carry their YAML paths."""
    try:
        parsed = CatalogFile.model_validate(data)
    except ValidationError as exc:
        return CatalogFileResult(None, problems_from_validation(exc, CatalogFile))
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for index, spec in enumerate(parsed.parameters):
        if spec.key in seen:
            problems.append(
                Problem(
                    ("parameters", index, "key"),
                    "duplicate-key",
                    f"parameter {spec.key} is defined twice in this file (also entry {seen[spec.key] + 1})",
                )
            )
        seen.setdefault(spec.key, index)
    return CatalogFileResult(parsed, problems)


@lru_cache(maxsize=1)
def shipped_specs() -> dict[str, tuple[ParameterSpec, ...]]:
    """The catalog that ships with the package, by gateway type; a broken one is a bug, so it raises."""
    specs: dict[str, tuple[ParameterSpec, ...]] = {}
    folder = resources.files("reconciler") / "catalog"
    for gateway_type in GatewayType:
        text = (folder / f"{gateway_type.value}.yaml").read_text(encoding="utf-8")
        root = yamlfiles.compose(text)
        data = yamlfiles.construct(root) if root is not None else None
        parsed = CatalogFile.model_validate(data)
        if parsed.type != gateway_type.value:
            raise ValueError(f"catalog/{gateway_type.value}.yaml declares type {parsed.type}")
        specs[gateway_type.value] = tuple(parsed.parameters)
    return specs


@lru_cache(maxsize=1)
def shipped_catalog() -> Catalog:
    return Catalog.from_specs(shipped_specs())


def merge(additions: list[tuple[str, CatalogFile]]) -> tuple[Catalog, list[tuple[str, Problem]]]:
    """The shipped catalog plus a repository's ``(path, file)`` additions, and their problems."""
    if not additions:
        return shipped_catalog(), []
    merged = {t: {s.key: s for s in specs} for t, specs in shipped_specs().items()}
    origin: dict[tuple[str, str], str] = {}
    problems: list[tuple[str, Problem]] = []
    for path, catalog_file in additions:
        gateway_type = catalog_file.type
        table = merged[gateway_type]
        for index, spec in enumerate(catalog_file.parameters):
            existing = table.get(spec.key)
            if existing is None:
                table[spec.key] = spec
                origin[(gateway_type, spec.key)] = path
            elif existing != spec:
                where = origin.get((gateway_type, spec.key), "the shipped catalog")
                problems.append(
                    (
                        path,
                        Problem(
                            ("parameters", index, "key"),
                            "catalog-redefined",
                            f"{spec.key} of {gateway_type} is already defined differently in {where}; "
                            "a catalog.d entry may add keys, not change them",
                        ),
                    )
                )
    return Catalog.from_specs({t: tuple(table.values()) for t, table in merged.items()}), problems
