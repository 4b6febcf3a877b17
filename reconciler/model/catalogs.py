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
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any, Literal

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class GatewayType(StrEnum):
    """The three LG2WAN gateway types."""

    LSX = "LSX"
    LSG = "LSG"
    ACCU = "ACCU"


GatewayTypeName = Literal["LSX", "LSG", "ACCU"]
"""The type as it appears in files (strict validation compares strings, not enum members)."""

GATEWAY_TYPES: tuple[str, ...] = tuple(t.value for t in GatewayType)

ParamType = Literal["integer", "decimal", "boolean", "string", "enum", "list", "secret"]

KEY_PATTERN = r"^[A-Za-z][A-Za-z0-9]*$"
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
        else:
            problem = check_value(self, self.default)
            if problem is not None:
                raise ValueError(f"default {self.default!r}: {problem}")
        return self

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


_TYPE_WORDS = {
    bool: "boolean",
    int: "integer",
    float: "decimal",
    str: "string",
    list: "list",
    dict: "mapping",
}


def describe(value: Any) -> str:
    """A value as a user wrote it, with its YAML type: ``string '900'``, ``null``."""
    if value is None:
        return "null"
    word = _TYPE_WORDS.get(type(value), type(value).__name__)
    if isinstance(value, str):
        return f"string '{value}'"
    if isinstance(value, (dict, list)):
        return word
    return f"{word} {value!r}".replace("True", "true").replace("False", "false")


def check_value(spec: ParameterSpec, value: Any) -> str | None:
    """Why ``value`` is not acceptable for ``spec``, or ``None`` when it is.

    Strict: the string "900" is not an integer, ``true`` is not an integer,
    1.5 is not an integer, ``yes`` (a string in YAML 1.2) is not a boolean.
    A secret must be a reference ``{secret: NAME}``; a literal is refused.
    """
    kind = spec.type
    if kind == "integer":
        if type(value) is not int:
            return f"expected {spec.bounds_text()}, got {describe(value)}"
        return _check_range(spec, value)
    if kind == "decimal":
        if (
            type(value) not in (int, float)
            or value != value
            or value in (float("inf"), float("-inf"))
        ):
            return f"expected {spec.bounds_text()}, got {describe(value)}"
        return _check_range(spec, value)
    if kind == "boolean":
        if type(value) is not bool:
            return f"expected true or false, got {describe(value)}"
        return None
    if kind == "enum":
        if type(value) is not str or value not in (spec.values or ()):
            return f"expected {spec.bounds_text()}, got {describe(value)}"
        return None
    if kind == "list":
        if type(value) is not list:
            return f"expected {spec.bounds_text()}, got {describe(value)}"
        for item in value:
            if type(item) is not str or item not in (spec.values or ()):
                return f"list item {describe(item)} is not one of " + ", ".join(spec.values or ())
        if len(set(value)) != len(value):
            return "list items must not repeat"
        if spec.min_items is not None and len(value) < spec.min_items:
            return f"expected at least {spec.min_items} items, got {len(value)}"
        if spec.max_items is not None and len(value) > spec.max_items:
            return f"expected at most {spec.max_items} items, got {len(value)}"
        return None
    if kind == "secret":
        return check_secret_reference(value)
    # string
    if type(value) is not str:
        return f"expected {spec.bounds_text()}, got {describe(value)}"
    return check_text(spec, value)


def check_text(spec: ParameterSpec, value: str) -> str | None:
    """Length and pattern checks of a string; its message shows the value (a resolved
    secret is checked by :func:`check_secret_value`, which does not)."""
    if spec.min_length is not None and len(value) < spec.min_length:
        return f"expected at least {spec.min_length} characters, got {len(value)}"
    if spec.max_length is not None and len(value) > spec.max_length:
        return f"expected at most {spec.max_length} characters, got {len(value)}"
    pattern = spec.compiled_pattern
    if pattern is not None and pattern.fullmatch(value) is None:
        return f"'{value}' does not match the pattern {spec.pattern}"
    return None


def check_secret_value(spec: ParameterSpec, value: str) -> str | None:
    """Why a resolved secret value does not fit ``spec`` (length, pattern), or ``None``.

    The rule broken and the catalog's bounds, never the value nor its length: the
    answer reaches plans, logs and the store (a Declined gateway's reason).
    """
    bounds = f"{spec.min_length or 0}..{spec.max_length if spec.max_length is not None else 'any'}"
    if spec.min_length is not None and len(value) < spec.min_length:
        return f"shorter than {spec.min_length} characters (the catalog wants {bounds})"
    if spec.max_length is not None and len(value) > spec.max_length:
        return f"longer than {spec.max_length} characters (the catalog wants {bounds})"
    pattern = spec.compiled_pattern
    if pattern is not None and pattern.fullmatch(value) is None:
        return f"does not match the pattern {spec.pattern}"
    return None


SECRET_NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


def check_secret_reference(value: Any) -> str | None:
    """A secret in git is ``{secret: NAME}``; anything else (above all a literal) is refused."""
    if isinstance(value, dict) and set(value) == {"secret"}:
        name = value["secret"]
        if isinstance(name, str) and SECRET_NAME_PATTERN.fullmatch(name):
            return None
        return f"secret name must match {SECRET_NAME_PATTERN.pattern}, got {describe(name)}"
    if isinstance(value, str):
        return "a literal secret value is not allowed in git; write {secret: NAME} and provide RECONCILER_SECRET_NAME or a file in RECONCILER_SECRETS_DIR"
    return f"expected a secret reference {{secret: NAME}}, got {describe(value)}"


def _check_range(spec: ParameterSpec, value: float) -> str | None:
    if (spec.min is not None and value < spec.min) or (spec.max is not None and value > spec.max):
        return f"expected {spec.bounds_text()}, got {value}"
    return None


@dataclass(frozen=True)
class TypeCatalog:
    """The parameter syntax of one gateway type, across all its firmware versions."""

    gateway_type: str
    specs: Mapping[str, ParameterSpec]
    sections: Mapping[str, tuple[str, ...]] = field(init=False)

    def __post_init__(self) -> None:
        sections: dict[str, list[str]] = {}
        for spec in self.specs.values():
            sections.setdefault(spec.section, []).append(spec.key)
        object.__setattr__(self, "sections", {name: tuple(keys) for name, keys in sections.items()})

    def for_firmware(self, firmware: Version) -> dict[str, ParameterSpec]:
        """The keys a gateway of this type running ``firmware`` understands."""
        return {key: spec for key, spec in self.specs.items() if spec.supports(firmware)}


@dataclass(frozen=True)
class Catalog:
    """The parameter syntax of every gateway type (shipped plus the repo's ``catalog.d``)."""

    types: Mapping[str, TypeCatalog]

    @classmethod
    def from_specs(cls, specs: Mapping[str, Iterable[ParameterSpec]]) -> Catalog:
        return cls({t: TypeCatalog(t, {s.key: s for s in entries}) for t, entries in specs.items()})

    def spec(self, gateway_type: str, key: str) -> ParameterSpec | None:
        catalog = self.types.get(gateway_type)
        return catalog.specs.get(key) if catalog else None

    def for_gateway(self, gateway_type: str, firmware: Version) -> dict[str, ParameterSpec]:
        """The syntax of T@F: every key a gateway of that type and firmware understands."""
        return self.types[gateway_type].for_firmware(firmware)
