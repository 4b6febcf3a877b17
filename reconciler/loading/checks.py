"""One config file checked on its own: YAML, schema and catalog, into a :class:`FileResult`.

Used by :mod:`reconciler.loading.repos`, which runs these checks for every file
(or takes a cached result for an unchanged blob) and then the cross-file rules.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Literal

from pydantic import TypeAdapter, ValidationError

from reconciler.loading import catalogs, yamlfiles
from reconciler.loading.problems import Problem, problems_from_validation
from reconciler.loading.sources import Source, SourceError
from reconciler.model.catalogs import Catalog, describe
from reconciler.model.diagnostics import Diagnostic
from reconciler.model.files import GatewayEntry, GatewaysFile, ProfileFile
from reconciler.model.parameters import check_block, unknown_type

FileKind = Literal["profile", "gateways", "catalog"]

_ENTRY = TypeAdapter(GatewayEntry)


@dataclass
class FileResult:
    """What one file contributed: its parsed content and its (unlocated) problems."""

    path: str
    kind: FileKind
    profile: ProfileFile | None = None
    entries: list[tuple[int, GatewayEntry]] = field(default_factory=list)
    """While checking: ``(index in the file, entry)`` of the valid entries; then kept as
    :attr:`entry_tuple` and :attr:`indexes` (:meth:`compact`; :meth:`indexed` gives them back)."""
    catalog: catalogs.CatalogFile | None = None
    broken_ids: list[tuple[int, str]] = field(default_factory=list)
    """Ids of entries that failed validation, still checked for duplicates."""
    problems: list[Problem] = field(default_factory=list)
    located: list[Diagnostic] = field(default_factory=list)
    """Problems whose position is already known (YAML syntax errors, unreadable files)."""
    entry_tuple: tuple[GatewayEntry, ...] = ()
    """The valid entries; one tuple per result, so unchanged files compare by identity."""
    indexes: tuple[int, ...] | None = None
    """Their indexes in the file; ``None``: 0, 1, 2... (no entry was broken)."""

    def compact(self) -> None:
        """Keep the entries as one tuple: a pair and an index each cost ~100 bytes a gateway
        for as long as the daemon holds the file's result."""
        self.entry_tuple = tuple(entry for _, entry in self.entries)
        indexes = tuple(index for index, _ in self.entries)
        self.indexes = None if indexes == tuple(range(len(indexes))) else indexes
        self.entries = []

    def indexed(self) -> list[tuple[int, GatewayEntry]]:
        """``(index in the file, entry)`` of the valid entries."""
        indexes = self.indexes if self.indexes is not None else range(len(self.entry_tuple))
        return list(zip(indexes, self.entry_tuple, strict=True))


FileCache = dict[tuple[str, str, int], FileResult]
"""(path, blob id, catalog id) -> result; valid as long as the blob and the catalog are unchanged."""


def read_document(source: Source, path: str) -> tuple[Any, Diagnostic | None]:
    """Bytes -> plain values; a file that is not acceptable YAML gives a located diagnostic."""
    try:
        text = yamlfiles.decode(source.read(path))
        root = yamlfiles.compose(text)
        return (yamlfiles.construct(root) if root is not None else None), None
    except SourceError as exc:
        return None, Diagnostic(path, 1, 1, "source", str(exc))
    except yamlfiles.YamlError as exc:
        return None, Diagnostic(path, exc.line, exc.column, exc.code, exc.message)


def _expect_mapping(data: Any, what: str) -> Problem | None:
    if data is None:
        return Problem((), "empty", f"empty file: expected {what}")
    if not isinstance(data, dict):
        return Problem((), "type", f"expected {what}, got {describe(data)}")
    return None


GATEWAYS_SHAPE = "a mapping with a 'gateways:' list"
"""What a ``gateways.d`` file is, as its shape errors say."""


def _gateways_shape(data: Any) -> Problem | None:
    """One clear problem for a gateways file that is no mapping with a ``gateways`` key.

    A bare list of entries (the ``gateways:`` line forgotten) and a misspelt
    key (``gateway:``, with a suggestion) each get one message, not the
    schema's "missing key" and "unknown key" pair.
    """
    if isinstance(data, list):
        return Problem(
            (),
            "type",
            f"expected {GATEWAYS_SHAPE}, got a list: put the entries under a first line 'gateways:'",
        )
    shape = _expect_mapping(data, GATEWAYS_SHAPE)
    if shape is not None or "gateways" in data:
        return shape
    keys = [str(k) for k in data]
    close = [k for k in keys if difflib.get_close_matches(k.lower(), ["gateways"], cutoff=0.6)]
    if close:
        return Problem(
            (close[0],),
            "missing-key",
            f"unknown key '{close[0]}': did you mean 'gateways'? (expected {GATEWAYS_SHAPE})",
            at_key=True,
        )
    found = ", ".join(f"'{k}'" for k in keys[:5]) or "none"
    hint = "; a profile goes in profiles.d" if {"name", "parameters"} & set(keys) else ""
    return Problem((), "missing-key", f"expected {GATEWAYS_SHAPE}, found the keys {found}{hint}")


def _check_blocks(
    catalog: Catalog, gateway_type: Any, block: Any, prefix: tuple[str | int, ...], label: str = ""
) -> list[Problem]:
    """Catalog checks of a raw block, run even when the rest of its file or entry is broken."""
    if (
        not isinstance(gateway_type, str)
        or gateway_type not in catalog.types
        or not isinstance(block, dict)
    ):
        return []  # the schema check reports these
    return [
        Problem((*prefix, *f.path), f.code, f"{label}{f.message}", f.at_key)
        for f in check_block(catalog, gateway_type, block)
    ]


def check_profile(path: str, data: Any, catalog: Catalog) -> FileResult:
    """One ``profiles.d`` file: schema, name equals stem, parameter blocks against the catalog."""
    result = FileResult(path, "profile")
    shape = _expect_mapping(data, "a profile mapping with 'name' and 'parameters'")
    if shape is not None:
        result.problems.append(shape)
        return result
    try:
        result.profile = ProfileFile.model_validate(data)
    except ValidationError as exc:
        result.problems.extend(problems_from_validation(exc, ProfileFile))
    stem = PurePosixPath(path).stem
    name = data.get("name")
    if isinstance(name, str) and name != stem:
        result.problems.append(
            Problem(
                ("name",),
                "name-mismatch",
                f"profile name '{name}' must equal the file name '{stem}'",
            )
        )
        result.profile = None
    parameters = data.get("parameters")
    if isinstance(parameters, dict):
        for gateway_type, block in parameters.items():
            if gateway_type not in catalog.types:
                # One message, with "did you mean", instead of the schema's pattern message.
                result.problems = [
                    p for p in result.problems if p.path[:2] != ("parameters", gateway_type)
                ]
                result.problems.append(
                    Problem(
                        ("parameters", gateway_type),
                        "unknown-type",
                        unknown_type(catalog, gateway_type),
                        at_key=True,
                    )
                )
                continue
            result.problems.extend(
                _check_blocks(catalog, gateway_type, block, ("parameters", gateway_type))
            )
    if result.problems:
        result.profile = None
    return result


def check_gateways(path: str, data: Any, catalog: Catalog) -> FileResult:
    """One ``gateways.d`` file: schema of every entry, subsettings against the catalog."""
    result = FileResult(path, "gateways")
    shape = _gateways_shape(data)
    if shape is not None:
        result.problems.append(shape)
        return result
    try:
        result.entries = list(enumerate(GatewaysFile.model_validate(data).gateways))
    except ValidationError as exc:
        # Validate entry by entry so that one broken entry hides neither the
        # others' problems nor their ids from the cross-file checks.
        items = data.get("gateways")
        if not isinstance(items, list):
            result.problems.extend(problems_from_validation(exc, GatewaysFile))
            return result
        result.problems.extend(
            Problem(
                (k,), "unknown-key", f"unknown key '{k}'; expected one of: gateways", at_key=True
            )
            for k in data
            if k != "gateways"
        )
        for index, item in enumerate(items):
            try:
                result.entries.append((index, _ENTRY.validate_python(item)))
            except ValidationError as entry_exc:
                result.problems.extend(
                    problems_from_validation(entry_exc, GatewayEntry, ("gateways", index))
                )
                if isinstance(item, dict):
                    if isinstance(item.get("id"), str):
                        result.broken_ids.append((index, item["id"]))
                    label = f"gateway {item.get('id')}: "
                    kind = item.get("type")
                    if isinstance(kind, str) and kind not in catalog.types:
                        result.problems.append(
                            Problem(
                                ("gateways", index, "type"),
                                "unknown-type",
                                f"{label}{unknown_type(catalog, kind)}",
                            )
                        )
                    result.problems.extend(
                        _check_blocks(
                            catalog,
                            item.get("type"),
                            item.get("subsettings"),
                            ("gateways", index, "subsettings"),
                            label,
                        )
                    )
    types = catalog.types
    unknown: list[int] = []
    for index, entry in result.entries:
        if entry.type not in types:  # a dict lookup per entry: the hot path of validation
            unknown.append(index)
            result.problems.append(
                Problem(
                    ("gateways", index, "type"),
                    "unknown-type",
                    f"gateway {entry.id}: {unknown_type(catalog, entry.type)}",
                )
            )
        elif entry.subsettings:
            result.problems.extend(
                _check_blocks(
                    catalog,
                    entry.type,
                    entry.subsettings,
                    ("gateways", index, "subsettings"),
                    f"gateway {entry.id}: ",
                )
            )
    if unknown:
        # Entries of an unknown type are not gateways the planner can handle; their ids
        # still take part in the duplicate check.
        dropped = set(unknown)
        result.broken_ids.extend((i, e.id) for i, e in result.entries if i in dropped)
        result.entries = [(i, e) for i, e in result.entries if i not in dropped]
    _share_mappings(result.entries)
    result.compact()
    return result


SHARED_MAX = 50_000
"""Distinct label sets and subsettings kept for sharing (:func:`_share_mappings`)."""

_shared: dict[object, dict[str, Any]] = {}


def _frozen(value: Any) -> object:
    """A hashable image of a plain mapping (insertion order kept) or value; raises TypeError."""
    if isinstance(value, dict):
        return (dict, tuple((k, _frozen(v)) for k, v in value.items()))
    if isinstance(value, list):
        return (list, tuple(_frozen(v) for v in value))
    hash(value)
    return (type(value), value)


def _share_mappings(entries: list[tuple[int, GatewayEntry]]) -> None:
    """Entries with equal labels (or subsettings) share one (read-only) mapping.

    Label sets and subsettings repeat across a fleet (sites, levels, a few current
    limits): at 100,000 gateways one dict each cost ~25 MB that the daemon holds as long
    as the commit.  Equal means equal in content and order, so nothing shows differently.
    """
    if len(_shared) > SHARED_MAX:
        _shared.clear()
    for _, entry in entries:
        for name in ("labels", "subsettings"):
            value = getattr(entry, name)
            try:
                key = _frozen(value)
            except TypeError:
                continue
            found = _shared.setdefault(key, value)
            if found is not value:
                object.__setattr__(entry, name, found)


def check_catalog(path: str, data: Any) -> FileResult:
    result = FileResult(path, "catalog")
    shape = _expect_mapping(data, "a mapping with 'type' and 'parameters'")
    if shape is not None:
        result.problems.append(shape)
        return result
    parsed = catalogs.parse_catalog_file(data)
    result.catalog = parsed.parsed
    result.problems.extend(parsed.problems)
    return result
