"""Loads the parameter catalog: the shipped files plus a repository's ``catalog.d``.

The shipped catalog is every ``reconciler/catalog/*.yaml`` (one gateway type
per file, the file named after its type), read once per process.  A
repository's ``catalog.d/*.yaml`` files, in the same format, either add keys
(new firmware) to a shipped type -- redefining a shipped key differently is an
error, repeating it identically is allowed -- or define a new type, with its
own ``protocol`` or ``extends: TYPE`` (it starts with every key of that type).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from reconciler.loading import yamlfiles
from reconciler.loading.problems import Problem, problems_from_validation
from reconciler.model.catalogs import (
    SHIPPED_FOLDER,
    Catalog,
    GatewayTypeName,
    ParameterSpec,
    ProtocolName,
    TypeCatalog,
)

CATALOG_FOLDER = "catalog.d"


class MatchRule(BaseModel):
    """How an OCPP head-end recognises a charger of this type: regexes over its BootNotification."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    vendor: str | None = None
    model: str | None = None

    @field_validator("vendor", "model")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"'{value}' is not a regular expression: {exc}") from None
        return value

    def as_dict(self) -> dict[str, str]:
        return {name: rx for name, rx in (("vendor", self.vendor), ("model", self.model)) if rx}


class CatalogFile(BaseModel):
    """One catalog file: one gateway type, its protocol, and its parameters."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    type: GatewayTypeName
    protocol: ProtocolName | None = None
    extends: GatewayTypeName | None = None
    match: MatchRule | None = None
    parameters: Annotated[list[ParameterSpec], Field(default_factory=list)]


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
    if parsed.protocol is not None:
        problems.extend(protocol_problems(parsed.protocol, parsed.parameters))
    return CatalogFileResult(parsed, problems)


def protocol_problems(protocol: str, parameters: list[ParameterSpec]) -> list[Problem]:
    """Entries that do not fit the type's protocol: OCPP 2.0.1 addresses component/variable, the others a plain key."""
    problems: list[Problem] = []
    for index, spec in enumerate(parameters):
        if protocol == "ocpp2.0.1":
            if spec.component is None:
                problems.append(
                    Problem(
                        ("parameters", index, "key"),
                        "protocol",
                        f"{spec.key}: an OCPP 2.0.1 entry needs 'component' and 'variable' "
                        "(key Component.Variable[.Instance])",
                    )
                )
        elif spec.component is not None or "." in spec.key:
            problems.append(
                Problem(
                    ("parameters", index, "key"),
                    "protocol",
                    f"{spec.key}: a {protocol} key is one name; component, variable, instance and "
                    "dotted keys are for ocpp2.0.1",
                )
            )
    return problems


def _read_shipped() -> list[tuple[str, CatalogFile]]:
    folder = resources.files("reconciler") / SHIPPED_FOLDER
    files: list[tuple[str, CatalogFile]] = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".yaml"):
            continue
        root = yamlfiles.compose(entry.read_text(encoding="utf-8"))
        data = yamlfiles.construct(root) if root is not None else None
        parsed = CatalogFile.model_validate(data)
        if parsed.type != entry.name.removesuffix(".yaml"):
            raise ValueError(f"catalog/{entry.name} declares type {parsed.type}")
        files.append((f"catalog/{entry.name}", parsed))
    return files


@lru_cache(maxsize=1)
def shipped_types() -> dict[str, TypeCatalog]:
    """The shipped types, by name; a broken shipped file is a bug, so it raises."""
    defined, problems = _define_types(_read_shipped(), {}, shipped=True)
    if problems:
        path, problem = problems[0]
        raise ValueError(f"{path}: {problem.message}")
    return defined


def shipped_specs() -> dict[str, tuple[ParameterSpec, ...]]:
    """The shipped catalog's entries, by gateway type."""
    return {t: tuple(c.specs.values()) for t, c in shipped_types().items()}


def shipped_type_names() -> tuple[str, ...]:
    return tuple(shipped_types())


@lru_cache(maxsize=1)
def shipped_catalog() -> Catalog:
    return Catalog(shipped_types())


def suggest(word: str, candidates: Any) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


@dataclass
class _NewType:
    path: str
    file: CatalogFile
    specs: dict[str, ParameterSpec] = field(default_factory=dict)
    protocol: str | None = None


def _define_types(
    files: list[tuple[str, CatalogFile]], known: dict[str, TypeCatalog], *, shipped: bool
) -> tuple[dict[str, TypeCatalog], list[tuple[str, Problem]]]:
    """New types from ``(path, file)``: duplicates, ``extends`` (known or among these), cycles, protocols."""
    problems: list[tuple[str, Problem]] = []
    new: dict[str, _NewType] = {}
    for path, catalog_file in files:
        first = new.get(catalog_file.type)
        if first is not None:
            problems.append(
                (
                    path,
                    Problem(
                        ("type",),
                        "duplicate-type",
                        f"type {catalog_file.type} is already defined in {first.path}; "
                        "a type is defined by one file (more keys for it go in that file)",
                        related=(first.path, ("type",)),
                    ),
                )
            )
            continue
        if catalog_file.protocol is None and catalog_file.extends is None:
            problems.append(
                (
                    path,
                    Problem(
                        ("type",),
                        "missing-protocol",
                        f"new type {catalog_file.type} needs 'protocol' "
                        "(lg2wan, ocpp1.6, ocpp2.0.1) or 'extends: TYPE'",
                        at_key=True,
                    ),
                )
            )
            continue
        new[catalog_file.type] = _NewType(path, catalog_file)

    defined: dict[str, TypeCatalog] = {}
    broken: set[str] = set()

    def resolve(name: str, chain: tuple[str, ...]) -> TypeCatalog | None:
        if name in defined:
            return defined[name]
        if name in known:
            return known[name]
        if name in broken:
            return None
        item = new[name]
        base_name = item.file.extends
        base: TypeCatalog | None = None
        if base_name is not None:
            if base_name in chain or base_name == name:
                start = chain.index(base_name) if base_name in chain else len(chain)
                cycle = " -> ".join((*chain[start:], name, base_name))
                problems.append(
                    (
                        item.path,
                        Problem(
                            ("extends",),
                            "extends-cycle",
                            f"type {name} extends {base_name}, which forms a cycle: {cycle}",
                        ),
                    )
                )
                broken.add(name)
                return None
            if base_name not in known and base_name not in new:
                everything = [*known, *new]
                problems.append(
                    (
                        item.path,
                        Problem(
                            ("extends",),
                            "unknown-type",
                            f"type {name} extends unknown type {base_name}"
                            f"{suggest(base_name, everything)}; types are: {', '.join(sorted(everything))}",
                        ),
                    )
                )
                broken.add(name)
                return None
            base = resolve(base_name, (*chain, name))
            if base is None:
                broken.add(name)
                return None
        protocol = item.file.protocol or (base.protocol if base is not None else None)
        if (
            base is not None
            and item.file.protocol is not None
            and item.file.protocol != base.protocol
        ):
            problems.append(
                (
                    item.path,
                    Problem(
                        ("protocol",),
                        "protocol",
                        f"type {name} says protocol {item.file.protocol}, but {base.gateway_type} "
                        f"it extends is {base.protocol}",
                    ),
                )
            )
        assert protocol is not None
        if item.file.protocol is None:  # inherited: the entries were not checked against it yet
            problems.extend(
                (item.path, p) for p in protocol_problems(protocol, item.file.parameters)
            )
        specs = dict(base.specs) if base is not None else {}
        specs.update((s.key, s) for s in item.file.parameters)
        match = item.file.match.as_dict() if item.file.match is not None else {}
        defined[name] = TypeCatalog(
            name,
            specs,
            protocol,
            base_name,
            match,
            None if shipped else item.path,
        )
        return defined[name]

    for name in new:
        resolve(name, ())
    return defined, problems


def merge(additions: list[tuple[str, CatalogFile]]) -> tuple[Catalog, list[tuple[str, Problem]]]:
    """The shipped catalog plus a repository's ``(path, file)`` additions, and their problems."""
    if not additions:
        return shipped_catalog(), []
    shipped = shipped_types()
    merged = {t: dict(c.specs) for t, c in shipped.items()}
    origin: dict[tuple[str, str], str] = {}
    problems: list[tuple[str, Problem]] = []
    new_types: list[tuple[str, CatalogFile]] = []
    for path, catalog_file in additions:
        gateway_type = catalog_file.type
        if gateway_type not in shipped:
            new_types.append((path, catalog_file))
            continue
        base = shipped[gateway_type]
        for name in ("extends", "match"):
            if getattr(catalog_file, name) is not None:
                problems.append(
                    (
                        path,
                        Problem(
                            (name,),
                            "shipped-type",
                            f"{gateway_type} is a shipped type: a catalog.d file may add keys to it, "
                            f"not '{name}' (define a new type with 'extends: {gateway_type}' instead)",
                            at_key=True,
                        ),
                    )
                )
        if catalog_file.protocol is not None and catalog_file.protocol != base.protocol:
            problems.append(
                (
                    path,
                    Problem(
                        ("protocol",),
                        "protocol",
                        f"{gateway_type} is a shipped {base.protocol} type, not {catalog_file.protocol}",
                    ),
                )
            )
        if catalog_file.protocol is None:
            problems.extend(
                (path, p) for p in protocol_problems(base.protocol, catalog_file.parameters)
            )
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
    types: dict[str, TypeCatalog] = {
        t: TypeCatalog(t, merged[t], c.protocol, c.extends, c.match, c.source)
        for t, c in shipped.items()
    }
    defined, type_problems = _define_types(new_types, types, shipped=False)
    problems.extend(type_problems)
    types.update(defined)
    return Catalog(types), problems
