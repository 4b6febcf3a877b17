"""Loads a whole config repository into a :class:`~reconciler.model.repos.Repo`.

Called by ``reconciler validate`` and ``plan`` (directory or git commit) and by
the daemon for every new commit.  Each file is checked on its own (YAML,
schema, catalog), then the cross-file rules run (unique gateway ids, profile
references, profile name equals file stem).  All problems are collected, never
just the first; a broken file or entry does not hide the others.

Speed: files are parsed by :mod:`reconciler.loading.yamlfiles` without
positions; only files that turn out to have problems are composed again to
locate them (see :func:`_locate_all`).  A :class:`FileCache` keyed by blob id
lets the daemon re-read only the files a commit changed.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from reconciler.loading import bulk, catalogs, yamlfiles
from reconciler.loading.checks import (
    FileCache,
    FileKind,
    FileResult,
    check_catalog,
    check_gateways,
    check_profile,
    read_document,
)
from reconciler.loading.problems import Problem
from reconciler.loading.sources import Source, SourceError
from reconciler.model.catalogs import Catalog
from reconciler.model.diagnostics import Diagnostic
from reconciler.model.files import GatewayEntry, ProfileFile
from reconciler.model.repos import Repo

PROFILES_FOLDER = "profiles.d"
GATEWAYS_FOLDER = "gateways.d"


def load_repo(source: Source, *, cache: FileCache | None = None) -> Repo:
    """Load and validate every file of the repository behind ``source``."""
    with bulk.paused_gc():
        return _load_repo(source, cache, None)


class RepoLoader:
    """Loads successive versions of one repository (the daemon's case), reusing what did not change.

    Files are re-parsed only when their git blob changed (:data:`FileCache`);
    when no gateways file changed, the assembled gateway tables (duplicate
    check, profile references, members per profile) are reused as they are.
    Repos it returns share those tables: treat them as read-only.
    """

    def __init__(self) -> None:
        self.cache: FileCache = {}
        self.assembly: _GatewayAssembly | None = None
        self.catalog_state: tuple[list[FileResult], Catalog, list[tuple[str, Problem]]] | None = (
            None
        )

    def load(self, source: Source) -> Repo:
        with bulk.paused_gc():
            used: FileCache = {}
            repo = _load_repo(source, _Recording(self.cache, used), self)
            self.cache = used  # files of older commits are dropped
            return repo


class _Recording(dict[tuple[str, str, int], FileResult]):
    """A file cache view that reads from the previous commit's cache and records what this load used."""

    def __init__(self, previous: FileCache, used: FileCache) -> None:
        super().__init__()
        self.previous, self.used = previous, used

    def __contains__(self, key: object) -> bool:
        return key in self.previous or key in self.used

    def __getitem__(self, key: tuple[str, str, int]) -> FileResult:
        result = self.used.get(key) or self.previous[key]
        self.used[key] = result
        return result

    def __setitem__(self, key: tuple[str, str, int], value: FileResult) -> None:
        self.used[key] = value


@dataclass
class _GatewayAssembly:
    """The gateway tables built from a list of gateway file results, and what they were built from."""

    results: list[FileResult]
    key: tuple[frozenset[str], frozenset[str]]
    gateways: dict[str, GatewayEntry] = field(default_factory=dict)
    gateway_files: dict[str, str] = field(default_factory=dict)
    members: dict[str, list[str]] = field(default_factory=dict)
    entries_by_file: dict[str, tuple[GatewayEntry, ...]] = field(default_factory=dict)
    cross: dict[str, list[Problem]] = field(default_factory=dict)


def _same_results(a: list[FileResult], b: list[FileResult]) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))


def _assemble_gateways(
    results: list[FileResult],
    key: tuple[frozenset[str], frozenset[str]],
    profiles: dict[str, ProfileFile],
) -> _GatewayAssembly:
    """Cross-file rules over all gateway entries: unique ids, existing profiles; and the lookup tables."""
    declared_profiles = key[0]
    assembly = _GatewayAssembly(results, key)
    cross = assembly.cross
    first_seen: dict[str, tuple[str, int]] = {}
    for result in results:
        broken = dict(result.broken_ids)
        valid = dict(result.indexed())
        assembly.entries_by_file[result.path] = result.entry_tuple
        for index in sorted([*broken, *valid]):
            entry = valid.get(index)
            gateway_id = entry.id if entry is not None else broken[index]
            previous = first_seen.get(gateway_id)
            if previous is not None:
                cross.setdefault(result.path, []).append(
                    Problem(
                        ("gateways", index, "id"),
                        "duplicate-gateway",
                        f"gateway {gateway_id} is declared twice; a gateway belongs to exactly one entry",
                        related=(previous[0], ("gateways", previous[1], "id")),
                    )
                )
                continue
            first_seen[gateway_id] = (result.path, index)
            if entry is None:
                continue
            if entry.profile is not None:
                if entry.profile not in declared_profiles:
                    cross.setdefault(result.path, []).append(
                        Problem(
                            ("gateways", index, "profile"),
                            "unknown-profile",
                            _unknown_profile(entry, profiles),
                        )
                    )
                assembly.members.setdefault(entry.profile, []).append(entry.id)
            assembly.gateways[entry.id] = entry
            assembly.gateway_files[entry.id] = result.path
    return assembly


def _load_repo(source: Source, cache: FileCache | None, loader: RepoLoader | None) -> Repo:
    catalog_results = [
        _load(source, path, "catalog", None, cache)
        for path in source.list(catalogs.CATALOG_FOLDER, recursive=False)
    ]
    previous_catalog = loader.catalog_state if loader is not None else None
    if previous_catalog is not None and _same_results(previous_catalog[0], catalog_results):
        # The same catalog object keeps the file cache valid (its key includes the catalog).
        catalog, merge_problems = previous_catalog[1], previous_catalog[2]
    else:
        additions = [(r.path, r.catalog) for r in catalog_results if r.catalog is not None]
        catalog, merge_problems = catalogs.merge(additions)
        if loader is not None:
            loader.catalog_state = (catalog_results, catalog, merge_problems)
    cross: dict[str, list[Problem]] = {}
    for path, problem in merge_problems:
        cross.setdefault(path, []).append(problem)

    profile_results = [
        _load(source, p, "profile", catalog, cache)
        for p in source.list(PROFILES_FOLDER, recursive=False)
    ]
    gateway_results = [
        _load(source, p, "gateways", catalog, cache)
        for p in source.list(GATEWAYS_FOLDER, recursive=True)
    ]

    repo = Repo(
        catalog=catalog,
        files_checked=len(catalog_results) + len(profile_results) + len(gateway_results),
    )
    for result in profile_results:
        profile = result.profile
        if profile is None:
            continue
        if profile.name in repo.profiles:
            cross.setdefault(result.path, []).append(
                Problem(
                    ("name",),
                    "duplicate-profile",
                    f"profile '{profile.name}' is declared twice",
                    related=(repo.profile_files[profile.name], ("name",)),
                )
            )
            continue
        repo.profiles[profile.name] = profile
        repo.profile_files[profile.name] = result.path

    # A profile file with errors still declares its name: its members get no second error.
    declared_profiles = frozenset(PurePosixPath(r.path).stem for r in profile_results)
    key = (declared_profiles, frozenset(repo.profiles))
    assembly = loader.assembly if loader is not None else None
    if (
        assembly is None
        or assembly.key != key
        or not _same_results(assembly.results, gateway_results)
    ):
        assembly = _assemble_gateways(gateway_results, key, repo.profiles)
        if loader is not None:
            loader.assembly = assembly
    repo.gateways, repo.gateway_files = assembly.gateways, assembly.gateway_files
    repo.members, repo.entries_by_file = assembly.members, assembly.entries_by_file
    for path, problems in assembly.cross.items():
        cross.setdefault(path, []).extend(problems)

    repo.diagnostics = _locate_all(
        source, [*catalog_results, *profile_results, *gateway_results], cross
    )
    return repo


def _unknown_profile(entry: GatewayEntry, profiles: dict[str, ProfileFile]) -> str:
    close = difflib.get_close_matches(entry.profile or "", list(profiles), n=1, cutoff=0.75)
    hint = (
        f"; did you mean '{close[0]}'?"
        if close
        else f"; expected a file {PROFILES_FOLDER}/{entry.profile}.yaml"
    )
    return f"gateway {entry.id}: profile '{entry.profile}' does not exist{hint}"


def _load(
    source: Source, path: str, kind: FileKind, catalog: Catalog | None, cache: FileCache | None
) -> FileResult:
    blob = source.blob_id(path)
    key = (path, blob, id(catalog)) if blob is not None and cache is not None else None
    if key is not None and cache is not None and key in cache:
        return cache[key]
    data, located = read_document(source, path)
    if located is not None:
        result = FileResult(path, kind, located=[located])
    elif kind == "profile":
        assert catalog is not None
        result = check_profile(path, data, catalog)
    elif kind == "gateways":
        assert catalog is not None
        result = check_gateways(path, data, catalog)
    else:
        result = check_catalog(path, data)
    if key is not None and cache is not None:
        cache[key] = result
    return result


def _locate_all(
    source: Source, results: Iterable[FileResult], cross: dict[str, list[Problem]]
) -> list[Diagnostic]:
    """Turn problems into diagnostics, composing each file that has any exactly once."""
    roots: dict[str, Any] = {}

    def root_of(path: str) -> Any:
        if path not in roots:
            try:
                roots[path] = yamlfiles.compose(yamlfiles.decode(source.read(path)))
            except (SourceError, yamlfiles.YamlError):
                roots[path] = None
        return roots[path]

    diagnostics: list[Diagnostic] = []
    for result in results:
        diagnostics.extend(result.located)
        for problem in [*result.problems, *cross.get(result.path, [])]:
            line, column = yamlfiles.locate(
                root_of(result.path), problem.path, at_key=problem.at_key
            )
            message = problem.message
            if problem.related is not None:
                other_path, other = problem.related
                other_line, other_column = yamlfiles.locate(root_of(other_path), other)
                message = f"{message} (first declared at {other_path}:{other_line}:{other_column})"
            diagnostics.append(Diagnostic(result.path, line, column, problem.code, message))
    diagnostics.sort(key=lambda d: (d.file, d.line, d.column))
    return diagnostics
