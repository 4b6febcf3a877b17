"""What the console's configuration screens show, as JSON-ready dicts.  Pure: no I/O, no clock.

:func:`profile_configuration` is a profile's configuration for one gateway
type (every settable catalog key, the profile's value against the commit last
rolled out to the end, the keys some members' firmware lacks);
:func:`gateway_configuration` is one gateway's effective configuration (each
value's origin, what it accepted, what it reads back).  The daemon's console
endpoints call them and serve the answers as they are.  The desired-state
rules are :mod:`reconciler.plan.desired`'s; values compare as the planner
compares them (:func:`reconciler.plan.values.same`).

No answer holds a secret: a secret value, a sealed secret's digest and a
secret reference's name all appear as :data:`SECRET_SHOWN`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from packaging.version import Version

from reconciler.errors import ExplainError
from reconciler.model.catalogs import Catalog, ParameterSpec, TypeCatalog, parse_version
from reconciler.model.files import ParameterBlock, ProfileFile
from reconciler.model.repos import Repo
from reconciler.model.state import AppliedGateway
from reconciler.plan.desired import DesiredState, Skip, flatten, skip_reason
from reconciler.plan.values import SECRET_SHOWN, SecretDigest, is_secret, no_secrets, same

__all__ = ["SECRET_SHOWN", "ExplainError", "gateway_configuration", "profile_configuration"]

NAMES_LISTED = 20
"""Names an error message lists, at most (a repository may hold hundreds of profiles)."""


def profile_configuration(
    repo: Repo,
    applied: Repo | None,
    profile: str,
    gateway_type: str | None,
    firmwares: Mapping[str, int],
) -> dict[str, Any]:
    """A profile's configuration for one gateway type, against the commit last rolled out.

    ``repo`` is the newest valid commit, ``applied`` the one last rolled out to
    the end (``None``: nothing applied yet), ``gateway_type`` the tab (``None``:
    the first of ``types``), ``firmwares`` firmware -> members of this profile
    and type running it (``""``: unknown, left out).  The answer::

        {"profile": NAME, "description": str, "manage": "declared" | "all",
         "types": [the catalog types the profile sets, in catalog order;
                   every catalog type when it sets none],
         "type": the selected type,
         "sections": [{"name": SECTION, "keys": [
             {"key", "type" (catalog type, null for a key the catalog no longer has),
              "unit", "description", "default" (firmware default or null),
              "value" (the profile's, null when it does not set the key),
              "applied" (the applied commit's profile value or null),
              "state": "pending" | "applied" | "unset",
              "reboot": bool, "access", "firmware" (the key's firmware range, "" = all),
              "skipped_for": [{"firmware", "gateways"}]}, ...]}, ...],
         "pending": number of pending keys,
         "skipped": [{"key", "firmware", "gateways", "reason"}, ...]}

    Sections and keys in catalog order; every key that is not read-only is
    listed, then keys only a commit sets that the catalog no longer has (in the
    section the profile file put them).  ``pending``: the profile sets a value
    the applied commit's profile did not set, or set differently, or no longer
    sets one it set (``value`` null, ``applied`` the old value); ``applied``:
    set, and equal; ``unset``: set in neither.  Secret references compare by
    name (a changed reference is pending); every secret shows as
    :data:`SECRET_SHOWN`.  ``skipped_for`` lists the firmwares (of
    ``firmwares``, versions ascending) whose syntax lacks a key the profile
    sets; ``skipped`` the same, flat, with the planner's reason.

    Raises :class:`ExplainError` for a profile not in ``repo`` or a type not in its catalog.
    """
    found = repo.profiles.get(profile)
    if found is None:
        raise ExplainError(
            f"no profile '{profile}' in this commit; profiles: {_names(sorted(repo.profiles))}"
        )
    catalog = repo.catalog
    types = [t for t in catalog.types if t in found.parameters] or list(catalog.types)
    selected = gateway_type if gateway_type is not None else (types[0] if types else "")
    type_catalog = catalog.types.get(selected)
    if type_catalog is None:
        raise ExplainError(
            f"type '{selected}' is not in the catalog; types: {_names(list(catalog.types))}"
        )
    block = found.parameters.get(selected, {})
    now = flatten(block)
    before_profile = applied.profiles.get(profile) if applied is not None else None
    before_block = before_profile.parameters.get(selected, {}) if before_profile else {}
    before = flatten(before_block)

    skipped, skipped_for = _skipped_by_firmware(catalog, selected, now, firmwares)
    sections: list[dict[str, Any]] = []
    pending = 0
    for name, keys in _sections(type_catalog, (block, before_block)).items():
        rows = []
        for key in keys:
            spec = type_catalog.specs.get(key)
            state = _profile_state(key, now, before)
            pending += state == "pending"
            rows.append(
                {
                    "key": key,
                    "type": spec.type if spec else None,
                    "unit": spec.unit if spec else None,
                    "description": spec.description if spec else "",
                    "default": _shown(spec, spec.default) if spec else None,
                    "value": _shown(spec, now.get(key)),
                    "applied": _shown(spec, before.get(key)),
                    "state": state,
                    "reboot": spec.reboot if spec else False,
                    "access": spec.access if spec else None,
                    "firmware": spec.firmware if spec else "",
                    "skipped_for": skipped_for.get(key, []),
                }
            )
        sections.append({"name": name, "keys": rows})
    return {
        "profile": found.name,
        "description": found.description or "",
        "manage": found.rollout.manage,
        "types": types,
        "type": selected,
        "sections": sections,
        "pending": pending,
        "skipped": skipped,
    }


def _profile_state(key: str, now: Mapping[str, Any], before: Mapping[str, Any]) -> str:
    if key in now:
        return "applied" if key in before and same(now[key], before[key]) else "pending"
    return "pending" if key in before else "unset"


def _sections(type_catalog: TypeCatalog, blocks: Iterable[ParameterBlock]) -> dict[str, list[str]]:
    """SECTION -> keys: the catalog's settable keys in its order, then keys only ``blocks`` set."""
    specs = type_catalog.specs
    sections: dict[str, list[str]] = {}
    for name, keys in type_catalog.sections.items():
        settable = [k for k in keys if specs[k].settable]
        if settable:
            sections[name] = settable
    for block in blocks:
        for name, keys in block.items():
            for key in keys:
                if key not in specs and key not in sections.get(name, ()):
                    sections.setdefault(name, []).append(key)
    return sections


def _skipped_by_firmware(
    catalog: Catalog, gateway_type: str, values: Mapping[str, Any], firmwares: Mapping[str, int]
) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """``(skipped, key -> skipped_for)``: the keys of ``values`` each known firmware's syntax lacks."""
    desired = DesiredState(catalog, no_secrets)
    flat: list[dict[str, Any]] = []
    per_key: dict[str, list[dict[str, Any]]] = {}
    known = sorted((f for f in firmwares if f), key=_firmware_order)
    for key in _ordered(catalog.types.get(gateway_type), values):
        for firmware in known:
            syntax = desired.syntax(gateway_type, firmware)
            if syntax is None or key in syntax:
                continue
            count = firmwares[firmware]
            per_key.setdefault(key, []).append({"firmware": firmware, "gateways": count})
            flat.append(
                {
                    "key": key,
                    "firmware": firmware,
                    "gateways": count,
                    "reason": skip_reason(gateway_type, firmware),
                }
            )
    return flat, per_key


def _firmware_order(firmware: str) -> tuple[bool, Version, str]:
    """Versions ascending, then the firmwares that are not versions, by name."""
    version = parse_version(firmware)
    return (version is None, version or Version("0"), firmware)


def gateway_configuration(
    repo: Repo,
    gateway_id: str,
    firmware: str | None,
    state: AppliedGateway | None,
    digest: SecretDigest,
) -> dict[str, Any]:
    """One gateway's effective configuration: desired, accepted and read back, key by key.

    ``firmware`` is what the caller knows (inventory, else the store; ``None``:
    unknown, the answer is provisional), ``state`` the store's record (``None``:
    never rolled out), ``digest`` the store's keyed secret digest (so that a
    changed secret value shows as pending).  The answer::

        {"id", "type", "firmware", "profile" (declared profile or null),
         "previous_profile" (the profile it was last rolled out under, or null),
         "declared": bool (false: only the store knows it; it is being reset),
         "keys": [{"key", "section",
                   "value" (effective desired value; null for an unmanaged key),
                   "origin": "profile" | "subsetting" | "default" | null (unmanaged),
                   "applied" (accepted value or null),
                   "state": "applied" | "pending" | "mismatch" | "unmanaged",
                   "live" (the read-back value where it differs from the accepted one, else null),
                   "reboot_pending": bool}, ...],
         "mismatch": [{"key", "expected" (accepted), "live"}, ...],
         "skipped": [{"key", "reason"}, ...],
         "provisional": firmware is None}

    Keys in catalog order (section by section), then keys the catalog lacks.
    ``origin``: the gateway's subsettings set the key, else its profile, else a
    firmware default (``rollout.manage: all``).  ``state``: ``unmanaged`` for an
    accepted key no longer desired (it gets its firmware default once), else
    ``pending`` when the desired value differs from the accepted one (or none
    was accepted), else ``mismatch`` when the gateway reads back another value,
    else ``applied``; ``live`` and ``mismatch`` show read-back differences
    whatever the state.  ``skipped`` holds the keys this firmware lacks, then
    the store's recorded skips of other keys.  Secrets show as
    :data:`SECRET_SHOWN`.

    Raises :class:`ExplainError` for a gateway neither ``repo`` nor ``state`` knows.
    """
    entry = repo.gateways.get(gateway_id)
    if entry is None and state is None:
        raise ExplainError(f"no gateway '{gateway_id}' in this commit nor in the state store")
    desired = DesiredState(repo.catalog, digest)
    config: Mapping[str, Any] = {}
    skips: tuple[Skip, ...] = ()
    origins: dict[str, str] = {}
    if entry is not None:
        gateway_type = entry.type
        own = flatten(entry.subsettings)
        if entry.profile is not None:
            profile = _profile_of(repo, entry.profile)
            member = desired.for_member(profile, entry, firmware)
            config, skips = member.config, member.skipped
            from_profile = flatten(profile.parameters.get(gateway_type, {}))
        else:
            config, skips = desired.subsettings(entry, firmware)
            from_profile = {}
        for key in config:
            origins[key] = (
                "subsetting" if key in own else "profile" if key in from_profile else "default"
            )
    else:
        assert state is not None
        gateway_type = state.type
    type_catalog = repo.catalog.types.get(gateway_type)
    specs: Mapping[str, ParameterSpec] = type_catalog.specs if type_catalog else {}
    accepted: Mapping[str, Any] = state.accepted if state is not None else {}
    live: Mapping[str, Any] = state.mismatch if state is not None else {}
    rebooting = frozenset(state.reboot_pending) if state is not None else frozenset()

    rows = []
    for key in _ordered(type_catalog, config.keys() | accepted.keys()):
        spec = specs.get(key)
        if key not in config:
            verdict = "unmanaged"
        elif key not in accepted or not same(accepted[key], config[key]):
            verdict = "pending"
        elif key in live:
            verdict = "mismatch"
        else:
            verdict = "applied"
        rows.append(
            {
                "key": key,
                "section": spec.section if spec else "",
                "value": _shown(spec, config.get(key)),
                "origin": origins.get(key),
                "applied": _shown(spec, accepted.get(key)),
                "state": verdict,
                "live": _shown(spec, live.get(key)),
                "reboot_pending": key in rebooting,
            }
        )
    mismatch = [
        {
            "key": key,
            "expected": _shown(specs.get(key), accepted.get(key)),
            "live": _shown(specs.get(key), live[key]),
        }
        for key in _ordered(type_catalog, live.keys())
    ]
    skipped = [{"key": s.key, "reason": s.reason} for s in skips]
    listed = {s.key for s in skips}
    for text in state.skipped if state is not None else ():
        recorded = Skip.from_text(text)
        if recorded.key not in listed:
            listed.add(recorded.key)
            skipped.append({"key": recorded.key, "reason": recorded.reason})
    return {
        "id": gateway_id,
        "type": gateway_type,
        "firmware": firmware,
        "profile": entry.profile if entry is not None else None,
        "previous_profile": state.profile if state is not None else None,
        "declared": entry is not None,
        "keys": rows,
        "mismatch": mismatch,
        "skipped": skipped,
        "provisional": firmware is None,
    }


def _profile_of(repo: Repo, name: str) -> ProfileFile:
    found = repo.profiles.get(name)
    if found is None:
        raise ExplainError(f"no profile '{name}' in this commit (the gateway's entry names it)")
    return found


def _ordered(type_catalog: TypeCatalog | None, keys: Iterable[str]) -> list[str]:
    """``keys`` in catalog order, section by section, then the ones the catalog lacks, by name."""
    wanted = set(keys)
    if type_catalog is None:
        return sorted(wanted)
    known = [k for section in type_catalog.sections.values() for k in section if k in wanted]
    return known + sorted(wanted.difference(type_catalog.specs))


def _shown(spec: ParameterSpec | None, value: Any) -> Any:
    """A value as the screens show it: secrets masked (by form, and by catalog type as a second
    guard); lists copied, so that a caller's changes never reach the repository's objects."""
    if value is None:
        return None
    if is_secret(value) or (spec is not None and spec.type == "secret"):
        return SECRET_SHOWN
    if isinstance(value, list):
        return list(value)
    return value


def _names(names: Sequence[str]) -> str:
    if not names:
        return "none"
    shown = ", ".join(names[:NAMES_LISTED])
    more = len(names) - NAMES_LISTED
    return f"{shown} and {more} more" if more > 0 else shown
