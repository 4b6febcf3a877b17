"""Which OCPP calls a configuration job needs, and what each answer makes of it.

Pure: no I/O, no clock.  The OCPP head-end's job runner asks :func:`v16_calls`
or :func:`v201_batches` for the calls of a job, feeds every answer to a
:class:`JobTally`, and reads the job's final status from it.  The rules
(docs/ocpp.md, "What each answer becomes"):

- OCPP 1.6: one ChangeConfiguration per key, in key order.
- OCPP 2.0.1: SetVariables in batches of at most the charger's ItemsPerMessage
  entries and BytesPerMessage bytes (the serialized CALL).
- ``Accepted`` -> applied; ``RebootRequired`` -> applied, takes effect after a
  reboot; ``Rejected``, ``NotSupported``, ``UnknownComponent``,
  ``UnknownVariable``, ``NotSupportedAttributeType``, a CALLERROR or no answer
  in time -> rejected, with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from reconciler.headends.ocpp.wire import address, compact_json, to_wire
from reconciler.model.catalogs import ParameterSpec

Verdict = Literal["applied", "reboot", "rejected"]

REASONS: dict[str, str] = {
    "Rejected": "the charger rejected the value",
    "NotSupported": "the charger does not support this key",
    "UnknownComponent": "the charger has no such component",
    "UnknownVariable": "the charger has no such variable",
    "NotSupportedAttributeType": "the charger does not support this attribute type",
}

DEFAULT_ITEMS_PER_MESSAGE = 8
"""SetVariables entries per call when the charger does not say (DeviceDataCtrlr.ItemsPerMessage)."""
DEFAULT_BYTES_PER_MESSAGE = 4096
"""Bytes per SetVariables call when the charger does not say (DeviceDataCtrlr.BytesPerMessage)."""
_CALL_OVERHEAD = len(
    '[2,"00000000-0000-0000-0000-000000000000","SetVariables",{"setVariableData":[]}]'
)


def verdict(status: str) -> tuple[Verdict, str]:
    """An answer's status (ChangeConfiguration or SetVariableResult) as a verdict and a reason."""
    if status == "Accepted":
        return "applied", ""
    if status == "RebootRequired":
        return "reboot", ""
    return "rejected", REASONS.get(status, f"the charger answered {status}")


def v16_calls(
    parameters: Mapping[str, Any], syntax: Mapping[str, ParameterSpec]
) -> list[dict[str, str]]:
    """ChangeConfiguration payloads, one per key: ``{"key", "value"}`` (values as strings)."""
    return [
        {"key": key, "value": to_wire(syntax.get(key), parameters[key])}
        for key in sorted(parameters)
    ]


def set_variable_data(key: str, value: Any, spec: ParameterSpec | None) -> dict[str, Any]:
    """One SetVariableData entry (camelCase, as on the wire) for ``key``."""
    component, variable, instance = address(spec, key)
    entry: dict[str, Any] = {
        "attributeValue": to_wire(spec, value),
        "component": {"name": component},
        "variable": {"name": variable},
    }
    if instance is not None:
        entry["variable"]["instance"] = instance
    return entry


def get_variable_data(key: str, spec: ParameterSpec | None) -> dict[str, Any]:
    """One GetVariableData entry (camelCase) for ``key``."""
    component, variable, instance = address(spec, key)
    entry: dict[str, Any] = {"component": {"name": component}, "variable": {"name": variable}}
    if instance is not None:
        entry["variable"]["instance"] = instance
    return entry


def v201_batches(
    parameters: Mapping[str, Any],
    syntax: Mapping[str, ParameterSpec],
    *,
    items_per_message: int | None = None,
    bytes_per_message: int | None = None,
) -> list[list[tuple[str, dict[str, Any]]]]:
    """SetVariables batches: lists of ``(key, SetVariableData)`` within the charger's limits.

    A single entry larger than ``bytes_per_message`` still gets a batch of its
    own (the charger then answers with an error, which is that key's rejection).
    """
    items = max(1, items_per_message or DEFAULT_ITEMS_PER_MESSAGE)
    limit = max(1, bytes_per_message or DEFAULT_BYTES_PER_MESSAGE)
    batches: list[list[tuple[str, dict[str, Any]]]] = []
    current: list[tuple[str, dict[str, Any]]] = []
    size = _CALL_OVERHEAD
    for key in sorted(parameters):
        entry = set_variable_data(key, parameters[key], syntax.get(key))
        entry_size = len(compact_json(entry)) + 1
        if current and (len(current) >= items or size + entry_size > limit):
            batches.append(current)
            current, size = [], _CALL_OVERHEAD
        current.append((key, entry))
        size += entry_size
    if current:
        batches.append(current)
    return batches


def readable_keys(keys: Sequence[str], syntax: Mapping[str, ParameterSpec]) -> list[str]:
    """The keys read-back asks for: those asked, minus write-only ones (never read)."""
    return sorted(k for k in set(keys) if (spec := syntax.get(k)) is None or spec.readable)


@dataclass
class JobTally:
    """The answers to one job's calls so far, and the job status they make."""

    keys: tuple[str, ...]
    applied: set[str] = field(default_factory=set)
    reboot: set[str] = field(default_factory=set)
    rejected: dict[str, str] = field(default_factory=dict)

    def record(self, key: str, status: str) -> None:
        """The charger's answer ``status`` for ``key``."""
        kind, reason = verdict(status)
        self.record_verdict(key, kind, reason)

    def record_verdict(self, key: str, kind: Verdict, reason: str = "") -> None:
        if kind == "rejected":
            self.rejected[key] = reason or "rejected"
            return
        self.applied.add(key)
        if kind == "reboot":
            self.reboot.add(key)

    def fail(self, keys: Sequence[str], reason: str) -> None:
        """No usable answer for ``keys`` (a CALLERROR, a timeout): each is rejected with ``reason``."""
        for key in keys:
            self.rejected[key] = reason

    @property
    def pending(self) -> list[str]:
        """Keys without an answer yet."""
        return [k for k in self.keys if k not in self.applied and k not in self.rejected]

    @property
    def reboot_required(self) -> bool:
        return bool(self.reboot)

    def status(self) -> dict[str, Any]:
        """The job's final status fields: ``status``, ``reason`` and the optional ones of the API."""
        result: dict[str, Any] = {}
        if self.reboot:
            result["reboot_required"] = True
        if not self.rejected:
            result["status"] = "accepted"
            return result
        result["status"] = "declined"
        shown = sorted(self.rejected)
        first = self.rejected[shown[0]]
        more = f" (and {len(shown) - 1} more)" if len(shown) > 1 else ""
        result["reason"] = f"{shown[0]}: {first}{more}"
        result["rejected_parameters"] = {k: self.rejected[k] for k in shown}
        if self.applied:
            result["applied_parameters"] = sorted(self.applied)
        return result


# --- answers and read-back (pure; used by the head-end's calls module) ------------------------

_GET_OVERHEAD = len('[2,"h0000000000","GetVariables",{"getVariableData":[]}]')


def get_batches(
    keys: Sequence[str],
    syntax: Mapping[str, ParameterSpec],
    *,
    items_per_message: int | None = None,
    bytes_per_message: int | None = None,
) -> list[list[tuple[str, dict[str, Any]]]]:
    """GetVariables batches: lists of ``(key, GetVariableData)`` within the charger's limits."""
    items = max(1, items_per_message or DEFAULT_ITEMS_PER_MESSAGE)
    limit = max(1, bytes_per_message or DEFAULT_BYTES_PER_MESSAGE)
    batches: list[list[tuple[str, dict[str, Any]]]] = []
    current: list[tuple[str, dict[str, Any]]] = []
    size = _GET_OVERHEAD
    for key in keys:
        entry = get_variable_data(key, syntax.get(key))
        entry_size = len(compact_json(entry)) + 1
        if current and (len(current) >= items or size + entry_size > limit):
            batches.append(current)
            current, size = [], _GET_OVERHEAD
        current.append((key, entry))
        size += entry_size
    if current:
        batches.append(current)
    return batches


def _address_of(entry: Any) -> tuple[str, str, str | None] | None:
    """(component, variable, instance) of a result entry, or ``None`` when malformed."""
    if not isinstance(entry, dict):
        return None
    component, variable = entry.get("component"), entry.get("variable")
    if not isinstance(component, dict) or not isinstance(variable, dict):
        return None
    name, var = component.get("name"), variable.get("name")
    instance = variable.get("instance")
    if not isinstance(name, str) or not isinstance(var, str):
        return None
    return name, var, instance if isinstance(instance, str) else None


def _by_address(
    batch: Sequence[tuple[str, dict[str, Any]]],
) -> dict[tuple[str, str, str | None], str]:
    found = {}
    for key, entry in batch:
        address_ = _address_of(entry)
        if address_ is not None:
            found[address_] = key
    return found


def v201_set_results(batch: Sequence[tuple[str, dict[str, Any]]], answer: Any) -> dict[str, str]:
    """A SetVariables answer as ``{key: attributeStatus}`` for the keys of ``batch`` it answers."""
    wanted = _by_address(batch)
    results = answer.get("setVariableResult") if isinstance(answer, dict) else None
    statuses: dict[str, str] = {}
    for result in results if isinstance(results, list) else ():
        key = wanted.get(_address_of(result) or ("", "", None))
        status = result.get("attributeStatus")
        if key is not None and isinstance(status, str):
            statuses[key] = status[:64]
    return statuses


def v201_get_values(batch: Sequence[tuple[str, dict[str, Any]]], answer: Any) -> dict[str, str]:
    """A GetVariables answer as ``{key: value}`` for the keys answered ``Accepted`` with a value."""
    wanted = _by_address(batch)
    results = answer.get("getVariableResult") if isinstance(answer, dict) else None
    values: dict[str, str] = {}
    for result in results if isinstance(results, list) else ():
        key = wanted.get(_address_of(result) or ("", "", None))
        value = result.get("attributeValue")
        accepted = result.get("attributeStatus") == "Accepted"
        if key is not None and accepted and isinstance(value, str):
            values[key] = value
    return values


def v16_values(keys: Sequence[str], answer: Any) -> dict[str, str]:
    """A GetConfiguration answer as ``{key: value}`` for the asked keys it reports with a value."""
    asked = set(keys)
    entries = answer.get("configurationKey") if isinstance(answer, dict) else None
    values: dict[str, str] = {}
    for entry in entries if isinstance(entries, list) else ():
        if not isinstance(entry, dict):
            continue
        key, value = entry.get("key"), entry.get("value")
        if isinstance(key, str) and key in asked and isinstance(value, str):
            values[key] = value
    return values


def status_of(answer: Any) -> str | None:
    """The ``status`` of a ChangeConfiguration or Reset answer, if it is a string."""
    status = answer.get("status") if isinstance(answer, dict) else None
    return status[:64] if isinstance(status, str) else None
