"""A simulated charge point's configuration store and the rules it answers by.

Used by the simulated charge points (:mod:`reconciler.headends.ocpp.chargepoint`)
and built by the fleet runner (:mod:`reconciler.headends.ocpp.simfleet`).  A
:class:`TypeModel` is shared by every charger of one gateway type: the catalog
entries, every key's default as a wire string, the 2.0.1 addresses and the
reboot keys.  A :class:`ConfigStore` (one per charger) keeps only the values
that differ from those defaults, plus the values that wait for a reboot.

Keys whose catalog default is ``null`` get a plausible value of their type
(:func:`plausible`): the capability keys a charger reports (``NumberOfConnectors``
2, the ``DeviceDataCtrlr`` message limits from the fleet options, lists with all
their values, integers ``max(min, 10)`` within bounds, booleans ``false``); a
read-write string without default is *known but not set* (1.6 GetConfiguration
returns it without ``value``, 2.0.1 GetVariables Accepted without
``attributeValue``); a write-only secret is unset until written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from reconciler.headends.ocpp.wire import PASSWORD_KEYS, from_wire, key_of, to_wire
from reconciler.model.catalogs import ParameterSpec, TypeCatalog, check_secret_value, check_value

SPECIAL_VALUES: dict[str, str] = {
    "NumberOfConnectors": "2",
    "GetConfigurationMaxKeys": "100",
    "SupportedFeatureProfilesMaxLength": "6",
    "SecurityCtrlr.SecurityProfile": "1",
    "OCPPCommCtrlr.MessageTimeout.Default": "30",
    "DeviceDataCtrlr.ConfigurationValueSize": "1000",
    "DeviceDataCtrlr.ReportingValueSize": "2500",
}
"""Values of keys without catalog default where the generic rule would be implausible."""

_META = re.compile(r"[.^$*+?{}\[\]|()\\]")


def plausible(spec: ParameterSpec) -> str | None:
    """A plausible wire value for a key whose catalog default is ``null`` (``None``: not set)."""
    if spec.key in SPECIAL_VALUES:
        return SPECIAL_VALUES[spec.key]
    if spec.type == "integer":
        value = max(int(spec.min or 0), 10)
        return str(min(value, int(spec.max)) if spec.max is not None else value)
    if spec.type == "decimal":
        return str(float(spec.min or 0))
    if spec.type == "boolean":
        return "false"
    if spec.type == "list":
        return ",".join(spec.values or ())
    if spec.type == "enum":
        return (spec.values or [""])[0]
    return None


def literal_for(pattern: str) -> str:
    """A string that fully matches the simple regex ``pattern`` (``Terra AC.*`` -> ``Terra AC``).

    Takes the literal prefix (escapes resolved) up to the first regex operator and
    tries it with a few fillers; for a regex where none fits, the prefix is
    returned (the charger is then typed by its protocol's default type).
    """
    prefix: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern) and not pattern[index + 1].isalnum():
            prefix.append(pattern[index + 1])
            index += 2
            continue
        if char == "^" and index == 0:
            index += 1
            continue
        if _META.match(char):
            break
        prefix.append(char)
        index += 1
    base = "".join(prefix)
    if index < len(pattern) and pattern[index] in "*?{" and base:
        base = base[:-1] if pattern[index] in "*?" else base  # the last char was optional
    for candidate in (base, base + "0", base + "A", base + "a", base + "1"):
        if re.fullmatch(pattern, candidate):
            return candidate
    return base


class TypeModel:
    """What every charger of one gateway type shares: specs, defaults, addresses, reboot keys."""

    def __init__(
        self,
        types: TypeCatalog,
        *,
        items_per_message: int = 16,
        bytes_per_message: int = 8192,
        reboot_keys: Iterable[str] = (),
    ) -> None:
        self.gateway_type = types.gateway_type
        self.protocol: str = types.protocol
        self.specs: Mapping[str, ParameterSpec] = types.specs
        self.items_per_message = items_per_message
        self.bytes_per_message = bytes_per_message
        extra = set(reboot_keys)
        self.reboot_keys = frozenset(k for k, s in self.specs.items() if s.reboot or k in extra)
        self.password_key = PASSWORD_KEYS.get(self.protocol, "")
        self.defaults: dict[str, str | None] = {}
        for key, spec in self.specs.items():
            if spec.default is not None:
                self.defaults[key] = to_wire(spec, spec.default)
            else:
                self.defaults[key] = plausible(spec)
        for prefix, number in (
            ("ItemsPerMessage", items_per_message),
            ("BytesPerMessage", bytes_per_message),
        ):
            for instance in ("SetVariables", "GetVariables"):
                key = f"DeviceDataCtrlr.{prefix}.{instance}"
                if key in self.specs:
                    self.defaults[key] = str(number)
        self.components = frozenset(key.split(".", 1)[0] for key in self.specs if "." in key)
        self.vendor = "Reconciler"
        self.model = "Sim" + self.gateway_type
        if types.match:
            self.vendor = literal_for(types.match.get("vendor", ".*")) or self.vendor
            self.model = literal_for(types.match.get("model", ".*")) or self.model

    def key_at(self, component: str, variable: str, instance: str | None) -> str:
        """The catalog key of a 2.0.1 address (may be unknown)."""
        return key_of(component, variable, instance)

    def check(self, key: str, text: str) -> str | None:
        """Why ``text`` is no acceptable value of ``key`` (None if it is); never shows a secret."""
        spec = self.specs[key]
        if spec.type == "secret":
            return check_secret_value(spec, text)
        typed = from_wire(spec, text)
        return check_value(spec, typed)

    def normalise(self, key: str, text: str) -> str:
        """The stored form of an accepted value (``"0900"`` -> ``"900"`` for an integer)."""
        spec = self.specs[key]
        if spec.type in ("secret", "string"):
            return text
        return to_wire(spec, from_wire(spec, text))


class ConfigStore:
    """One charger's values: only those that differ from its type's defaults, plus pending ones."""

    __slots__ = ("model", "pending", "values")

    def __init__(self, model: TypeModel) -> None:
        self.model = model
        self.values: dict[str, str | None] = {}
        self.pending: dict[str, str] = {}

    def get(self, key: str) -> str | None:
        """The live wire value of ``key`` (``None``: known but not set)."""
        if key in self.values:
            return self.values[key]
        return self.model.defaults.get(key)

    def put(self, key: str, text: str | None) -> None:
        """Store a live value (shared default -> the override is dropped)."""
        if key in self.model.defaults and self.model.defaults[key] == text:
            self.values.pop(key, None)
        else:
            self.values[key] = text

    def change(self, key: str, text: str) -> str:
        """Apply a ChangeConfiguration / SetVariables value; the OCPP status of the answer.

        ``NotSupported`` (unknown key), ``Rejected`` (read-only or a value outside its
        type and bounds), ``RebootRequired`` (stored as pending until a reboot) or
        ``Accepted``.
        """
        spec = self.model.specs.get(key)
        if spec is None:
            return "NotSupported"
        if not spec.settable or self.model.check(key, text) is not None:
            return "Rejected"
        text = self.model.normalise(key, text)
        if key in self.model.reboot_keys:
            self.pending[key] = text
            return "RebootRequired"
        self.put(key, text)
        return "Accepted"

    def reboot(self) -> list[str]:
        """Apply the pending values (as a reboot does); the keys applied."""
        applied = sorted(self.pending)
        for key in applied:
            self.put(key, self.pending.pop(key))
        return applied

    def drift(self, parameters: Mapping[str, Any]) -> None:
        """Change live values without any OCPP call (JSON values of the key's type, or strings)."""
        for key, value in parameters.items():
            spec = self.model.specs.get(key)
            self.put(key, value if isinstance(value, str) else to_wire(spec, value))

    def snapshot(self) -> dict[str, Any]:
        """Readable live values as JSON values of their type (write-only keys and secrets left out)."""
        shown: dict[str, Any] = {}
        for key, spec in self.model.specs.items():
            text = self.get(key)
            if spec.readable and spec.type != "secret" and text is not None:
                shown[key] = from_wire(spec, text)
        return shown

    def password(self) -> str | None:
        """The current HTTP Basic password (the protocol's password key), if set."""
        return self.get(self.model.password_key) if self.model.password_key else None
