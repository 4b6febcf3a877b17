"""The edits of config files behind ``profile new``, ``assign``, ``unassign`` and ``set``.

Called by the editing commands (:mod:`reconciler.cli.assign`,
:mod:`~reconciler.cli.set`, :mod:`~reconciler.cli.profile`), which read and
write the files; here every edit is a pure function of text to text, so a pull
request made from it shows only the lines it meant to change.

Edits go through ruamel's round trip (:mod:`reconciler.editing.roundtrip`) and
are checked with :func:`~reconciler.editing.roundtrip.unexpected_changes`.
Membership edits that fail the check fall back to a minimal textual edit of the
``profile:`` lines (:func:`_textual_profiles`, also taken at once for files
above :data:`ROUND_TRIP_MAX_LINES`, where the round trip is slow); any other
edit that fails it raises :class:`EditError`, and the caller writes nothing.
Line ends (``\r\n``) and a missing final newline are kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

from reconciler.editing import roundtrip
from reconciler.loading import yamlfiles
from reconciler.model.catalogs import Catalog, ParameterSpec, check_value

EditError = roundtrip.EditError
"""An edit that cannot be made as asked (defined with the round trip, which raises it too)."""

flow_text = roundtrip.flow_text

ROUND_TRIP_MAX_LINES = 4000
"""Above this many lines (about 1,000 entries), membership edits skip ruamel's round trip.

Round-trip loading and dumping cost about 0.7 ms per entry (measured: 5,000
entries, 2.6 s load + 1.4 s dump), so a bulk ``assign`` over large files
would take minutes; the textual edit of :func:`_textual_profiles` changes the
same lines in a fraction of that and is checked by re-reading the result."""


@dataclass(frozen=True)
class NewEntry:
    """A gateway entry to append to a gateways file."""

    gateway_id: str
    type: str
    profile: str


Key = tuple[str, str]
"""``(SECTION, Key)`` of a subsetting."""


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
    return roundtrip.as_written(text, lambda t: _set_profiles(t, changes))


def _set_profiles(text: str, changes: Mapping[str, str | None]) -> str:
    if text.count("\n") > ROUND_TRIP_MAX_LINES:
        return _textual_profiles(text, changes)
    yaml = roundtrip.yaml_for(text)
    data = roundtrip.load(yaml, text)
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
                allowed |= roundtrip.node_lines(entry, "profile")
                roundtrip.delete(entry, "profile")
        elif "profile" in entry:
            if entry["profile"] != profile:
                allowed |= roundtrip.node_lines(entry, "profile")
                entry["profile"] = profile
        else:
            roundtrip.insert_after(entry, "type" if "type" in entry else "id", "profile", profile)
    new = roundtrip.dump(yaml, data)
    if not roundtrip.unexpected_changes(text, new, allowed):
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
    names = {p: roundtrip.scalar(p) for p in set(changes.values()) if p is not None}
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
    return roundtrip.as_written(text, lambda t: _append_entries(t, new))


def _append_entries(text: str | None, new: Sequence[NewEntry]) -> str:
    rows = [CommentedMap(id=e.gateway_id, type=e.type, profile=e.profile) for e in new]
    if not text:
        yaml = roundtrip.yaml_for("")
        return roundtrip.dump(yaml, CommentedMap(gateways=CommentedSeq(rows)))
    yaml = roundtrip.yaml_for(text)
    data = roundtrip.load(yaml, text)
    _entries(data)
    data["gateways"].extend(rows)
    result = roundtrip.dump(yaml, data)
    problems = roundtrip.unexpected_changes(text, result, ())
    if problems:
        raise EditError("cannot append without reformatting other lines: " + "; ".join(problems))
    return result


# --- gateways files: subsettings (Quick Config) -------------------------------


def set_subsettings(
    text: str, gateway_id: str, values: Mapping[Key, Any], unset: Iterable[Key] = ()
) -> str:
    """Set and remove subsettings of one gateway; emptied sections and ``subsettings`` go too."""
    return roundtrip.as_written(text, lambda t: _set_subsettings(t, gateway_id, values, unset))


def _set_subsettings(
    text: str, gateway_id: str, values: Mapping[Key, Any], unset: Iterable[Key]
) -> str:
    yaml = roundtrip.yaml_for(text)
    data = roundtrip.load(yaml, text)
    entry = _entries(data).get(gateway_id)
    if entry is None:
        raise EditError(f"no entry for {gateway_id}")
    allowed: set[int] = {entry.lc.line} if entry.fa.flow_style() else set()
    block = entry.get("subsettings")
    if values and not isinstance(block, CommentedMap):
        if block is not None:  # `subsettings:` with nothing under it
            allowed |= roundtrip.node_lines(entry, "subsettings")
            del entry["subsettings"]
        block = None
    fresh: dict[str, CommentedMap] = {}
    for (section, key), value in values.items():
        group = block.get(section) if block is not None else None
        if isinstance(group, CommentedMap):
            if key not in group:
                roundtrip.insert_after(group, None, key, roundtrip.new_value(value))
            elif roundtrip.plain(group[key]) != value:
                allowed |= roundtrip.node_lines(group, key)
                group[key] = roundtrip.new_value(value, group[key])
            continue
        if group is not None and block is not None:
            allowed |= roundtrip.node_lines(block, section)
            del block[section]
        fresh.setdefault(section, CommentedMap())[key] = roundtrip.new_value(value)
    # New maps are filled before they are inserted, so that comments moved
    # below them land after their last line, not after their key.
    if block is None and fresh:
        block = CommentedMap(fresh)
        anchor = next((k for k in ("profile", "type", "id") if k in entry), None)
        roundtrip.insert_after(entry, anchor, "subsettings", block)
    elif block is not None:
        for section, group in fresh.items():
            roundtrip.insert_after(block, None, section, group)
    for section, key in unset:
        group = block.get(section) if isinstance(block, CommentedMap) else None
        if not isinstance(group, CommentedMap) or key not in group:
            continue
        # Spans before the deletion: lines inside a deleted node may go with it.
        section_lines, block_lines = (
            roundtrip.node_lines(block, section),
            roundtrip.node_lines(entry, "subsettings"),
        )
        allowed |= roundtrip.node_lines(group, key)
        orphan = roundtrip.delete(group, key)
        if not group:
            allowed |= section_lines
            orphan = roundtrip.delete(block, section, orphan)
            if not block:
                allowed |= block_lines
                orphan = roundtrip.delete(entry, "subsettings", orphan)
        if orphan is not None:
            raise EditError(f"cannot unset {section}.{key} without losing a comment; edit by hand")
    new = roundtrip.dump(yaml, data)
    problems = roundtrip.unexpected_changes(text, new, allowed)
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
    return roundtrip.as_written(text, lambda t: _rename_profile(t, name, description))


def _rename_profile(text: str, name: str, description: str | None) -> str:
    yaml = roundtrip.yaml_for(text)
    data = roundtrip.load(yaml, text)
    if not isinstance(data, CommentedMap) or "name" not in data:
        raise EditError("cannot be copied: expected a profile mapping with 'name'")
    allowed = roundtrip.node_lines(data, "name")
    data["name"] = name
    if description is not None:
        if "description" in data:
            allowed |= roundtrip.node_lines(data, "description")
            data["description"] = description
        else:
            roundtrip.insert_after(data, "name", "description", description)
    new = roundtrip.dump(yaml, data)
    problems = roundtrip.unexpected_changes(text, new, allowed)
    if problems:
        raise EditError("cannot copy without reformatting other lines: " + "; ".join(problems[:3]))
    return new


SKELETON_KEYS = ("HeartbeatInterval", "MaxChargingCurrent")
"""Keys shown, commented out, in a new profile's block per type."""


def profile_skeleton(name: str, description: str | None, catalog: Catalog) -> str:
    """A new profile file: name, description, an empty block per gateway type with commented examples."""
    lines = [
        f"# Profile group {name}. Members are the entries in gateways.d with `profile: {name}`",
        f"# (reconciler assign {name} --query ...). Each block sets SECTION.Key values for one",
        "# gateway type, checked against its catalog (reconciler schema); an empty block",
        "# rolls out the firmware defaults. See docs/config-format.md.",
        f"name: {roundtrip.scalar(name)}",
        f"description: {roundtrip.scalar(description)}" if description else "# description: ...",
        "parameters:",
    ]
    for gateway_type, types in catalog.types.items():
        lines.append(f"  {gateway_type}: {{}}")
        for key in SKELETON_KEYS:
            spec = types.specs.get(key)
            if spec is not None:
                lines.append(f"  #   {spec.section}:")
                lines.append(
                    f"  #     {key}: {roundtrip.scalar(spec.default)}   # {spec.bounds_text()}; firmware default"
                )
    lines += [
        "# rollout:                  # optional; these are the defaults",
        "#   max_in_flight: 100      # gateways of this profile with an active job at once",
        "#   on_mismatch: report     # report | reapply",
        "#   reboot: never           # never | when_idle: values that need a reboot",
    ]
    return "\n".join(lines) + "\n"
