"""Engine settings: global limits and timings, each with its unit, default and reason."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class EngineSettings(BaseModel):
    """How hard and how patiently the engine drives the head-end."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_in_flight: int = Field(
        5_000,
        ge=1,
        description="Gateways with an active job at once, over all profiles (each profile's own "
        "rollout.max_in_flight applies too). Bounds the head-end's load and our memory.",
    )
    poll_interval_s: float = Field(
        0.2,
        gt=0,
        description="Seconds between job status polls while jobs are active. Jobs take seconds; "
        "0.2 s keeps the status fresh at a cost of one batched call per 500 jobs.",
    )
    submit_attempts: int = Field(
        5,
        ge=1,
        description="Times a job is submitted after the driver's own retries gave up on a transient "
        "error (outage), before the gateway is Declined with 'retries exhausted'.",
    )
    resubmit_backoff_s: float = Field(
        2.0,
        ge=0,
        description="Seconds before resubmitting after a transient failure, doubled per attempt.",
    )
    readback_batch: int = Field(
        500, ge=1, le=500, description="Gateways per read-back call (the API's batch limit)."
    )
    job_timeout_s: float = Field(
        3_600.0,
        gt=0,
        description="A job still active after this long is Declined ('no answer from the head-end'); "
        "a gateway that is offline for an hour should not hold a rollout slot forever.",
    )
