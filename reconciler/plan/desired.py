"""Desired configuration of one gateway (docs/reference/desired-state.md), with per-(profile, type, firmware) caches.

member of P:  P.parameters[T] overlaid by its subsettings, restricted to the
              keys of T@F.  With ``rollout.manage: declared`` (the default)
              only those keys are managed; with ``all`` every key of T@F is,
              firmware defaults filling the keys the profile does not set
              (secrets only when set: they have no default).  A key that stops
              being managed gets one rollout of its firmware default (the
              planner's resets), then is left alone.
no profile:   only its subsettings are managed.
firmware unknown (no inventory, nothing in the store): the same without the
              restriction; the plan says the result is provisional.
firmware not a version (``V2.12-rc3b``): only the keys without a firmware
              range (``firmware: ""``) apply; the others are skipped, with
              that reason, on the plan and the report.
read-only keys are never managed (a profile cannot set them; ``manage: all``
              leaves them out).

Most gateways of a profile share type and firmware and have no subsettings, so
their desired configuration is one shared, read-only dict per (P, T, F).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from packaging.version import Version

from reconciler.model.catalogs import Catalog, ParameterSpec, parse_version
from reconciler.model.files import GatewayEntry, ParameterBlock, ProfileFile
from reconciler.plan.values import SecretDigest, seal


@dataclass(frozen=True, slots=True)
class Skip:
    """A key the profile or subsettings set that this gateway's syntax lacks."""

    key: str
    reason: str
    """Why, without the key: "not in LSX 1.1.0"."""

    def __str__(self) -> str:
        if self.reason.startswith(UNVERSIONED_PREFIX):
            return f"{self.key} skipped: {self.reason}"
        return f"{self.key} {self.reason}"

    @classmethod
    def from_text(cls, text: str) -> Skip:
        """The skip whose ``str()`` is ``text`` (the store keeps a gateway's skips as these texts)."""
        key, _, rest = text.partition(" ")
        return cls(key, rest.removeprefix("skipped: "))


UNVERSIONED_PREFIX = "firmware '"


def merge_skips(first: tuple[Skip, ...], then: tuple[Skip, ...]) -> tuple[Skip, ...]:
    """``first`` followed by the skips of ``then`` whose key it does not list: one skip per key.

    A key the profile and the subsettings both set (or one still desired and
    also no longer managed) is skipped once, with the first reason.
    """
    if not then:
        return first
    if not first:
        return then
    listed = {s.key for s in first}
    added = tuple(s for s in then if s.key not in listed)
    return first + added if added else first


def skip_reason(gateway_type: str, firmware: str | None) -> str:
    """Why a key of ``gateway_type`` is not in the syntax of ``firmware``."""
    if firmware is not None and parse_version(firmware) is None:
        return f"{UNVERSIONED_PREFIX}{firmware}' is not a version, so only keys without a firmware range apply"
    return f"not in {gateway_type} {firmware}"


MEMBERS_KEPT = 20_000
"""Desired configurations of members with subsettings kept for sharing, at most."""


@dataclass(frozen=True, slots=True)
class Desired:
    """The managed configuration of one gateway, and the keys left out."""

    config: Mapping[str, Any]
    skipped: tuple[Skip, ...]


def flatten(block: ParameterBlock) -> dict[str, Any]:
    """``SECTION -> Key -> value`` to the wire's flat ``Key -> value``."""
    return {key: value for keys in block.values() for key, value in keys.items()}


class DesiredState:
    """Computes desired configurations; caches what gateways share.  Pure: no I/O, no clock."""

    def __init__(self, catalog: Catalog, digest: SecretDigest) -> None:
        self.catalog = catalog
        self.digest = digest
        self._syntax: dict[tuple[str, str | None], Mapping[str, ParameterSpec] | None] = {}
        self._defaults: dict[tuple[str, str | None], dict[str, Any]] = {}
        # Keyed by profile name; each entry keeps the profile object it was computed
        # from, so a changed profile (a new object) is never served stale values.
        self._base: dict[tuple[str, str, str | None], tuple[ProfileFile, Desired]] = {}
        self._profiles: dict[str, tuple[ProfileFile, dict[str, dict[str, Any]]]] = {}
        self._members: dict[tuple[str, str, str | None, int], tuple[Desired, Any, Desired]] = {}

    def syntax(self, gateway_type: str, firmware: str | None) -> Mapping[str, ParameterSpec] | None:
        """The keys of T@F; ``None`` when the firmware is unknown.

        A firmware that is not a version gets the keys without a firmware range.
        """
        key = (gateway_type, firmware)
        if key not in self._syntax:
            version = _version(firmware)
            type_catalog = self.catalog.types.get(gateway_type)
            if type_catalog is None:
                # A type no longer in the catalog (a catalog.d file removed): only the
                # store remembers its gateways, and no key of it is known any more.
                self._syntax[key] = {}
            elif version is not None:
                self._syntax[key] = type_catalog.for_firmware(version)
            elif firmware is not None:
                self._syntax[key] = type_catalog.unrestricted()
            else:
                self._syntax[key] = None
        return self._syntax[key]

    def defaults(self, gateway_type: str, firmware: str | None) -> Mapping[str, Any]:
        """Firmware defaults of T@F (all firmware versions' keys when it is unknown); shared, read-only."""
        key = (gateway_type, firmware)
        found = self._defaults.get(key)
        if found is None:
            syntax = self.syntax(gateway_type, firmware)
            specs = syntax if syntax is not None else self.catalog.types[gateway_type].specs
            found = {
                k: spec.default
                for k, spec in specs.items()
                if spec.default is not None and spec.access != "read-only"
            }
            self._defaults[key] = found
        return found

    def _profile_values(self, profile: ProfileFile, gateway_type: str) -> dict[str, Any]:
        cached = self._profiles.get(profile.name)
        if cached is None or cached[0] is not profile:
            cached = (profile, {})
            self._profiles[profile.name] = cached
        per_type = cached[1]
        if gateway_type not in per_type:
            block = profile.parameters.get(gateway_type, {})
            per_type[gateway_type] = {k: seal(v, self.digest) for k, v in flatten(block).items()}
        return per_type[gateway_type]

    @staticmethod
    def _restrict(
        values: dict[str, Any],
        syntax: Mapping[str, ParameterSpec] | None,
        gateway_type: str,
        firmware: str | None,
    ) -> tuple[dict[str, Any], tuple[Skip, ...]]:
        if syntax is None:
            return values, ()
        kept = {k: v for k, v in values.items() if k in syntax}
        if len(kept) == len(values):
            return kept, ()
        reason = skip_reason(gateway_type, firmware)
        return kept, tuple(Skip(k, reason) for k in values if k not in syntax)

    def for_member(
        self, profile: ProfileFile, entry: GatewayEntry, firmware: str | None
    ) -> Desired:
        """Desired state of a member of ``profile``."""
        cache_key = (profile.name, entry.type, firmware)
        cached = self._base.get(cache_key)
        if cached is not None and cached[0] is profile:
            base = cached[1]
        else:
            syntax = self.syntax(entry.type, firmware)
            values, skipped = self._restrict(
                dict(self._profile_values(profile, entry.type)), syntax, entry.type, firmware
            )
            if profile.rollout.manage == "all":
                values = {**self.defaults(entry.type, firmware), **values}
            base = Desired(values, skipped)
            self._base[cache_key] = (profile, base)
        if not entry.subsettings:
            return base
        # Members with equal subsettings share them (the loader shares equal mappings), and so
        # their desired configuration: one dict per member would be held by the store's caches.
        key = (*cache_key, id(entry.subsettings))
        found = self._members.get(key)
        if found is not None and found[0] is base and found[1] is entry.subsettings:
            return found[2]
        own, own_skipped = self.subsettings(entry, firmware)
        desired = Desired({**base.config, **own}, merge_skips(base.skipped, own_skipped))
        if len(self._members) >= MEMBERS_KEPT:
            self._members.clear()
        self._members[key] = (base, entry.subsettings, desired)  # holding them keeps their ids
        return desired

    def forget_members(self) -> None:
        """Drop the members' shared configurations (a plan ended: its secrets may change)."""
        self._members.clear()

    def subsettings(
        self, entry: GatewayEntry, firmware: str | None
    ) -> tuple[dict[str, Any], tuple[Skip, ...]]:
        """The gateway's own overrides, sealed and restricted to its syntax."""
        digest = self.digest
        values = {
            k: seal(v, digest) if type(v) is dict else v
            for keys in entry.subsettings.values()
            for k, v in keys.items()
        }
        return self._restrict(values, self.syntax(entry.type, firmware), entry.type, firmware)


def _version(firmware: str | None) -> Version | None:
    return None if firmware is None else parse_version(firmware)
