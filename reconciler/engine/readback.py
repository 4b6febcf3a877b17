"""Drift detection: live configurations compared with accepted ones, by catalog type.

A head-end may report ``"900"`` for an integer 900 or ``"true"`` for a
boolean; values are compared after converting the live one to the key's
catalog type.  Secrets are write-only (never read back), so they are not
compared.  Pure functions: the runner (:mod:`reconciler.engine.runner`) reads
the live configurations and hands them to :func:`compare`, after each accepted
job and for :meth:`~reconciler.engine.rollouts.Engine.read_back`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from reconciler.drivers.base import LiveConfig
from reconciler.model.catalogs import Catalog, ParameterSpec, parse_version
from reconciler.model.state import AppliedGateway, Status
from reconciler.plan.values import is_secret

MISSING = "(missing)"


def as_type(spec: ParameterSpec | None, value: Any) -> Any:
    """``value`` converted to the catalog type of ``spec`` where it is a plain rendering of it."""
    if spec is None or value is None:
        return value
    kind = spec.type
    try:
        if kind == "integer" and isinstance(value, str):
            return int(value.strip())
        if kind == "integer" and isinstance(value, float) and value.is_integer():
            return int(value)
        if kind == "decimal" and isinstance(value, (str, int)) and not isinstance(value, bool):
            return float(value)
        if (
            kind == "boolean"
            and isinstance(value, str)
            and value.strip().lower() in ("true", "false")
        ):
            return value.strip().lower() == "true"
        if kind == "list" and isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
    except ValueError:
        return value
    return value


def differences(
    accepted: Mapping[str, Any], live: Mapping[str, Any], syntax: Mapping[str, ParameterSpec]
) -> dict[str, Any]:
    """Managed keys whose live value differs: ``{key: live value}`` (``"(missing)"`` if absent)."""
    drift: dict[str, Any] = {}
    for key, expected in accepted.items():
        spec = syntax.get(key)
        if is_secret(expected) or (spec is not None and not spec.readable):
            continue  # write-only: never read back; secrets compare at the next rollout by keyed hash
        if key not in live:
            drift[key] = MISSING
            continue
        value = as_type(spec, live[key])
        wanted = as_type(spec, expected)
        if type(value) is bool or type(wanted) is bool:
            same = type(value) is type(wanted) and value == wanted
        else:
            same = value == wanted
        if not same:
            drift[key] = live[key]
    return drift


def compare(
    states: Sequence[AppliedGateway],
    live: Mapping[str, LiveConfig],
    catalog: Catalog,
    now: float,
) -> tuple[list[AppliedGateway], list[str]]:
    """Accepted (or Mismatch) states against live configurations: ``(changed, mismatched)``.

    ``changed`` are the states to write: newly in Mismatch (or with other
    differing keys), Mismatch members whose live values returned to the
    accepted ones (Accepted again), and members whose "reboot pending" keys now
    read back as accepted (no longer pending).  A pending key that still differs
    is no Mismatch: the device has not booted since.  ``mismatched`` are the ids
    that differ now.  Gateways without a live configuration are left alone.
    """
    changed: list[AppliedGateway] = []
    mismatched: list[str] = []
    for state in states:
        config = live.get(state.gateway_id)
        if config is None:
            continue
        version = parse_version(config.firmware)
        types = catalog.types.get(state.type)
        if types is None:
            syntax: Mapping[str, ParameterSpec] = {}
        else:
            # Firmware that is no version has the keys without a firmware range only.
            syntax = types.for_firmware(version) if version else types.unrestricted()
        drift = differences(state.accepted, config.parameters, syntax)
        before = state
        if state.reboot_pending:
            waiting = tuple(k for k in state.reboot_pending if k in drift)
            drift = {k: v for k, v in drift.items() if k not in waiting}
            if waiting != state.reboot_pending:
                state = replace(state, reboot_pending=waiting, updated_at=now)
        if drift:
            mismatched.append(state.gateway_id)
            if state.status is not Status.MISMATCH or dict(state.mismatch) != drift:
                keys = ", ".join(sorted(drift))
                state = replace(
                    state,
                    status=Status.MISMATCH,
                    mismatch=drift,
                    updated_at=now,
                    reason=f"live configuration differs: {keys}",
                )
        elif state.status is Status.MISMATCH:
            state = replace(state, status=Status.ACCEPTED, mismatch={}, reason="", updated_at=now)
        if state is not before:
            changed.append(state)
    return changed, mismatched


def reapply_values(state: AppliedGateway) -> dict[str, Any]:
    """What pushing a Mismatch member again sends: the accepted values of the differing keys."""
    return {k: state.accepted[k] for k in state.mismatch if k in state.accepted}
