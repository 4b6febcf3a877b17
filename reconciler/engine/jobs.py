"""What one job sends: idempotency keys, and secrets unsealed for the wire only.

Sealed secrets (``{"secret": NAME, "digest": ...}``) are resolved to their
values at the moment a job request is built; the value never reaches the store,
logs or reports.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from reconciler.errors import MissingSecretError as MissingSecretError
from reconciler.plan.values import is_secret


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


def wire_parameters(
    send: Mapping[str, Any], resolve: Callable[[str], str | None]
) -> dict[str, Any]:
    """The job's parameters as they travel: secret references replaced by their values."""
    parameters: dict[str, Any] = {}
    for key, value in send.items():
        if is_secret(value):
            plain = resolve(value["secret"])
            if plain is None:
                raise MissingSecretError(
                    f"secret '{value['secret']}' for {key} is not provided "
                    f"(RECONCILER_SECRET_{value['secret']} or a file in RECONCILER_SECRETS_DIR)"
                )
            parameters[key] = plain
        else:
            parameters[key] = value
    return parameters
