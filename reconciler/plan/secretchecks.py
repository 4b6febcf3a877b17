"""Secret values checked against the catalog before a rollout, without the planner seeing them.

The planner compares secrets by keyed hash (:data:`~reconciler.plan.values.SecretDigest`)
and never holds a value.  To report a secret whose value breaks its key's
catalog rule (``AuthorizationKey``: 16..40 characters) it is given a
:data:`SecretCheck`, made where the values are (the engine layer:
:func:`reconciler.engine.jobs.secret_check`), which answers with the problem
in words that name the key, the secret and the rule, never the value.  A
gateway that would send such a secret is planned as an ``error`` for that
gateway alone, and is not rolled out.  :class:`SecretChecks` asks each
(type, key, secret) once per plan: 100,000 gateways share a handful of secrets.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from reconciler.model.catalogs import ParameterSpec
from reconciler.plan.values import is_secret

SecretCheck = Callable[[ParameterSpec, str], str | None]
"""(the key's catalog spec, the secret's NAME) -> why its value does not fit, or ``None``
(it fits, or is not provided: a missing secret is the engine's to report)."""


class SecretChecks:
    """One planner's checks: which keys are secrets per syntax, and the answers of one plan."""

    def __init__(self, check: SecretCheck) -> None:
        self.check = check
        self._answers: dict[tuple[str, str, str], str | None] = {}
        # By the id of a syntax the planner keeps (held here too, so the id stays its own).
        self._secret_keys: dict[int, tuple[Mapping[str, ParameterSpec], tuple[str, ...]]] = {}

    def start(self) -> None:
        """A new plan: ask again (a secret's value may have changed since the last one)."""
        self._answers.clear()

    def problem(
        self, gateway_type: str, specs: Mapping[str, ParameterSpec], send: Mapping[str, Any]
    ) -> str:
        """The first problem (by key) of the secrets in ``send``, or ``""``.

        ``specs``: the gateway's syntax (the type's keys when its firmware is unknown);
        only its secret keys are looked at (two dict look-ups per gateway, not a scan).
        """
        known = self._secret_keys.get(id(specs))
        if known is None:
            keys = tuple(sorted(k for k, spec in specs.items() if spec.type == "secret"))
            known = self._secret_keys[id(specs)] = (specs, keys)
        for key in known[1]:
            value = send.get(key)
            if not isinstance(value, dict) or not is_secret(value):
                continue
            name = str(value["secret"])
            asked = (gateway_type, key, name)
            if asked not in self._answers:
                self._answers[asked] = self.check(specs[key], name)
            answer = self._answers[asked]
            if answer:
                return answer
        return ""
