"""ruamel.yaml round trip for config files: load, dump, move comments with keys, check the diff.

The toolkit of :mod:`reconciler.editing.edits` (the edits the editing
commands make); pure functions of text, no I/O.  ruamel's round-trip mode keeps
comments, blank lines, key order, quotes and flow-style mappings; the file's
indentation is detected (:func:`detect_indent`).  ruamel attaches the comment
lines that follow a key to that key, so a key inserted after it, or the key
deleted, would drag the comment along: :func:`insert_after` and :func:`delete`
move those lines to the node that keeps them where they stood.
:func:`unexpected_changes` is the check every edit passes: only the lines of
the edited keys may change, and no blank or comment line may appear.
"""

from __future__ import annotations

import copy
import difflib
import io
import itertools
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark, YAMLError
from ruamel.yaml.tokens import CommentToken

from reconciler.errors import EditError

__all__ = ["EditError"]  # re-exported: the edits raise it by this name too

DEFAULT_INDENT = (2, 4, 2)
"""(mapping, sequence, offset) as in the example repository: ``  - id: X`` under ``gateways:``."""


# --- reading and writing ------------------------------------------------------


def detect_indent(text: str) -> tuple[int, int, int]:
    """(mapping, sequence, offset) indentation of ``text``; :data:`DEFAULT_INDENT` where it says nothing."""
    mapping, sequence, offset = DEFAULT_INDENT
    lines = [
        line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]
    for before, line in itertools.pairwise(lines):
        if not before.rstrip().endswith(":"):
            continue
        parent = len(before) - len(before.lstrip(" -"))
        stripped = line.lstrip(" ")
        column = len(line) - len(stripped)
        if stripped.startswith("- "):
            offset = column - parent
            sequence = offset + 2
            break
        if column > parent:
            mapping = column - parent
    return mapping, sequence, offset


def yaml_for(text: str) -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 1 << 16  # never fold a long line the author wrote on one line
    mapping, sequence, offset = detect_indent(text)
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    return yaml


def load(yaml: YAML, text: str) -> Any:
    try:
        return yaml.load(text)
    except YAMLError as exc:
        raise EditError(f"cannot be edited: not valid YAML ({exc})") from None


def dump(yaml: YAML, data: Any) -> str:
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def as_written(text: str, edit: Callable[[str], str]) -> str:
    """Run ``edit`` on ``text`` with ``\\n`` line ends and a final newline, as ruamel writes;
    then give the result the file's own line ends (``\\r\\n``) and missing final newline back."""
    crlf, bare = "\r\n" in text, bool(text) and not text.endswith("\n")
    if not crlf and not bare:
        return edit(text)
    result = edit(text.replace("\r\n", "\n") + ("\n" if bare else ""))
    if bare:
        result = result.removesuffix("\n")
    return result.replace("\n", "\r\n") if crlf else result


def plain(data: Any) -> Any:
    """Round-trip containers -> plain dicts and lists (to compare two edits' results)."""
    if isinstance(data, Mapping):
        return {str(k): plain(v) for k, v in data.items()}
    if isinstance(data, list):
        return [plain(v) for v in data]
    return data


# --- the fidelity check ------------------------------------------------------


def unexpected_changes(old: str, new: str, allowed: Iterable[int]) -> list[str]:
    """Lines of ``old`` that changed although not in ``allowed`` (0-based), and added blank/comment lines."""
    allowed = set(allowed)
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    found: list[str] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        found.extend(
            f"line {i + 1} would change: {a[i].rstrip()}" for i in range(i1, i2) if i not in allowed
        )
        for j in range(j1, j2):
            stripped = b[j].strip()
            if not stripped or stripped.startswith("#"):
                found.append(f"a blank or comment line would be added: {b[j].rstrip()!r}")
    return found


def unified_diff(path: str, old: str, new: str) -> str:
    """``git diff``-style text of one file's edit."""
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"a/{path}" if old else "/dev/null",
            tofile=f"b/{path}",
        )
    )


# --- comment-preserving mapping operations ------------------------------------


def _split_comment(token: CommentToken) -> tuple[str, str]:
    """A key's trailing comment -> (its end-of-line part, the full lines after it)."""
    value: str = token.value
    head, newline, rest = value.partition("\n")
    return head + newline, rest


def _trailing(mapping: CommentedMap, key: Any) -> tuple[CommentedMap, Any]:
    """Where a comment following ``key`` lives: the last key of its block-style value, recursively."""
    while True:
        value = mapping[key]
        if isinstance(value, CommentedMap) and value and not value.fa.flow_style():
            mapping, key = value, list(value)[-1]
        else:
            return mapping, key


def _take_lines(mapping: CommentedMap, key: Any) -> CommentToken | None:
    """Remove and return the full comment lines that follow ``key`` (its end-of-line comment stays)."""
    owner, last = _trailing(mapping, key)
    entry = owner.ca.items.get(last)
    if not entry or len(entry) < 3 or entry[2] is None:
        return None
    token = entry[2]
    head, rest = _split_comment(token)
    if head.strip():
        kept = copy.copy(token)
        kept.value = head
        entry[2] = kept
    else:
        entry[2] = None
        if not any(entry):
            del owner.ca.items[last]
    if not rest:
        return None
    moved: CommentToken = copy.copy(token)
    moved.value = "\n" + rest
    return moved


def _give_lines(mapping: CommentedMap, key: Any, lines: CommentToken | None) -> None:
    """Attach comment lines (from :func:`_take_lines`) after ``key`` (after its block-style value)."""
    if lines is None:
        return
    owner, last = _trailing(mapping, key)
    entry = owner.ca.items.setdefault(last, [None, None, None, None])
    while len(entry) < 4:
        entry.append(None)
    if entry[2] is None:
        entry[2] = lines
    else:
        entry[2] = _join(entry[2], lines)


def insert_after(mapping: CommentedMap, after: Any | None, key: str, value: Any) -> None:
    """Insert ``key`` right after ``after`` (``None``: at the end); comment lines below ``after`` stay below the new key."""
    keys = list(mapping)
    if after is None:
        after = keys[-1] if keys else None
    position = keys.index(after) + 1 if after is not None else 0
    moved = _take_lines(mapping, after) if after is not None else None
    mapping.insert(position, key, value)
    _give_lines(mapping, key, moved)


def _join(first: CommentToken | None, second: CommentToken | None) -> CommentToken | None:
    if first is None or second is None:
        return first or second
    joined = copy.copy(first)
    joined.value = first.value + second.value.removeprefix("\n")
    return joined


def delete(
    mapping: CommentedMap, key: str, carried: CommentToken | None = None
) -> CommentToken | None:
    """Delete ``key``; the comment lines below it (and ``carried``) move to the key before it.

    When ``key`` was the only key, the lines are returned: the caller deletes
    the emptied mapping too and passes them on with ``carried``.
    """
    keys = list(mapping)
    moved = _join(carried, _take_lines(mapping, key))
    mapping.ca.items.pop(key, None)
    del mapping[key]
    index = keys.index(key)
    if moved is None:
        return None
    if index > 0:
        _give_lines(mapping, keys[index - 1], moved)
        return None
    if mapping:
        _put_first(mapping, moved)
        return None
    return moved


def _put_first(mapping: CommentedMap, lines: CommentToken) -> None:
    """Comment lines that now stand before the first key of ``mapping``."""
    tokens: list[CommentToken] = []
    for line in lines.value.removeprefix("\n").splitlines():
        text = line.strip()
        if not text and tokens:
            tokens[-1].value += "\n"
        else:
            tokens.append(CommentToken(text + "\n", CommentMark(len(line) - len(line.lstrip()))))
    before = mapping.ca.comment[1] if mapping.ca.comment and len(mapping.ca.comment) > 1 else None
    mapping.ca.comment = [None, [*(before or []), *tokens]]


def node_lines(mapping: CommentedMap, key: Any) -> set[int]:
    """0-based lines of ``key`` and its value (a block value spans several)."""
    first = mapping.lc.key(key)[0]
    last = first
    stack = [mapping[key]]
    while stack:
        node = stack.pop()
        if isinstance(node, CommentedMap) and node:
            for k in node:
                last = max(last, node.lc.key(k)[0])
            stack.extend(node.values())
        elif isinstance(node, CommentedSeq) and node:
            for i in range(len(node)):
                last = max(last, node.lc.item(i)[0])
            stack.extend(node)
    return set(range(first, last + 1))


def new_value(value: Any, old: Any = None) -> Any:
    """A Python value as a round-trip node: lists and mappings in flow style (``[a, b]``, ``{secret: N}``)."""
    if isinstance(value, list):
        seq = CommentedSeq(value)
        flow = old.fa.flow_style() if isinstance(old, CommentedSeq) else True
        seq.fa.set_flow_style() if flow else seq.fa.set_block_style()
        return seq
    if isinstance(value, dict):
        node = CommentedMap(value)
        node.fa.set_flow_style()
        return node
    return value


def scalar(value: Any) -> str:
    """A scalar as YAML text (quoted when plain text would read as something else)."""
    return dump(yaml_for(""), CommentedMap(v=value)).removeprefix("v: ").rstrip("\n")


def flow_text(value: Any) -> str:
    """A value as it is written in the file: ``16``, ``[Voltage, SoC]``, ``{secret: NAME}``."""
    return scalar(new_value(value))
