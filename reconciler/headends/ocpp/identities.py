"""The charge points the OCPP head-end knows, and their passwords: from a config repository or a file.

Called by :class:`~reconciler.headends.ocpp.hub.Hub` at start and on every
reload (every 30 s, or on SIGHUP).  Two sources:

- ``--repo PATH``: the repository's ``gateways.d`` entries whose type speaks
  ``ocpp1.6`` or ``ocpp2.0.1``; the password is the entry's ``subsettings``
  value of the protocol's password key (:data:`~.wire.PASSWORD_KEYS`), a
  ``{secret: NAME}`` reference resolved by
  :class:`~reconciler.loading.secrets.SecretResolver`.  The repository's
  catalog (with its ``catalog.d``) also types the chargers.
- ``--identities FILE``: ``chargers: [{id: CP-1, password: {secret: NAME}}]``
  (password optional; ``provider``, ``address``, ``owner`` optional strings).

A referenced secret that is not provided leaves the identity with
``missing_secret`` set: it is refused (never let in without its password).
Errors name ``FILE:LINE``.  Passwords are handed on, never logged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.errors import IdentitiesError, YamlError
from reconciler.headends.ocpp.wire import PASSWORD_KEYS
from reconciler.loading.catalogs import shipped_catalog
from reconciler.loading.repos import load_repo
from reconciler.loading.secrets import SecretResolver
from reconciler.loading.sources import DirectorySource
from reconciler.loading.yamlfiles import compose, construct, decode, locate
from reconciler.model.catalogs import Catalog
from reconciler.model.files import GATEWAY_ID_PATTERN

MAX_IDENTITIES_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Identity:
    """One known charge point."""

    id: str
    password: str | None = None
    missing_secret: str | None = None
    """The name of a referenced secret that is not provided: the charger is refused."""
    provider: str = ""
    address: str = ""
    owner: str = ""

    def __repr__(self) -> str:  # never show the password
        return f"Identity(id={self.id!r}, password={'***' if self.password else None})"


@dataclass(frozen=True, slots=True)
class Identities:
    """The known charge points (``None``: no source, every identity is unknown) and the catalog."""

    known: dict[str, Identity] | None
    catalog: Catalog


def load_identities(
    repo: Path | None, identities: Path | None, resolver: SecretResolver | None = None
) -> Identities:
    """Read the identities source (at most one of ``repo`` and ``identities``)."""
    resolve = resolver or SecretResolver()
    if repo is not None:
        return _from_repo(repo, resolve)
    if identities is not None:
        return Identities(_from_file(identities, resolve), shipped_catalog())
    return Identities(None, shipped_catalog())


def _password(value: Any, resolve: SecretResolver, where: str) -> tuple[str | None, str | None]:
    """(password, missing secret name) of a password value: a string or ``{secret: NAME}``."""
    if value is None:
        return None, None
    if isinstance(value, str):
        return value, None
    if isinstance(value, dict) and set(value) == {"secret"} and isinstance(value["secret"], str):
        name = value["secret"]
        found = resolve(name)
        return (found, None) if found else (None, name)
    raise IdentitiesError(f"{where}: password: expected a string or {{secret: NAME}}")


def _from_repo(path: Path, resolve: SecretResolver) -> Identities:
    try:
        repo = load_repo(DirectorySource(path))
    except (OSError, ValueError) as exc:
        raise IdentitiesError(f"{path}: cannot load the repository: {exc}") from exc
    known: dict[str, Identity] = {}
    for entry in repo.gateways.values():
        types = repo.catalog.types.get(entry.type)
        if types is None or types.protocol not in PASSWORD_KEYS:
            continue
        key = PASSWORD_KEYS[types.protocol]
        value = None
        for block in entry.subsettings.values():
            if isinstance(block, dict) and key in block:
                value = block[key]
        where = f"{path / repo.gateway_files.get(entry.id, 'gateways.d')}: {entry.id}"
        password, missing = _password(value, resolve, where)
        known[entry.id] = Identity(entry.id, password, missing)
    return Identities(known, repo.catalog)


def _from_file(path: Path, resolve: SecretResolver) -> dict[str, Identity]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise IdentitiesError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if len(data) > MAX_IDENTITIES_BYTES:
        raise IdentitiesError(f"{path}: larger than {MAX_IDENTITIES_BYTES} bytes")
    try:
        root = compose(decode(data))
        document = construct(root) if root is not None else None
    except YamlError as exc:
        raise IdentitiesError(f"{path}:{exc.line}: {exc.message}") from exc

    def fail(where: list[str | int], message: str) -> IdentitiesError:
        line, _ = locate(root, where)
        return IdentitiesError(f"{path}:{line}: {message}")

    if not isinstance(document, dict) or not isinstance(document.get("chargers"), list):
        raise fail([], "expected `chargers: [{id: ID, password: {secret: NAME}}, ...]`")
    extra = set(document) - {"chargers"}
    if extra:
        raise fail([sorted(extra)[0]], f"unknown key {sorted(extra)[0]!r}")
    known: dict[str, Identity] = {}
    pattern = re.compile(GATEWAY_ID_PATTERN)
    for index, item in enumerate(document["chargers"]):
        here: list[str | int] = ["chargers", index]
        if not isinstance(item, dict):
            raise fail(here, "expected {id: ID, password: {secret: NAME}}")
        unknown = set(item) - {"id", "password", "provider", "address", "owner"}
        if unknown:
            name = sorted(unknown)[0]
            raise fail([*here, name], f"unknown key {name!r}")
        ident = item.get("id")
        if not isinstance(ident, str) or not pattern.match(ident):
            raise fail([*here, "id"], "id: expected a charge point id (letters, digits, ._:-)")
        if ident in known:
            raise fail([*here, "id"], f"id {ident!r} appears twice")
        for name in ("provider", "address", "owner"):
            if not isinstance(item.get(name, ""), str):
                raise fail([*here, name], f"{name}: expected a string")
        line, _ = locate(root, [*here, "password"])
        password, missing = _password(item.get("password"), resolve, f"{path}:{line}")
        known[ident] = Identity(
            ident,
            password,
            missing,
            provider=item.get("provider", ""),
            address=item.get("address", ""),
            owner=item.get("owner", ""),
        )
    return known
