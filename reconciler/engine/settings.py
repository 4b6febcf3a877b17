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
    lost_job_grace_s: float = Field(
        30.0,
        gt=0,
        description="A job the head-end leaves out of its job status answers for longer than this "
        "is lost (a head-end restarted without its job table): it is resubmitted with its stored "
        "idempotency key. Covers a head-end that answers a new job's status a moment late.",
    )
    lost_job_attempts: int = Field(
        3,
        ge=1,
        description="Times a gateway's job may be lost before the gateway is Declined "
        "('lost by the head-end N times'): a head-end that keeps losing it will not take it.",
    )
    stall_after_s: float = Field(
        300.0,
        gt=0,
        description="A run is stalled (Engine.stalled(), the daemon's /readyz) while jobs are in "
        "flight and none of them moved for this long, or when the head-end lost jobs this recently.",
    )
