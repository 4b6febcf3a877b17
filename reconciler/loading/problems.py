"""Problems found in one file, addressed by YAML path until a position is looked up.

Checks run on plain values (fast); only files that have problems are
composed again to turn a :class:`Problem`'s path into line and column.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from reconciler.model.catalogs import describe


@dataclass(frozen=True, slots=True)
class Problem:
    """A problem at ``path`` in a file; ``at_key`` points at the mapping key rather than its value.

    ``related`` names another place (file, path) whose position is appended to
    the message, e.g. where a duplicate gateway id was first declared.
    """

    path: tuple[str | int, ...]
    code: str
    message: str
    at_key: bool = False
    related: tuple[str, tuple[str | int, ...]] | None = None


_TYPE_NAMES = {
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "string_type": "a string",
    "bool_type": "true or false",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
    "tuple_type": "a list",
}


def problems_from_validation(
    error: ValidationError, model: type[Any], prefix: tuple[str | int, ...] = ()
) -> list[Problem]:
    """Translate pydantic's errors into problems with plain-language messages."""
    problems: list[Problem] = []
    for item in error.errors(include_url=False):
        loc = tuple(item["loc"])
        kind = item["type"]
        value = item.get("input")
        at_key = False
        if loc and loc[-1] == "[key]":
            loc, at_key = loc[:-1], True
        if kind in ("extra_forbidden", "unexpected_keyword_argument"):  # models, dataclasses
            allowed = _allowed_keys(model, loc[:-1])
            expected = f"; expected one of: {', '.join(allowed)}" if allowed else ""
            message, at_key = f"unknown key '{loc[-1]}'{expected}", True
        elif kind == "missing":
            message = f"missing required key '{loc[-1]}'"
            loc = loc[:-1]
        elif kind in _TYPE_NAMES:
            message = f"{_field(loc)}expected {_TYPE_NAMES[kind]}, got {describe(value)}"
        elif kind in ("enum", "literal_error"):
            expected = item.get("ctx", {}).get("expected", "")
            message = f"{_field(loc)}expected {expected}, got {describe(value)}"
        elif kind == "string_pattern_mismatch":
            pattern = item.get("ctx", {}).get("pattern", "")
            message = f"{_field(loc)}{describe(value)} does not match {pattern}"
        elif kind in _BOUNDS:
            limit = next(iter(item.get("ctx", {}).values()), "")
            message = f"{_field(loc)}expected {_BOUNDS[kind]} {limit}, got {value}"
        else:
            message = f"{_field(loc)}{item['msg'].removeprefix('Value error, ')}"
        problems.append(Problem(prefix + loc, _CODES.get(kind, "value"), message, at_key))
    return problems


_BOUNDS = {
    "greater_than_equal": "at least",
    "less_than_equal": "at most",
    "greater_than": "more than",
    "less_than": "less than",
}
_CODES = {
    "extra_forbidden": "unknown-key",
    "missing": "missing-key",
    **dict.fromkeys(_TYPE_NAMES, "type"),
}


def _field(loc: tuple[Any, ...]) -> str:
    """``"key: "`` for the innermost named key of a location, to start a message with."""
    names = [step for step in loc if isinstance(step, str)]
    return f"{names[-1]}: " if names else ""


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys the model accepts at ``loc``, for "unknown key" messages."""
    current: Any = model
    for step in loc:
        current = _unwrap(current)
        fields = _fields_of(current)
        if fields is not None:
            field = fields.get(str(step))
            if field is None:
                return []
            current = field.annotation
        else:
            args = typing.get_args(current)
            origin = typing.get_origin(current)
            if origin in (list, tuple) and args:
                current = args[0]
            elif origin is dict and len(args) == 2:
                current = args[1]
            else:
                return []
    fields = _fields_of(_unwrap(current))
    return list(fields) if fields is not None else []


def _fields_of(kind: Any) -> dict[str, FieldInfo] | None:
    """The fields of a pydantic model or pydantic dataclass, else ``None``."""
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        return dict(kind.model_fields)
    fields = getattr(kind, "__pydantic_fields__", None)
    return dict(fields) if isinstance(fields, dict) else None


def _unwrap(annotation: Any) -> Any:
    """``X | None`` and ``Annotated[X, ...]`` -> ``X``."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            options = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(options) != 1:
                return annotation
            annotation = options[0]
        else:
            return annotation
