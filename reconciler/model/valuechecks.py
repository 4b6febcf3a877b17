"""Whether a value fits a catalog entry: the strict checks of docs/reference/catalog.md.

Used by the catalog itself (a default must fit its entry), by validation of
profiles and subsettings, by the planner (resolved secrets) and by the
simulator.  Re-exported by :mod:`reconciler.model.catalogs`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reconciler.model.catalogs import ParameterSpec

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


def kind(value: Any) -> str:
    """A value's YAML type alone (``integer``, ``string``): for secrets, whose values are never quoted."""
    return "null" if value is None else _TYPE_WORDS.get(type(value), type(value).__name__)


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
        # Not quoted: a value pasted where its name belongs would reach logs and reports.
        return f"secret name must match {SECRET_NAME_PATTERN.pattern}, got a {kind(name)} that does not"
    if isinstance(value, str):
        return "a literal secret value is not allowed in git; write {secret: NAME} and provide RECONCILER_SECRET_NAME or a file in RECONCILER_SECRETS_DIR"
    return (
        f"expected a secret reference {{secret: NAME}}, got {kind(value)} (its value is not shown)"
    )


def _check_range(spec: ParameterSpec, value: float) -> str | None:
    if (spec.min is not None and value < spec.min) or (spec.max is not None and value > spec.max):
        return f"expected {spec.bounds_text()}, got {value}"
    return None
