"""The daemon's settings: every field with its unit, default and why (env prefix ``RECONCILER_``).

Built by ``reconciler run`` from its flags (each flag also reads
``RECONCILER_<FLAG>``; ``--headend`` reads ``RECONCILER_HEADEND_URL``) and by
``reconciler demo``.  The head-end token is not here: the driver reads
``RECONCILER_HEADEND_TOKEN`` itself (:class:`reconciler.drivers.settings.HeadendSettings`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class DaemonSettings(BaseSettings):
    """What ``reconciler run`` watches, where it writes, and how often it looks."""

    model_config = SettingsConfigDict(env_prefix="RECONCILER_", extra="ignore", frozen=True)

    repo: str = Field(
        description="Config repository: a local path (watched on disk) or a URL (cloned into "
        "the state directory and fetched every poll_interval_s).",
    )
    branch: str = Field("main", description="Branch whose head is applied.")
    headend_url: str = Field(
        description="Head-end base URL (env RECONCILER_HEADEND_URL).",
    )
    state: Path = Field(
        description="State store (SQLite file; created if absent). Its directory also holds the "
        "clone of a remote repository (git-cache/).",
    )
    report_dir: Path = Field(
        description="Where report.json, REPORT.md and report.html are written (atomically)."
    )
    listen: str = Field(
        "127.0.0.1:9108",
        description="HOST:PORT of the HTTP endpoints; loopback by default because the retry "
        "endpoint changes gateways (9108: next to Prometheus exporters' usual range). Port 0 "
        "picks a free port.",
    )
    poll_interval_s: float = Field(
        30.0,
        gt=0,
        description="Seconds between fetches of a remote repository (POST /hooks/git fetches "
        "at once). For a local repository, file watching notices a commit within a second; "
        "this interval is then only a safety net re-reading the branch head.",
    )
    readback_interval_s: float = Field(
        300.0,
        gt=0,
        description="Seconds between read-backs of every Accepted gateway's live configuration "
        "(Mismatch detection). One batched call per 500 gateways: 10,000 gateways cost 20 calls.",
    )
    report_interval_s: float = Field(
        1.0,
        ge=0,
        description="Least seconds between two report writes: reports follow every change of "
        "state, at most about once a second, so a fleet-wide rollout does not rewrite "
        "megabytes per job.",
    )
    retry_backoff_s: float = Field(
        1.0,
        gt=0,
        description="First wait after a git or head-end failure, doubled per failure up to "
        "retry_backoff_max_s.",
    )
    retry_backoff_max_s: float = Field(
        60.0, gt=0, description="Longest wait between retries after failures."
    )
    stop_timeout_s: float = Field(
        5.0,
        gt=0,
        description="On SIGTERM, seconds to let active jobs finish polling before the process "
        "exits anyway (their states are durable; the next start resumes them). Leaves room "
        "for the final report and closing within the 10 s we promise (and Kubernetes' 30 s).",
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="text: readable lines; json: one JSON object per line."
    )
    admin_token: SecretStr | None = Field(
        None,
        description="Bearer token for POST /api/v1/profiles/NAME/retry. Unset: the endpoint "
        "refuses every call (403).",
    )

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host_and_port(value)
        return value

    @property
    def is_remote(self) -> bool:
        """A URL (``scheme://`` or ``user@host:path``) rather than a local directory."""
        return "://" in self.repo or (":" in self.repo and "@" in self.repo.split(":")[0])


def host_and_port(value: str) -> tuple[str, int]:
    """``HOST:PORT`` -> (host, port); raises ValueError on anything else."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"expected HOST:PORT, got '{value}'")
    return host.strip("[]") or "127.0.0.1", int(port)
