"""What one job sends: idempotency keys, and secrets unsealed for the wire only.

Sealed secrets (``{"secret": NAME, "digest": ...}``) are resolved to their
values at the moment a job request is built, and checked against their key's
catalog rule (length, pattern) then; the value never reaches the store, logs
or reports.  :func:`secret_check` gives the planner the same check without
giving it the value (:data:`~reconciler.plan.secretchecks.SecretCheck`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from reconciler.errors import InvalidSecretError as InvalidSecretError
from reconciler.errors import MissingSecretError as MissingSecretError
from reconciler.model.catalogs import ParameterSpec, check_secret_value
from reconciler.plan.secretchecks import SecretCheck
from reconciler.plan.values import is_secret

SpecOf = Callable[[str], ParameterSpec | None]
"""A key of the job -> its catalog spec (``None``: unknown, not checked)."""


def idempotency_key(
    rollout_id: int, gateway_id: str, send: Mapping[str, Any], generation: int = 0
) -> str:
    """Derived from the rollout, the gateway and what is sent: a resubmission reuses it.

    ``generation`` counts explicit retries (Retry Upload): a retry is a new job.
    """
    canonical = json.dumps(send, sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256(
        f"{rollout_id}\0{gateway_id}\0{generation}\0{canonical}".encode()
    ).hexdigest()
    return f"r{rollout_id}-{digest[:32]}"


def secret_problem(spec: ParameterSpec, name: str, value: str) -> str | None:
    """Why secret ``name``'s value does not fit ``spec``: key, secret and rule, never the value."""
    rule = check_secret_value(spec, value)
    if rule is None:
        return None
    return f"secret '{name}' for {spec.key} does not fit the catalog: {rule}"


def secret_check(resolve: Callable[[str], str | None]) -> SecretCheck:
    """The planner's :data:`SecretCheck`: resolves the secret and checks it (not provided: fine
    here, the engine declines the gateway when it builds the job)."""

    def check(spec: ParameterSpec, name: str) -> str | None:
        value = resolve(name)
        return None if value is None else secret_problem(spec, name, value)

    return check


def wire_parameters(
    send: Mapping[str, Any],
    resolve: Callable[[str], str | None],
    spec_of: SpecOf | None = None,
) -> dict[str, Any]:
    """The job's parameters as they travel: secret references replaced by their values.

    Raises :class:`MissingSecretError` for a secret not provided, and (with
    ``spec_of``) :class:`InvalidSecretError` for one whose value breaks its key's rule.
    """
    parameters: dict[str, Any] = {}
    for key, value in send.items():
        if is_secret(value):
            name = value["secret"]
            plain = resolve(name)
            if plain is None:
                raise MissingSecretError(
                    f"secret '{name}' for {key} is not provided "
                    f"(RECONCILER_SECRET_{name} or a file in RECONCILER_SECRETS_DIR)"
                )
            spec = spec_of(key) if spec_of is not None else None
            if spec is not None and spec.type == "secret":
                problem = secret_problem(spec, name, plain)
                if problem is not None:
                    raise InvalidSecretError(problem)
            parameters[key] = plain
        else:
            parameters[key] = value
    return parameters
