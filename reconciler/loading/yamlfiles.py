"""Fast, position-aware YAML loading for config files (the ``loading`` layer).

Called by :mod:`reconciler.loading.repos` for every file of a config repository.

Why not ``YAML(typ="safe").load``: profiling showed most of its time goes to
ruamel's versioned resolver (a Python regex walk per scalar) and its generic
constructor.  Here libyaml (ruamel.yaml.clib's ``CParser``) composes the node
graph in C, a small cached YAML 1.2 core-schema resolver tags the scalars, and
:func:`construct` turns nodes into plain ``dict``/``list``/scalars in one tight
pass.  The node graph carries line and column of every key and value, so an
error found later (by the schema or the catalog) is located by walking the
nodes along the error's path (:func:`locate`) instead of parsing again.

Refused on purpose, each with a located :class:`YamlError`: aliases and anchors
(they make "billion laughs" documents possible and configs harder to review),
duplicate keys, explicit tags other than the core ones, more than one
document, non-mapping keys, files above :data:`MAX_FILE_BYTES`, non-UTF-8
bytes, and nesting deeper than :data:`MAX_DEPTH`.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from _ruamel_yaml import CParser
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.tag import Tag

from reconciler.errors import YamlError as YamlError

MAX_FILE_BYTES = 16 * 1024 * 1024
"""Largest config file accepted (16 MiB): a gateways file of ~150,000 entries.

Bigger files are refused with a clear error rather than risking memory; split
them, gateways.d may hold any number of files."""

MAX_DEPTH = 64
"""Deepest nesting accepted; config files need 5 levels, a deeper document is hostile."""

MAX_INT_DIGITS = 64
"""Longest integer accepted (digits); no parameter needs more, and Python refuses past 4,300."""

SAFE_COMPOSE_DEPTH = 1_000
"""Nesting libyaml's recursive composer survives with room to spare (5,000 measured in a
worker thread's default stack); deeper files are refused before they are composed."""


Path = tuple[str | int, ...]


# --- resolution: YAML 1.2 core schema, plain scalars only ------------------

_NULL = frozenset({"", "~", "null", "Null", "NULL"})
_TRUE = frozenset({"true", "True", "TRUE"})
_FALSE = frozenset({"false", "False", "FALSE"})
_INT = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_INF_NAN = frozenset(
    {
        ".inf",
        ".Inf",
        ".INF",
        "+.inf",
        "+.Inf",
        "+.INF",
        "-.inf",
        "-.Inf",
        "-.INF",
        ".nan",
        ".NaN",
        ".NAN",
    }
)

T_STR = "tag:yaml.org,2002:str"
T_INT = "tag:yaml.org,2002:int"
T_FLOAT = "tag:yaml.org,2002:float"
T_BOOL = "tag:yaml.org,2002:bool"
T_NULL = "tag:yaml.org,2002:null"
T_MAP = "tag:yaml.org,2002:map"
T_SEQ = "tag:yaml.org,2002:seq"

# One Tag object per core tag: nodes share them, so construction compares by
# identity instead of calling Tag.__str__ (which profiling showed to dominate).
_TAG = {name: Tag(suffix=name) for name in (T_STR, T_INT, T_FLOAT, T_BOOL, T_NULL, T_MAP, T_SEQ)}
_TAG_NAMES = {id(tag): name for name, tag in _TAG.items()}


_INTERN_MAX = 64
"""Strings up to this length are interned: loading 100,000 gateways then holds ~30 MB less."""


@lru_cache(maxsize=65536)
def _resolve_plain(value: str) -> Tag:
    if value in _NULL:
        return _TAG[T_NULL]
    if value in _TRUE or value in _FALSE:
        return _TAG[T_BOOL]
    first = value[0]
    if first.isdigit() or first in "+-.":
        if _INT.fullmatch(value):
            return _TAG[T_INT]
        if _FLOAT.fullmatch(value) or value in _INF_NAN:
            return _TAG[T_FLOAT]
    return _TAG[T_STR]


class _Loader(CParser):  # type: ignore[misc]
    """libyaml composer with our resolver; CParser calls these three hooks."""

    def __init__(self, text: str) -> None:
        CParser.__init__(self, text)

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        return None

    def ascend_resolver(self) -> None:
        return None

    def resolve(self, kind: type, value: Any, implicit: tuple[bool, bool]) -> Tag:
        if kind is ScalarNode:
            return _resolve_plain(value) if implicit[0] else _TAG[T_STR]
        return _TAG[T_SEQ] if kind is SequenceNode else _TAG[T_MAP]


# --- construction ------------------------------------------------------------


def _line_col(node: Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _tag_name(node: Node) -> str:
    """The node's tag as a string; fast for resolved tags, exact for explicit ones (``!!str``)."""
    name = _TAG_NAMES.get(id(node.ctag))
    return name if name is not None else str(node.ctag)


def _scalar(node: ScalarNode) -> Any:
    tag = _tag_name(node)
    value: str = node.value
    if tag == T_STR:
        # Keys, types, profile names and label values repeat across 100,000 entries:
        # one shared string each instead of one per occurrence (measured below).
        return sys.intern(value) if len(value) <= _INTERN_MAX else value
    if tag == T_INT:
        if _INT.fullmatch(value) is None:
            raise YamlError(f"'{value}' is not an integer", *_line_col(node))
        if len(value) > MAX_INT_DIGITS:
            raise YamlError(
                f"integer of {len(value):,} characters; at most {MAX_INT_DIGITS} are accepted",
                *_line_col(node),
                code="yaml-int-too-long",
            )
        if value.startswith("0o"):
            return int(value[2:], 8)
        if value.startswith("0x"):
            return int(value[2:], 16)
        return int(value)
    if tag == T_FLOAT:
        if value in _INF_NAN:
            low = value.lower()
            return math.nan if low == ".nan" else (-math.inf if low[0] == "-" else math.inf)
        try:
            return float(value)
        except ValueError:
            raise YamlError(f"'{value}' is not a number", *_line_col(node)) from None
    if tag == T_BOOL:
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise YamlError(f"'{value}' is not a boolean (true or false)", *_line_col(node))
    if tag == T_NULL:
        return None
    raise YamlError(f"unsupported tag {tag!r}", *_line_col(node), code="yaml-tag")


def construct(root: Node) -> Any:
    """Build plain Python values from a composed node graph.

    Raises :class:`YamlError` for aliases (a node met twice), duplicate or
    non-scalar keys, unknown tags and too deep nesting.
    """
    # A module function, not a closure: a recursive closure is a reference cycle (holding the
    # set of seen nodes, ~30 KB a file), and the loader freezes what survives it
    # (:func:`reconciler.loading.bulk.paused_gc`), so the cycle would never be freed.
    return _build(root, 0, set())


def _build(node: Node, depth: int, seen: set[int]) -> Any:
    if depth > MAX_DEPTH:
        raise YamlError(f"nesting deeper than {MAX_DEPTH} levels", *_line_col(node))
    if type(node) is ScalarNode:
        return _scalar(node)
    ident = id(node)
    if ident in seen:
        raise YamlError(
            "anchors and aliases are not supported in config files; write the value out",
            *_line_col(node),
            code="yaml-alias",
        )
    seen.add(ident)
    if type(node) is MappingNode:
        if _tag_name(node) != T_MAP:
            raise YamlError(f"unsupported tag {node.tag!s}", *_line_col(node), code="yaml-tag")
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if type(key_node) is not ScalarNode:
                raise YamlError("mapping keys must be plain scalars", *_line_col(key_node))
            key = _scalar(key_node)
            if key == "<<" and key_node.style is None:
                raise YamlError("merge keys (<<) are not supported", *_line_col(key_node))
            if key in result:
                raise YamlError(
                    f"duplicate key '{key}'", *_line_col(key_node), code="yaml-duplicate-key"
                )
            result[key] = _build(value_node, depth + 1, seen)
        return result
    if _tag_name(node) != T_SEQ:
        raise YamlError(f"unsupported tag {node.tag!s}", *_line_col(node), code="yaml-tag")
    return [_build(item, depth + 1, seen) for item in node.value]


def compose(text: str) -> Node | None:
    """Compose ``text`` into a node graph (``None`` for an empty or comment-only file)."""
    if "\t" in text:
        # libyaml reports a tab in indentation as a generic scanner error; say it plainly.
        for number, line in enumerate(text.splitlines(), start=1):
            stripped = line.lstrip(" ")
            if stripped.startswith("\t"):
                raise YamlError(
                    "tab character in indentation; YAML indents with spaces",
                    number,
                    len(line) - len(stripped) + 1,
                    code="yaml-tab",
                )
    if _may_nest_too_deep(text):
        _check_depth(text)
    loader = _Loader(text)
    try:
        return loader.get_single_node()  # type: ignore[no-any-return]
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        raise YamlError(
            message, mark.line + 1 if mark else 1, mark.column + 1 if mark else 1
        ) from None
    except YAMLError as exc:
        raise YamlError(str(exc).strip() or "invalid YAML", 1, 1) from None
    except RecursionError:
        raise YamlError(f"nesting deeper than {MAX_DEPTH} levels", 1, 1) from None
    finally:
        loader.dispose()


def _may_nest_too_deep(text: str) -> bool:
    """A cheap upper bound on nesting; ``True`` when the exact check must run first.

    libyaml's composer recurses in C once per level: 30,000 ``[`` (60 KB) overflow
    the process's stack (SIGSEGV, no message) before :func:`construct` could count
    levels against :data:`MAX_DEPTH`.  Flow levels are at most the file's count of
    ``[`` and ``{`` (quoted ones included: an over-estimate is safe); block levels
    on a line at most ``2 * indent`` plus its structural characters (``-``, ``?``,
    ``:``, ``[``, ``{``: the compact forms ``- - x`` and ``- a:``), so at most three
    times the longest line.  While that sum
    stays under :data:`SAFE_COMPOSE_DEPTH` the composer cannot overflow and
    :func:`construct` enforces the real limit; beyond it (a file of thousands of
    entries in flow style, or a hostile one) the exact event pass runs first.
    """
    # A line's indentation and structural characters are both at most its length.
    longest = max(map(len, text.split("\n")))
    return text.count("[") + text.count("{") + 3 * longest > SAFE_COMPOSE_DEPTH


def _check_depth(text: str) -> None:
    """Count levels over libyaml's parse events (iterative, no recursion) before composing."""
    parser = _Loader(text)
    depth = 0
    try:
        while parser.check_event():
            event = parser.get_event()
            name = type(event).__name__
            if name in ("MappingStartEvent", "SequenceStartEvent"):
                depth += 1
                if depth > MAX_DEPTH:
                    mark = event.start_mark
                    raise YamlError(
                        f"nesting deeper than {MAX_DEPTH} levels",
                        mark.line + 1,
                        mark.column + 1,
                        code="yaml-depth",
                    )
            elif name in ("MappingEndEvent", "SequenceEndEvent"):
                depth -= 1
    except YAMLError:
        # Not YAML at all: composing reports it with its position.
        return
    finally:
        parser.dispose()


def decode(data: bytes) -> str:
    """UTF-8 text of a file's bytes; the error locates the first bad byte."""
    if len(data) > MAX_FILE_BYTES:
        raise YamlError(
            f"file is larger than the limit of {MAX_FILE_BYTES:,} bytes; split it into several files",
            1,
            1,
            code="file-too-large",
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        column = exc.start - (before.rfind(b"\n") + 1) + 1
        raise YamlError(
            f"invalid UTF-8 byte 0x{data[exc.start]:02x}; config files must be UTF-8",
            line,
            column,
            code="encoding",
        ) from None
    return text.removeprefix("\ufeff")


def locate(
    root: Node | None, path: Sequence[str | int], *, at_key: bool = False
) -> tuple[int, int]:
    """Line and column (1-based) of the node at ``path``, or of its nearest existing parent.

    With ``at_key`` the position of the mapping key itself is returned, which is
    where an "unknown key" error should point.
    """
    if root is None:
        return 1, 1
    node: Node = root
    position = _line_col(node)
    for index, step in enumerate(path):
        last = index == len(path) - 1
        if type(node) is MappingNode:
            for key_node, value_node in node.value:
                if type(key_node) is ScalarNode and key_node.value == str(step):
                    position = _line_col(key_node if (last and at_key) else value_node)
                    node = value_node
                    break
            else:
                return position
        elif type(node) is SequenceNode and isinstance(step, int) and 0 <= step < len(node.value):
            node = node.value[step]
            position = _line_col(node)
        else:
            return position
    return position
