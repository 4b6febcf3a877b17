"""Round-trip edits of config files: YAML text in, YAML text out, only the intended lines changed.

Called by the editing commands (``reconciler profile new``, ``assign``,
``unassign``, ``set`` in :mod:`reconciler.cli`), which read and write the
files; everything here is a pure function of text, so a pull request made
from an edit shows only the lines the edit meant to change.

How: ruamel.yaml's round-trip mode (comments, blank lines, key order, quotes
and flow-style mappings such as ``labels: {site: x}`` survive), with the
indentation detected from the file.  ruamel attaches the comment lines that
follow a key to that key, so a key inserted after it, or the key deleted,
would drag the comment along; :func:`_insert_after` and :func:`_delete` move
those comment lines to the node that keeps them where they stood.

Every edit is then checked with :mod:`difflib` (:func:`unexpected_changes`):
the only old lines that may change are those of the edited keys, and no added
line may be blank or a comment.  Membership edits that fail the check fall
back to a minimal textual edit of the ``profile:`` lines (:func:`_textual_profiles`,
also taken at once for files above :data:`ROUND_TRIP_MAX_LINES`, where the round
trip is slow); any other edit that fails it raises :class:`EditError`, and the
caller writes nothing.  Line ends (``\r\n``) and a missing final newline are
kept (:func:`_as_written`).
"""

from __future__ import annotations

import copy
import difflib
import io
import itertools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark, YAMLError
from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode
from ruamel.yaml.tokens import CommentToken

from reconciler.loading import yamlfiles
from reconciler.model.catalogs import Catalog, ParameterSpec, check_value

DEFAULT_INDENT = (2, 4, 2)
"""(mapping, sequence, offset) as in the example repository: ``  - id: X`` under ``gateways:``."""


ROUND_TRIP_MAX_LINES = 4000
"""Above this many lines (about 1,000 entries), membership edits skip ruamel's round trip.

Round-trip loading and dumping cost about 0.7 ms per entry (measured: 5,000
entries, 2.6 s load + 1.4 s dump), so a bulk ``assign`` over large files
would take minutes; the textual edit of :func:`_textual_profiles` changes the
same lines in a fraction of that and is checked by re-reading the result."""


class EditError(Exception):
    """An edit that cannot be made as asked; the message says why and what to do."""


@dataclass(frozen=True)
class NewEntry:
    """A gateway entry to append to a gateways file."""

    gateway_id: str
    type: str
    profile: str


Key = tuple[str, str]
"""``(SECTION, Key)`` of a subsetting."""


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


def _yaml(text: str) -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 1 << 16  # never fold a long line the author wrote on one line
    mapping, sequence, offset = detect_indent(text)
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    return yaml


def _load(yaml: YAML, text: str) -> Any:
    try:
        return yaml.load(text)
    except YAMLError as exc:
        raise EditError(f"cannot be edited: not valid YAML ({exc})") from None


def _dump(yaml: YAML, data: Any) -> str:
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def _as_written(text: str, edit: Callable[[str], str]) -> str:
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


def _insert_after(mapping: CommentedMap, after: Any | None, key: str, value: Any) -> None:
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


def _delete(
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


def _node_lines(mapping: CommentedMap, key: Any) -> set[int]:
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


def _new_value(value: Any, old: Any = None) -> Any:
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


# --- gateways files: memberships ------------------------------------------------


def _entries(data: Any) -> dict[str, CommentedMap]:
    items = data.get("gateways") if isinstance(data, CommentedMap) else None
    if not isinstance(items, CommentedSeq):
        raise EditError(
            "cannot be edited: expected a mapping with the key 'gateways' holding a list"
        )
    return {
        str(item["id"]): item
        for item in items
        if isinstance(item, CommentedMap) and isinstance(item.get("id"), str)
    }


def set_profiles(text: str, changes: Mapping[str, str | None]) -> str:
    """Set (a name) or remove (``None``) the ``profile`` of the entries ``changes`` names."""
    return _as_written(text, lambda t: _set_profiles(t, changes))


def _set_profiles(text: str, changes: Mapping[str, str | None]) -> str:
    if text.count("\n") > ROUND_TRIP_MAX_LINES:
        return _textual_profiles(text, changes)
    yaml = _yaml(text)
    data = _load(yaml, text)
    entries = _entries(data)
    missing = sorted(set(changes) - set(entries))
    if missing:
        raise EditError(f"no entry for {', '.join(missing)}")
    allowed: set[int] = set()
    for gateway_id, profile in changes.items():
        entry = entries[gateway_id]
        if entry.fa.flow_style():  # `- {id: X, type: LSX}`: its line is the edited line
            allowed.add(entry.lc.line)
        if profile is None:
            if "profile" in entry:
                allowed |= _node_lines(entry, "profile")
                _delete(entry, "profile")
        elif "profile" in entry:
            if entry["profile"] != profile:
                allowed |= _node_lines(entry, "profile")
                entry["profile"] = profile
        else:
            _insert_after(entry, "type" if "type" in entry else "id", "profile", profile)
    new = _dump(yaml, data)
    if not unexpected_changes(text, new, allowed):
        return new
    return _textual_profiles(text, changes)


_PROFILE_LINE = re.compile(
    r"^(?P<lead>\s*(?:-\s+)?profile:\s*)(?P<value>[^#\s][^#]*?)(?P<tail>\s*(?:#.*)?)$"
)


def _compose(text: str) -> Any:
    try:
        return yamlfiles.compose(text)
    except yamlfiles.YamlError as exc:
        raise EditError(f"cannot be edited: not valid YAML ({exc})") from None


def _construct(root: Any) -> Any:
    try:
        return yamlfiles.construct(root)
    except yamlfiles.YamlError as exc:
        raise EditError(f"cannot be edited: not valid YAML ({exc})") from None


def _entry_nodes(root: Any) -> dict[str, MappingNode]:
    """Gateway id -> its entry's node, from the fast composer (no round-trip objects)."""
    items = None
    if isinstance(root, MappingNode):
        items = next((v for k, v in root.value if getattr(k, "value", None) == "gateways"), None)
    if not isinstance(items, SequenceNode):
        raise EditError(
            "cannot be edited: expected a mapping with the key 'gateways' holding a list"
        )
    found: dict[str, MappingNode] = {}
    for item in items.value:
        if isinstance(item, MappingNode):
            for key, value in item.value:
                if getattr(key, "value", None) == "id" and isinstance(value, ScalarNode):
                    found[value.value] = item
    return found


def _textual_profiles(text: str, changes: Mapping[str, str | None]) -> str:
    """Replace, insert or delete single ``profile:`` lines, located by libyaml; checked by re-reading.

    The fallback when the round trip would reformat other lines, and the path
    for large files (:data:`ROUND_TRIP_MAX_LINES`), since it costs a fraction
    of ruamel's round trip.
    """
    root = _compose(text)
    entries = _entry_nodes(root)
    missing = sorted(set(changes) - set(entries))
    if missing:
        raise EditError(f"no entry for {', '.join(missing)}")
    lines = text.splitlines(keepends=True)
    names = {p: _scalar(p) for p in set(changes.values()) if p is not None}
    edits: list[tuple[int, str | None, str | None]] = []  # (line, replacement, insertion)
    for gateway_id, profile in changes.items():
        node = entries[gateway_id]
        if node.flow_style:
            raise EditError(f"{gateway_id}: a flow-style entry cannot be edited line by line")
        keys = {k.value: (k, v) for k, v in node.value if isinstance(k, ScalarNode)}
        if "profile" in keys:
            key, value = keys["profile"]
            number = key.start_mark.line
            match = _PROFILE_LINE.match(lines[number].rstrip("\r\n"))
            if match is None or value.end_mark.line != number:
                raise EditError(f"{gateway_id}: the profile line is not a simple 'profile: NAME'")
            end = lines[number][len(lines[number].rstrip("\r\n")) :]
            if profile is None:
                if "-" in match["lead"]:
                    raise EditError(f"{gateway_id}: 'profile' opens the entry; edit it by hand")
                edits.append((number, "", None))
            elif value.value != profile:
                edits.append((number, f"{match['lead']}{names[profile]}{match['tail']}{end}", None))
        elif profile is not None:
            anchor = "type" if "type" in keys else "id"
            key, value = keys[anchor]
            number = key.start_mark.line
            if value.end_mark.line != number:
                raise EditError(f"{gateway_id}: '{anchor}' does not fit on one line")
            end = lines[number][len(lines[number].rstrip("\r\n")) :]
            indent = " " * key.start_mark.column
            edits.append((number, None, f"{indent}profile: {names[profile]}{end}"))
    # Bottom up, so that earlier line numbers stay valid (text ends with a newline: _as_written).
    for number, replacement, insertion in sorted(edits, key=lambda e: e[0], reverse=True):
        if insertion is not None:
            lines.insert(number + 1, insertion)
        elif replacement is not None:
            lines[number] = replacement
    result = "".join(lines)
    expected = _construct(root)
    for item in expected["gateways"]:
        if isinstance(item, dict) and item.get("id") in changes:
            profile = changes[item["id"]]
            if profile is None:
                item.pop("profile", None)
            else:
                item["profile"] = profile
    new_root = _compose(result)
    if new_root is None or _construct(new_root) != expected:
        raise EditError("cannot set the profile without reformatting other lines; edit it by hand")
    return result


def append_entries(text: str | None, new: Sequence[NewEntry]) -> str:
    """Append entries ``{id, type, profile}`` to a gateways file (``None``: a new file)."""
    if not text:
        return _append_entries(None, new)
    return _as_written(text, lambda t: _append_entries(t, new))


def _append_entries(text: str | None, new: Sequence[NewEntry]) -> str:
    rows = [CommentedMap(id=e.gateway_id, type=e.type, profile=e.profile) for e in new]
    if not text:
        yaml = _yaml("")
        return _dump(yaml, CommentedMap(gateways=CommentedSeq(rows)))
    yaml = _yaml(text)
    data = _load(yaml, text)
    _entries(data)
    data["gateways"].extend(rows)
    result = _dump(yaml, data)
    problems = unexpected_changes(text, result, ())
    if problems:
        raise EditError("cannot append without reformatting other lines: " + "; ".join(problems))
    return result


# --- gateways files: subsettings (Quick Config) -------------------------------


def set_subsettings(
    text: str, gateway_id: str, values: Mapping[Key, Any], unset: Iterable[Key] = ()
) -> str:
    """Set and remove subsettings of one gateway; emptied sections and ``subsettings`` go too."""
    return _as_written(text, lambda t: _set_subsettings(t, gateway_id, values, unset))


def _set_subsettings(
    text: str, gateway_id: str, values: Mapping[Key, Any], unset: Iterable[Key]
) -> str:
    yaml = _yaml(text)
    data = _load(yaml, text)
    entry = _entries(data).get(gateway_id)
    if entry is None:
        raise EditError(f"no entry for {gateway_id}")
    allowed: set[int] = {entry.lc.line} if entry.fa.flow_style() else set()
    block = entry.get("subsettings")
    if values and not isinstance(block, CommentedMap):
        if block is not None:  # `subsettings:` with nothing under it
            allowed |= _node_lines(entry, "subsettings")
            del entry["subsettings"]
        block = None
    fresh: dict[str, CommentedMap] = {}
    for (section, key), value in values.items():
        group = block.get(section) if block is not None else None
        if isinstance(group, CommentedMap):
            if key not in group:
                _insert_after(group, None, key, _new_value(value))
            elif plain(group[key]) != value:
                allowed |= _node_lines(group, key)
                group[key] = _new_value(value, group[key])
            continue
        if group is not None and block is not None:
            allowed |= _node_lines(block, section)
            del block[section]
        fresh.setdefault(section, CommentedMap())[key] = _new_value(value)
    # New maps are filled before they are inserted, so that comments moved
    # below them land after their last line, not after their key.
    if block is None and fresh:
        block = CommentedMap(fresh)
        anchor = next((k for k in ("profile", "type", "id") if k in entry), None)
        _insert_after(entry, anchor, "subsettings", block)
    elif block is not None:
        for section, group in fresh.items():
            _insert_after(block, None, section, group)
    for section, key in unset:
        group = block.get(section) if isinstance(block, CommentedMap) else None
        if not isinstance(group, CommentedMap) or key not in group:
            continue
        # Spans before the deletion: lines inside a deleted node may go with it.
        section_lines, block_lines = _node_lines(block, section), _node_lines(entry, "subsettings")
        allowed |= _node_lines(group, key)
        orphan = _delete(group, key)
        if not group:
            allowed |= section_lines
            orphan = _delete(block, section, orphan)
            if not block:
                allowed |= block_lines
                orphan = _delete(entry, "subsettings", orphan)
        if orphan is not None:
            raise EditError(f"cannot unset {section}.{key} without losing a comment; edit by hand")
    new = _dump(yaml, data)
    problems = unexpected_changes(text, new, allowed)
    if problems:
        raise EditError(
            "cannot edit the subsettings without reformatting other lines ("
            + "; ".join(problems[:3])
            + "); edit the file by hand"
        )
    return new


def parse_value(spec: ParameterSpec, text: str) -> Any:
    """A command-line VALUE -> the value of ``spec``'s type; :class:`ValueError` says why not.

    integer ``16``, decimal ``45.5``, boolean ``true``/``false``, enum and
    string as written, list ``a,b`` or ``[a, b]``, secret only ``{secret: NAME}``.
    """
    value: Any = text
    kind = spec.type
    if kind == "integer" and re.fullmatch(r"[-+]?[0-9]+", text):
        value = int(text)
    elif kind == "decimal" and re.fullmatch(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)", text):
        value = float(text) if "." in text else int(text)
    elif kind == "boolean" and text in ("true", "false"):
        value = text == "true"
    elif kind == "list":
        inner = text.strip()
        if inner.startswith("[") and inner.endswith("]"):
            inner = inner[1:-1]
        value = [item.strip() for item in inner.split(",") if item.strip()]
    elif kind == "secret" and text.strip().startswith("{"):
        match = re.fullmatch(r"\{\s*secret\s*:\s*([^{},\s]*)\s*\}", text.strip())
        value = {"secret": match.group(1)} if match else text
    problem = check_value(spec, value)
    if problem is not None:
        raise ValueError(problem)
    return value


# --- profiles ------------------------------------------------------------------


def rename_profile(text: str, name: str, description: str | None = None) -> str:
    """A copy of a profile file under another ``name`` (and ``description``), comments kept."""
    return _as_written(text, lambda t: _rename_profile(t, name, description))


def _rename_profile(text: str, name: str, description: str | None) -> str:
    yaml = _yaml(text)
    data = _load(yaml, text)
    if not isinstance(data, CommentedMap) or "name" not in data:
        raise EditError("cannot be copied: expected a profile mapping with 'name'")
    allowed = _node_lines(data, "name")
    data["name"] = name
    if description is not None:
        if "description" in data:
            allowed |= _node_lines(data, "description")
            data["description"] = description
        else:
            _insert_after(data, "name", "description", description)
    new = _dump(yaml, data)
    problems = unexpected_changes(text, new, allowed)
    if problems:
        raise EditError("cannot copy without reformatting other lines: " + "; ".join(problems[:3]))
    return new


SKELETON_KEYS = ("HeartbeatInterval", "MaxChargingCurrent")
"""Keys shown, commented out, in a new profile's block per type."""


def _scalar(value: Any) -> str:
    """A scalar as YAML text (quoted when plain text would read as something else)."""
    return _dump(_yaml(""), CommentedMap(v=value)).removeprefix("v: ").rstrip("\n")


def flow_text(value: Any) -> str:
    """A value as it is written in the file: ``16``, ``[Voltage, SoC]``, ``{secret: NAME}``."""
    return _scalar(_new_value(value))


def profile_skeleton(name: str, description: str | None, catalog: Catalog) -> str:
    """A new profile file: name, description, an empty block per gateway type with commented examples."""
    lines = [
        f"# Profile group {name}. Members are the entries in gateways.d with `profile: {name}`",
        f"# (reconciler assign {name} --query ...). Each block sets SECTION.Key values for one",
        "# gateway type, checked against its catalog (reconciler schema); an empty block",
        "# rolls out the firmware defaults. See docs/config-format.md.",
        f"name: {_scalar(name)}",
        f"description: {_scalar(description)}" if description else "# description: ...",
        "parameters:",
    ]
    for gateway_type, types in catalog.types.items():
        lines.append(f"  {gateway_type}: {{}}")
        for key in SKELETON_KEYS:
            spec = types.specs.get(key)
            if spec is not None:
                lines.append(f"  #   {spec.section}:")
                lines.append(
                    f"  #     {key}: {_scalar(spec.default)}   # {spec.bounds_text()}; firmware default"
                )
    lines += [
        "# rollout:                  # optional; these are the defaults",
        "#   max_in_flight: 100      # gateways of this profile with an active job at once",
        "#   on_mismatch: report     # report | reapply",
    ]
    return "\n".join(lines) + "\n"
