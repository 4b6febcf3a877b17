"""Plans for people and tools: text (like ``terraform plan``), JSON (a stable schema), Markdown (PR comments).

Secrets are never shown: a changed secret reads "(secret changed)".  Long
lists are summarised: gateways of one profile with the same change are shown
as one line with a count and the first few ids.

JSON schema (``format_version`` 1), stable for tools::

    {
      "format_version": 1,
      "summary": {"push": n, "reset": n, "move": n, "defer": n, "error": n, "none": n,
                  "skip": n (gateways with skipped keys), "gateways": n},
      "firmware_unknown": n,       # gateways planned without a known firmware
      "profiles": {NAME: {"members": n, "push": n, ...}},
      "gateways": [                # every gateway whose action is not "none", or that has skipped keys
        {"id", "type", "firmware" (or null), "profile" (or null), "previous_profile" (or null),
         "action", "first_rollout": bool, "declared": bool,
         "changes": [{"key", "old", "new", "reset": bool, "secret": bool}],
         "skipped": [{"key", "reason"}], "message": str, "deferred_action": str or null}
      ]
    }
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from reconciler.plan import planning
from reconciler.plan.planning import Action, Change, GatewayPlan, Plan
from reconciler.plan.values import is_secret, same, shown

NO_PROFILE = "(no profile)"
SHOWN_IDS = 5
"""Ids listed per summarised line before "and N more"."""
ORDER = (Action.ERROR, Action.DEFER, Action.MOVE, Action.RESET, Action.PUSH)
SYMBOL = {
    Action.PUSH: "~",
    Action.RESET: "-",
    Action.MOVE: ">",
    Action.DEFER: "…",
    Action.ERROR: "!",
}


def group_of(p: GatewayPlan) -> str:
    return planning.group_of(p) or NO_PROFILE


def totals_line(plan: Plan) -> str:
    counts = plan.counts()
    if not plan.has_changes and not plan.has_errors:
        n = len(plan.gateways)
        line = f"No changes. {_plural(n, 'gateway')} {'is' if n == 1 else 'are'} up to date."
    else:
        parts = [
            f"{counts[a.value]} to {a.value}"
            for a in (Action.PUSH, Action.RESET, Action.MOVE)
            if counts[a.value]
        ]
        parts += [f"{counts['defer']} deferred"] if counts["defer"] else []
        parts += (
            [f"{counts['error']} error{'s' * (counts['error'] != 1)}"] if counts["error"] else []
        )
        line = (
            "Plan: "
            + ", ".join(parts or ["nothing to roll out"])
            + f"; {counts['none']} unchanged."
        )
    if counts["skip"]:
        n = counts["skip"]
        line += (
            f" {_plural(n, 'gateway')} {'has' if n == 1 else 'have'} keys outside "
            f"{'its' if n == 1 else 'their'} firmware syntax (skipped)."
        )
    return line


def _value(value: Any) -> str:
    if is_secret(value):
        return "(secret)"
    return json.dumps(value, ensure_ascii=False)


def change_text(change: Change) -> str:
    if is_secret(change.new) or is_secret(change.old):
        if change.old is None:
            return f"{change.key}: (secret set)"
        return (
            f"{change.key}: (secret changed)"
            if not same(change.old, change.new)
            else f"{change.key}: (secret)"
        )
    new = _value(change.new) + ("  (firmware default)" if change.reset else "")
    if change.old is None:
        return f"{change.key}: {new}"
    return f"{change.key}: {_value(change.old)} -> {new}"


def headline(p: GatewayPlan) -> str:
    """What happens to one gateway, in a few words."""
    keys = len(p.send)
    if p.action is Action.ERROR:
        return f"error: {p.message}"
    if p.action is Action.DEFER:
        return f"defer ({p.deferred.value if p.deferred else 'change'}): {p.message}"
    if p.action is Action.MOVE:
        return f"move {p.previous_profile} -> {p.profile} ({_plural(keys, 'key')} differ)"
    if p.action is Action.RESET:
        left = f"left {p.previous_profile}" if p.previous_profile else "subsettings removed"
        if not p.declared:
            left = "removed from gateways.d" + (
                f", left {p.previous_profile}" if p.previous_profile else ""
            )
        return f"reset {_plural(len(p.resets), 'key')} to firmware defaults ({left})"
    if p.first:
        return f"push: first rollout, {_plural(keys, 'key')}"
    return f"push {keys} key{'s' * (keys != 1)}"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' * (count != 1)}"


def _signature(p: GatewayPlan) -> tuple[Any, ...]:
    if p.first:
        return (p.action, len(p.send))  # cheap: most gateways of a first rollout land here
    if p.action in (Action.ERROR, Action.DEFER):
        return (
            p.action,
            headline(p).split(" (", 1)[0] if p.action is Action.ERROR else headline(p),
        )
    return (p.action, headline(p), tuple(change_text(c) for c in p.changes()))


def _groups(plans: Iterable[GatewayPlan]) -> list[tuple[tuple[Any, ...], list[GatewayPlan]]]:
    grouped: dict[tuple[Any, ...], list[GatewayPlan]] = defaultdict(list)
    for p in plans:
        grouped[_signature(p)].append(p)
    return sorted(
        grouped.items(), key=lambda item: (ORDER.index(item[0][0]), item[1][0].gateway_id)
    )


def _ids(plans: list[GatewayPlan]) -> str:
    ids = ", ".join(p.gateway_id for p in plans[:SHOWN_IDS])
    return ids + (f" and {len(plans) - SHOWN_IDS} more" if len(plans) > SHOWN_IDS else "")


def _skips(plans: Iterable[GatewayPlan]) -> dict[str, str]:
    """reason -> "Key1, Key2 (N gateways)", one line per firmware rather than per key."""
    keys: dict[str, set[str]] = defaultdict(set)
    gateways: dict[str, set[str]] = defaultdict(set)
    for p in plans:
        for skip in p.skipped:
            keys[skip.reason].add(skip.key)
            gateways[skip.reason].add(p.gateway_id)
    return {
        reason: ", ".join(sorted(keys[reason])) + f" ({_plural(len(gateways[reason]), 'gateway')})"
        for reason in sorted(keys)
    }


def _by_profile(plan: Plan) -> dict[str, list[GatewayPlan]]:
    profiles: dict[str, list[GatewayPlan]] = defaultdict(list)
    for p in plan.gateways.values():
        profiles[group_of(p)].append(p)
    return dict(sorted(profiles.items(), key=lambda item: (item[0] == NO_PROFILE, item[0])))


def text(plan: Plan, *, notes: Iterable[str] = ()) -> str:
    """Terraform-style text: totals, then per profile the changes, grouped where alike."""
    lines = [totals_line(plan)]
    lines += [f"Note: {note}" for note in notes]
    for profile, plans in _by_profile(plan).items():
        acting = [p for p in plans if p.action is not Action.NONE]
        if not acting:
            continue  # like terraform: unchanged profiles are not listed (their skips are in --format json)
        skips = _skips(acting)
        counts = Counter(p.action.value for p in acting)
        summary = ", ".join(f"{n} {a}" for a, n in sorted(counts.items()))
        count = sum(1 for p in plans if p.profile == profile)
        title = (
            "gateways without a profile"
            if profile == NO_PROFILE
            else f"profile {profile} ({_plural(count, 'member')})"
        )
        lines += ["", f"{title}: {summary}"]
        for (action, *_), members in _groups(acting):
            first = members[0]
            who = (
                first.gateway_id
                if len(members) == 1
                else f"{len(members)} gateways ({_ids(members)})"
            )
            lines.append(f"  {SYMBOL[action]} {who}: {headline(first)}")
            if action in (Action.PUSH, Action.MOVE, Action.RESET) and not first.first:
                lines += [f"      {change_text(c)}" for c in first.changes()]
        for reason, what in skips.items():
            lines.append(f"  skipped, {reason}: {what}")
    return "\n".join(lines) + "\n"


def gateway_json(p: GatewayPlan) -> dict[str, Any]:
    return {
        "id": p.gateway_id,
        "type": p.type,
        "firmware": p.firmware,
        "profile": p.profile,
        "previous_profile": p.previous_profile,
        "action": p.action.value,
        "first_rollout": p.first,
        "declared": p.declared,
        "changes": [
            {
                "key": c.key,
                "old": shown(c.old),
                "new": shown(c.new),
                "reset": c.reset,
                "secret": is_secret(c.new) or is_secret(c.old),
            }
            for c in p.changes()
        ],
        "skipped": [{"key": s.key, "reason": s.reason} for s in p.skipped],
        "message": p.message,
        "deferred_action": p.deferred.value if p.deferred else None,
    }


def as_json(plan: Plan) -> dict[str, Any]:
    counts = plan.counts()
    summary = {a.value: counts[a.value] for a in Action} | {
        "skip": counts["skip"],
        "gateways": len(plan.gateways),
    }
    profiles: dict[str, Any] = {}
    for profile, plans in _by_profile(plan).items():
        per = Counter(p.action.value for p in plans)
        profiles[profile] = {"members": sum(1 for p in plans if p.profile == profile)} | {
            a.value: per[a.value] for a in Action
        }
    return {
        "format_version": 1,
        "summary": summary,
        "firmware_unknown": sum(
            1
            for p in plan.gateways.values()
            if not p.firmware_known and p.action is not Action.ERROR
        ),
        "profiles": profiles,
        "gateways": [
            gateway_json(p)
            for p in plan.gateways.values()
            if p.action is not Action.NONE or p.skipped
        ],
    }


def markdown(plan: Plan, *, notes: Iterable[str] = (), title: str = "reconciler plan") -> str:
    """A pull-request comment: totals on top, a collapsible section per profile."""
    lines = [f"### {title}", "", f"**{totals_line(plan)}**", ""]
    lines += [f"> {note}" for note in notes] + ([""] if notes else [])
    for profile, plans in _by_profile(plan).items():
        acting = [p for p in plans if p.action is not Action.NONE]
        if not acting:
            continue
        skips = _skips(acting)
        counts = Counter(p.action.value for p in acting)
        summary = ", ".join(f"{n} {a}" for a, n in sorted(counts.items()))
        lines += [
            "<details>",
            f"<summary><b>{profile}</b>: {summary}</summary>",
            "",
            "| gateways | action | changes |",
            "|---|---|---|",
        ]
        for (_action, *_), members in _groups(acting):
            first = members[0]
            who = first.gateway_id if len(members) == 1 else f"{len(members)}: {_ids(members)}"
            changes = (
                ""
                if first.first or first.action in (Action.ERROR, Action.DEFER)
                else "<br>".join(f"`{change_text(c)}`" for c in first.changes())
            )
            lines.append(f"| {who} | {headline(first).replace('|', '/')} | {changes} |")
        if skips:
            lines += ["", "Skipped (outside the firmware syntax):", ""]
            lines += [f"- {reason}: {what}" for reason, what in skips.items()]
        lines += ["", "</details>", ""]
    return "\n".join(lines) + "\n"
