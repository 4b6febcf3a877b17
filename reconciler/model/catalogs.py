"""The parameter syntax: which keys a gateway type understands, per firmware.

A :class:`ParameterSpec` is one catalog entry (docs/reference/catalog.md); a
:class:`Catalog` holds the specs of all gateway types and answers the
questions validation and planning ask: does type T know key K, in which
section, is value V acceptable, which keys does T@F understand and with which
firmware defaults.  Loading the YAML files is the ``loading`` layer's job.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from typing import Annotated, Any, Literal

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from reconciler.model.valuechecks import SECRET_NAME_PATTERN as SECRET_NAME_PATTERN
from reconciler.model.valuechecks import check_secret_reference as check_secret_reference
from reconciler.model.valuechecks import check_secret_value as check_secret_value
from reconciler.model.valuechecks import check_text as check_text
from reconciler.model.valuechecks import check_value as check_value
from reconciler.model.valuechecks import describe as describe

TYPE_PATTERN = r"^[A-Z][A-Z0-9_-]{1,31}$"
"""A gateway type's name, as the catalog files declare it (``LSX``, ``OCPP201``, ``ABB-TERRA``)."""

TYPE_NAME = re.compile(TYPE_PATTERN)

GatewayTypeName = Annotated[str, Field(pattern=TYPE_PATTERN)]
"""A gateway type in a file: any name of the pattern; which ones exist is the catalog's answer."""

ProtocolName = Literal["lg2wan", "ocpp1.6", "ocpp2.0.1"]
PROTOCOLS: tuple[str, ...] = ("lg2wan", "ocpp1.6", "ocpp2.0.1")

Access = Literal["read-write", "read-only", "write-only"]

SHIPPED_FOLDER = "catalog"
"""The package folder of the shipped catalog: one ``TYPE.yaml`` per gateway type."""


def shipped_type_names() -> tuple[str, ...]:
    """The shipped gateway types, from the names of the files in ``reconciler/catalog/`` (sorted).

    The loading layer checks that each file declares the type of its name; the
    catalog of a repository (:attr:`Catalog.types`) may hold more (``catalog.d``).
    """
    folder = resources.files("reconciler") / SHIPPED_FOLDER
    return tuple(
        sorted(
            entry.name.removesuffix(".yaml")
            for entry in folder.iterdir()
            if entry.name.endswith(".yaml")
        )
    )


GATEWAY_TYPES: tuple[str, ...] = shipped_type_names()
"""The shipped types (computed from the shipped files); a repository's own types are in its catalog."""

ParamType = Literal["integer", "decimal", "boolean", "string", "enum", "list", "secret"]

KEY_PATTERN = r"^[A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z0-9][A-Za-z0-9_-]*){0,2}$"
"""``Key`` (LG2WAN, OCPP 1.6) or ``Component.Variable[.Instance]`` (OCPP 2.0.1)."""
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]*$"
"""An OCPP 2.0.1 component, variable or instance name."""
SECTION_PATTERN = r"^[a-z][a-z0-9_]*$"

# Which bound fields make sense for which type; anything else is an error in the catalog.
_ALLOWED_BOUNDS: dict[str, frozenset[str]] = {
    "integer": frozenset({"min", "max"}),
    "decimal": frozenset({"min", "max"}),
    "boolean": frozenset(),
    "string": frozenset({"min_length", "max_length", "pattern"}),
    "secret": frozenset({"min_length", "max_length"}),
    "enum": frozenset({"values"}),
    "list": frozenset({"values", "min_items", "max_items"}),
}
_BOUND_FIELDS = (
    "min",
    "max",
    "min_length",
    "max_length",
    "pattern",
    "values",
    "min_items",
    "max_items",
)


def parse_version(text: str) -> Version | None:
    """A firmware version, or ``None`` when ``text`` is not a dotted version."""
    try:
        return Version(text)
    except InvalidVersion:
        return None


class ParameterSpec(BaseModel):
    """One parameter of one gateway type: its place, type, bounds and firmware range."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    key: Annotated[str, Field(pattern=KEY_PATTERN)]
    section: Annotated[str, Field(pattern=SECTION_PATTERN)]
    type: ParamType
    min: int | float | None = None
    max: int | float | None = None
    min_length: int | None = Field(default=None, ge=0)
    max_length: int | None = Field(default=None, ge=1)
    pattern: str | None = None
    values: list[str] | None = None
    min_items: int | None = Field(default=None, ge=0)
    max_items: int | None = Field(default=None, ge=1)
    unit: str | None = None
    default: Any = None
    firmware: str = ""
    description: str = ""
    access: Access = "read-write"
    reboot: bool = False
    component: Annotated[str, Field(pattern=NAME_PATTERN)] | None = None
    variable: Annotated[str, Field(pattern=NAME_PATTERN)] | None = None
    instance: Annotated[str, Field(pattern=NAME_PATTERN)] | None = None

    @field_validator("firmware")
    @classmethod
    def _firmware_is_specifier(cls, value: str) -> str:
        try:
            SpecifierSet(value)
        except InvalidSpecifier:
            raise ValueError(f"'{value}' is not a version range such as '>=2.0.0,<3.0.0'") from None
        return value

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"pattern does not compile: {exc}") from None
        return value

    @model_validator(mode="after")
    def _bounds_fit_type(self) -> ParameterSpec:
        allowed = _ALLOWED_BOUNDS[self.type]
        for name in _BOUND_FIELDS:
            if getattr(self, name) is not None and name not in allowed:
                raise ValueError(f"'{name}' does not apply to a parameter of type {self.type}")
        if self.type in ("enum", "list") and not self.values:
            raise ValueError(f"a parameter of type {self.type} needs 'values'")
        if self.type == "secret":
            if self.default is not None:
                raise ValueError("a secret has no default")
            if self.access == "read-only":
                raise ValueError("a secret cannot be read-only: it is only ever written")
        elif self.default is not None:  # null: a device-specific value, no default
            problem = check_value(self, self.default)
            if problem is not None:
                raise ValueError(f"default {self.default!r}: {problem}")
        if self.component is not None or self.variable is not None or self.instance is not None:
            if self.component is None or self.variable is None:
                raise ValueError("an OCPP 2.0.1 entry needs both 'component' and 'variable'")
            address = ".".join(p for p in (self.component, self.variable, self.instance) if p)
            if self.key != address:
                raise ValueError(
                    f"key must be component.variable[.instance], '{address}', got '{self.key}'"
                )
        return self

    @property
    def settable(self) -> bool:
        """Whether a profile or a gateway's subsettings may set this key (not read-only)."""
        return self.access != "read-only"

    @property
    def readable(self) -> bool:
        """Whether the gateway reports this key's value back (not write-only)."""
        return self.access != "write-only"

    @cached_property
    def specifier(self) -> SpecifierSet:
        return SpecifierSet(self.firmware)

    @cached_property
    def compiled_pattern(self) -> re.Pattern[str] | None:
        return re.compile(self.pattern) if self.pattern is not None else None

    def supports(self, firmware: Version) -> bool:
        """Whether a gateway running ``firmware`` understands this key."""
        return not self.firmware or self.specifier.contains(firmware, prereleases=True)

    def bounds_text(self) -> str:
        """The bounds in words, for error messages and docs."""
        unit = f" {self.unit}" if self.unit else ""
        if self.type in ("integer", "decimal"):
            kind = "an integer" if self.type == "integer" else "a number"
            if self.min is not None and self.max is not None:
                return f"{kind} from {self.min} to {self.max}{unit}"
            if self.min is not None:
                return f"{kind} of at least {self.min}{unit}"
            if self.max is not None:
                return f"{kind} of at most {self.max}{unit}"
            return kind
        if self.type == "boolean":
            return "true or false"
        if self.type == "enum":
            return "one of " + ", ".join(self.values or ())
        if self.type == "list":
            return (
                f"a list of {self.min_items or 0}..{self.max_items or 'any'} items from "
                + ", ".join(self.values or ())
            )
        if self.type == "secret":
            return "a secret reference {secret: NAME}"
        low, high = self.min_length or 0, self.max_length
        return f"a string of {low}..{high if high is not None else 'any'} characters" + (
            f" matching {self.pattern}" if self.pattern else ""
        )


@dataclass(frozen=True)
class TypeCatalog:
    """The parameter syntax of one gateway type, across all its firmware versions."""

    gateway_type: str
    specs: Mapping[str, ParameterSpec]
    protocol: ProtocolName = "lg2wan"
    extends: str | None = None
    """The type this one started from (its keys are in :attr:`specs` already)."""
    match: Mapping[str, str] = field(default_factory=dict)
    """``vendor``/``model`` -> regex: how an OCPP head-end recognises chargers of this type."""
    source: str | None = None
    """The ``catalog.d`` file that defined this type; ``None`` for a shipped type."""
    sections: Mapping[str, tuple[str, ...]] = field(init=False)

    def __post_init__(self) -> None:
        sections: dict[str, list[str]] = {}
        for spec in self.specs.values():
            sections.setdefault(spec.section, []).append(spec.key)
        object.__setattr__(self, "sections", {name: tuple(keys) for name, keys in sections.items()})

    def for_firmware(self, firmware: Version) -> dict[str, ParameterSpec]:
        """The keys a gateway of this type running ``firmware`` understands."""
        return {key: spec for key, spec in self.specs.items() if spec.supports(firmware)}

    def unrestricted(self) -> dict[str, ParameterSpec]:
        """The keys without a firmware range: all a gateway whose firmware is not a version gets."""
        return {key: spec for key, spec in self.specs.items() if not spec.firmware}

    @property
    def shipped(self) -> bool:
        return self.source is None

    def matches(self, vendor: str, model: str) -> bool:
        """Whether a charger reporting ``vendor`` and ``model`` is of this type (``False`` without ``match``)."""
        if not self.match:
            return False
        given = {"vendor": vendor, "model": model}
        return all(re.fullmatch(rx, given[name]) is not None for name, rx in self.match.items())


@dataclass(frozen=True)
class Catalog:
    """The parameter syntax of every gateway type (shipped plus the repo's ``catalog.d``)."""

    types: Mapping[str, TypeCatalog]

    @classmethod
    def from_specs(cls, specs: Mapping[str, Iterable[ParameterSpec]]) -> Catalog:
        return cls({t: TypeCatalog(t, {s.key: s for s in entries}) for t, entries in specs.items()})

    @property
    def type_names(self) -> tuple[str, ...]:
        """Every gateway type of this catalog: shipped and the repository's own."""
        return tuple(self.types)

    @property
    def shipped_type_names(self) -> tuple[str, ...]:
        return tuple(t for t, c in self.types.items() if c.shipped)

    def spec(self, gateway_type: str, key: str) -> ParameterSpec | None:
        catalog = self.types.get(gateway_type)
        return catalog.specs.get(key) if catalog else None

    def for_gateway(self, gateway_type: str, firmware: Version) -> dict[str, ParameterSpec]:
        """The syntax of T@F: every key a gateway of that type and firmware understands."""
        return self.types[gateway_type].for_firmware(firmware)
