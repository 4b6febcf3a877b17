"""Settings of the HTTP head-end driver: where, which token, how patient, how fast.

Built by the commands and the daemon (``HeadendSettings.from_env(base_url=...)``)
and passed explicitly to :class:`reconciler.drivers.http.HttpDriver`.  The
token is a :class:`pydantic.SecretStr`: it prints as ``**********`` in reprs,
logs and tracebacks, and only the driver reads its value, to build the
``Authorization`` header.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from reconciler.drivers.base import MAX_BATCH

ENV_PREFIX = "RECONCILER_HEADEND_"


class HeadendSettings(BaseModel):
    """How the HTTP driver reaches the head-end.  Every field also reads
    ``RECONCILER_HEADEND_<FIELD>`` in :meth:`from_env` (``RECONCILER_HEADEND_URL`` for the URL)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str = Field(description="Head-end root URL, e.g. https://headend.example.com")
    token: SecretStr = Field(
        repr=False,
        description="Bearer token; from RECONCILER_HEADEND_TOKEN or the file RECONCILER_HEADEND_TOKEN_FILE. Never logged.",
    )
    timeout_s: float = Field(
        10.0,
        gt=0,
        description="Per request, connect to last byte, in seconds. Batches of 500 take the "
        "head-end well under a second; 10 s leaves room for a slow moment without stalling a rollout.",
    )
    max_attempts: int = Field(
        5,
        ge=1,
        description="Attempts per request, the first included, before a transient error is raised "
        "to the engine (which records the gateway as Declined: retries exhausted).",
    )
    backoff_base_s: float = Field(
        0.5,
        gt=0,
        description="Backoff before retry n is uniform in [0, min(backoff_max_s, base * 2**n)] "
        "seconds ('full jitter': spreads a fleet of retries after an outage).",
    )
    backoff_max_s: float = Field(30.0, gt=0, description="Upper bound of one backoff, seconds.")
    max_retry_after_s: float = Field(
        300.0,
        ge=0,
        description="A 429's Retry-After is honoured up to this many seconds (a guard against a "
        "head-end that asks for hours).",
    )
    max_concurrency: int = Field(
        100,
        ge=1,
        description="Requests in flight at once (and pooled keep-alive connections). 100 x 500-entry "
        "batches is ample; raise it only for latency-bound links.",
    )
    max_requests_per_s: float | None = Field(
        None,
        gt=0,
        description="Client-side request rate limit (token bucket, burst of max_concurrency); "
        "None: unlimited. Set it below the head-end's published quota to avoid 429s.",
    )
    inventory_rounds: int = Field(
        5,
        ge=1,
        description="Rounds of max_attempts for one inventory page before the read gives up "
        "(a backoff of up to backoff_max_s between rounds): the whole inventory is needed "
        "before planning, so one unlucky page is asked for again rather than ending apply.",
    )
    page_size: int = Field(
        MAX_BATCH, ge=1, le=MAX_BATCH, description="Inventory page size (limit=), items."
    )
    batch_size: int = Field(
        MAX_BATCH,
        ge=1,
        le=MAX_BATCH,
        description="Entries per batch call; the API takes at most 500.",
    )

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **overrides: Any
    ) -> HeadendSettings:
        """Settings from ``RECONCILER_HEADEND_*`` variables; keyword ``overrides`` win.

        The token is RECONCILER_HEADEND_TOKEN, else the content of the file named by
        RECONCILER_HEADEND_TOKEN_FILE (one trailing newline stripped, as editors add it).
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name in cls.model_fields:
            variable = ENV_PREFIX + ("URL" if name == "base_url" else name.upper())
            if variable in env and env[variable] != "":
                values[name] = env[variable]
        if "token" not in values and env.get(ENV_PREFIX + "TOKEN_FILE"):
            path = Path(env[ENV_PREFIX + "TOKEN_FILE"])
            values["token"] = path.read_text(encoding="utf-8").removesuffix("\n")
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.model_validate(values)
