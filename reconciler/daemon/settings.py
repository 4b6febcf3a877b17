"""The daemon's settings: every field with its unit, default and why (env prefix ``RECONCILER_``).

Built by ``reconciler run`` from its flags (each flag also reads
``RECONCILER_<FLAG>``; ``--headend`` reads ``RECONCILER_HEADEND_URL``) and by
``reconciler demo``.  The head-end token is not here: the driver reads
``RECONCILER_HEADEND_TOKEN`` itself (:class:`reconciler.drivers.settings.HeadendSettings`).
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from reconciler.plan.guards import DEFAULT_MAX_RESET_SHARE
from reconciler.store.opening import is_shared, store_path

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
"""Host names every daemon answers to (besides its listen host and ``allowed_hosts``)."""


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
    state: Path | str = Field(
        description="State store: a SQLite file (created if absent; its directory also holds the "
        "clone of a remote repository, git-cache/), or a postgresql:// URL that several "
        "replicas share.",
    )
    cache_dir: Path | None = Field(
        None,
        description="Where a remote repository is cloned (git-cache/); default: beside a SQLite "
        "state file, ~/.cache/reconciler with PostgreSQL.",
    )
    replica_name: str | None = Field(
        None, description="This replica's name in a shared store (default: the host name)."
    )
    lease_term_s: float = Field(
        15.0,
        ge=1.0,
        description="Seconds a shared store's leader lease and each replica's lease last without "
        "renewal (renewed every third): a dead leader is replaced, and a dead replica's work "
        "resumed, within about one term.",
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
    max_reset_share: float = Field(
        DEFAULT_MAX_RESET_SHARE,
        ge=0,
        le=1,
        description="Largest share of the managed gateways one commit may reset to firmware "
        "defaults (removed profile: lines, deleted gateways.d entries). A commit resetting "
        "more, or every managed gateway, is held like an invalid one until a later commit "
        "passes or allow_reset names it.",
    )
    allow_reset: str | None = Field(
        None,
        description="A commit (full sha or a prefix of 7+) let through the reset limit, e.g. "
        "a deliberate decommissioning; only that commit.",
    )
    allowed_hosts: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        description="Host names (comma-separated in the environment) the HTTP endpoints "
        "answer to besides localhost, 127.0.0.1, ::1 and the listen host: a request naming "
        "another Host is refused (403), which stops DNS rebinding. '*' allows any host; "
        "'.example.com' a domain and its subdomains. /metrics, /healthz and /readyz also "
        "answer to IP-address hosts (Prometheus and kubelet use the pod IP).",
    )
    webhook_secret: SecretStr | None = Field(
        None,
        description="Shared secret of POST /hooks/git: GitHub's X-Hub-Signature-256 "
        "(HMAC-SHA256 of the body) or GitLab's X-Gitlab-Token must match. Unset: the hook "
        "is open (it only makes the daemon fetch sooner).",
    )

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host_and_port(value)
        return value

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _hosts(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, list | tuple):
            return tuple(h for h in (str(x).strip().lower() for x in value) if h)
        return value

    @field_validator("allow_reset")
    @classmethod
    def _commit(cls, value: str | None) -> str | None:
        value = (value or "").strip().lower()
        if not value:
            return None
        if len(value) < 7 or any(c not in "0123456789abcdef" for c in value):
            raise ValueError("expected a commit sha (or a prefix of at least 7 hex digits)")
        return value

    @property
    def hosts(self) -> frozenset[str]:
        """Every host name the endpoints answer to (lower case, IPv6 without brackets)."""
        listen_host, _ = host_and_port(self.listen)
        names = {*LOOPBACK_HOSTS, *(h.strip("[]") for h in self.allowed_hosts)}
        if not _unspecified(listen_host):
            names.add(listen_host.lower())
        return frozenset(names)

    @property
    def exposed(self) -> bool:
        """The endpoints listen beyond loopback (another host can reach them)."""
        host, _ = host_and_port(self.listen)
        if host == "localhost":
            return False
        try:
            return not ipaddress.ip_address(host).is_loopback
        except ValueError:
            return True

    @property
    def shared(self) -> bool:
        """The state store is shared by replicas (PostgreSQL)."""
        return is_shared(self.state)

    @property
    def git_cache(self) -> Path:
        """Where a remote repository is cloned: ``cache_dir``, else beside a SQLite state file."""
        if self.cache_dir is not None:
            return self.cache_dir / "git-cache"
        if self.shared:
            cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
            return Path(cache) / "reconciler" / "git-cache"
        return store_path(self.state).parent / "git-cache"

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


def _unspecified(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False
