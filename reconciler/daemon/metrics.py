"""The daemon's Prometheus metrics, in a registry of their own.

Created by :mod:`reconciler.daemon.running`.  Gauges are recorded from the
daemon's status record (:meth:`Metrics.record`, called by
:class:`~reconciler.daemon.status.StatusBoard` on every update): commit
validity, the applied commit's time, head-end health and the gateways per
profile and status (the counts the report was built from).  Counters and
histograms are events: commits loaded, failures, transitions and durations
(the reconcile loop and its tasks), head-end requests (the HTTP driver's
``on_response`` hook).  Served by ``GET /metrics``.  No metric carries a
gateway id as a label: label values are profiles, statuses, endpoints and
codes, all bounded sets.

The registry also carries prometheus_client's process and Python collectors
(``process_resident_memory_bytes``, ``process_cpu_seconds_total``,
``process_open_fds``, ``process_start_time_seconds``, ``python_info``,
``python_gc_*``): memory against the limit, CPU, and restarts (the start
time changes).  They read ``/proc/self`` when scraped, from the HTTP thread
(:mod:`reconciler.daemon.serving`); nothing of the loop's state.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

from reconciler import __version__
from reconciler.daemon.status import DaemonStatus
from reconciler.members.counts import ProfileCounts

NO_PROFILE = "(none)"
"""The ``profile`` label of gateways declared without a profile."""


class Metrics:
    """Every metric of the daemon; one instance per process (or per test)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.gateways = Gauge(
            "reconciler_gateways",
            "Gateways per profile and rollout status (status 'none': not managed yet).",
            ["profile", "status"],
            registry=r,
        )
        self.reboot_pending = Gauge(
            "reconciler_reboot_pending_gateways",
            "Gateways per profile with accepted values that take effect at their next boot.",
            ["profile"],
            registry=self.registry,
        )
        self.last_commit_valid = Gauge(
            "reconciler_last_commit_valid",
            "1 when the newest commit on the branch is valid, 0 when it is held back.",
            registry=r,
        )
        self.commit_held = Gauge(
            "reconciler_commit_held",
            "1 while the newest valid commit is held by the reset limit (nothing of it rolled "
            "out; --allow-reset COMMIT or a later commit that passes lets the fleet move), else 0.",
            registry=r,
        )
        self.applied_commit_timestamp = Gauge(
            "reconciler_applied_commit_timestamp_seconds",
            "Committer time of the last commit whose rollout was planned and carried out.",
            registry=r,
        )
        self.reconcile_duration = Histogram(
            "reconciler_reconcile_duration_seconds",
            "Time from noticing a commit to the end of its rollout (load, plan, jobs).",
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800, 3600),
            registry=r,
        )
        self.commit_to_first_job = Histogram(
            "reconciler_commit_to_first_job_seconds",
            "Time from noticing a commit to the head-end acknowledging its first job.",
            buckets=(0.05, 0.1, 0.25, 0.5, 0.75, 1, 2, 5, 10, 30),
            registry=r,
        )
        self.headend_requests = Counter(
            "reconciler_headend_requests",
            "Head-end API requests by endpoint and HTTP code ('error' when there was no answer).",
            ["endpoint", "code"],
            registry=r,
        )
        self.headend_request_duration = Histogram(
            "reconciler_headend_request_duration_seconds",
            "Head-end API request latency by endpoint.",
            ["endpoint"],
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.headend_up = Gauge(
            "reconciler_headend_up",
            "1 when the last head-end request got a non-5xx answer, else 0.",
            registry=r,
        )
        self.transitions = Counter(
            "reconciler_rollout_transitions",
            "Gateway status transitions written by the engine, by new status.",
            ["status"],
            registry=r,
        )
        self.lost_jobs = Counter(
            "reconciler_lost_jobs",
            "Jobs the head-end stopped reporting (beyond the engine's lost_job_grace_s), each "
            "resubmitted with its idempotency key or, after lost_job_attempts losses, declined.",
            registry=r,
        )
        self.git_errors = Counter(
            "reconciler_git_errors",
            "Failures to read, clone or fetch the config repository.",
            registry=r,
        )
        self.git_unsafe = Gauge(
            "reconciler_git_unsafe_repository",
            "1 while git refuses the config repository because another user owns it "
            "(dubious ownership: add it to safe.directory or change its owner), else 0.",
            registry=r,
        )
        self.commits = Counter(
            "reconciler_commits",
            "Commits loaded, by validity.",
            ["valid"],
            registry=r,
        )
        self.failures = Counter(
            "reconciler_loop_failures",
            "Reconcile attempts that failed and are retried with backoff, by cause "
            "(git, headend, store, internal).",
            ["cause"],
            registry=r,
        )
        self.report_failures = Counter(
            "reconciler_report_write_failures",
            "Report writes that failed (report directory full or unwritable); retried with "
            "backoff until one succeeds.",
            registry=r,
        )
        self.report_duration = Histogram(
            "reconciler_report_write_duration_seconds",
            "One report write: the member pages that changed and the summary files.",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
            registry=r,
        )
        self.report_pages = Counter(
            "reconciler_report_pages_written",
            "Member pages of the report written (each in JSON, Markdown and HTML); only "
            "pages whose gateways changed are written again.",
            registry=r,
        )
        self.leader = Gauge(
            "reconciler_leader",
            "1 on the replica that leads (watches git, plans, opens rollouts), else 0; a daemon "
            "on SQLite always leads.",
            registry=r,
        )
        self.leader_epoch = Gauge(
            "reconciler_leader_epoch",
            "The leader lease's epoch (a shared store): one more every time it changes hands.",
            registry=r,
        )
        self.replicas_live = Gauge(
            "reconciler_replicas_live", "Replicas whose lease holds (SQLite: 1).", registry=r
        )
        self.claims_held = Gauge(
            "reconciler_claims_held",
            "Gateways in work (queued or at the head-end) per live replica, as the store counts them.",
            ["replica"],
            registry=r,
        )
        self.unowned = Gauge(
            "reconciler_gateways_unowned",
            "Gateways Requested or Sent that no live replica holds: should stay 0 (a dead "
            "replica's work is taken over within about one lease term).",
            registry=r,
        )
        self.build_info = Gauge(
            "reconciler_build_info", "The running version (always 1).", ["version"], registry=r
        )
        self.build_info.labels(version=__version__).set(1)
        SandboxedProcessCollector(registry=r)  # process_*: memory, CPU, fds, start time
        PlatformCollector(registry=r)  # python_info
        GCCollector(registry=r)  # python_gc_*
        self._gateway_labels: set[tuple[str, str]] = set()
        self._counted: object = None

    def record(self, status: DaemonStatus) -> None:
        """Set the gauges from the daemon's status record (every field they show comes from it)."""
        if status.head is not None:
            self.last_commit_valid.set(1 if status.head.repo.valid else 0)
        if status.applied is not None:
            self.applied_commit_timestamp.set(status.applied.info.timestamp)
        if status.headend_up is not None:
            self.headend_up.set(1 if status.headend_up else 0)
        self.commit_held.set(1 if status.held is not None else 0)
        self.git_unsafe.set(1 if status.git_unsafe else 0)
        self.set_replicas(status)
        if status.counts is not self._counted:
            self._counted = status.counts
            self.set_gateways(status.counts)

    def set_replicas(self, status: DaemonStatus) -> None:
        """The replica gauges: from the shared store's view, or one process that leads (SQLite)."""
        replicas = status.replicas
        if replicas is None:
            self.leader.set(1)
            self.replicas_live.set(1)
            return
        self.leader.set(1 if replicas.leading else 0)
        self.leader_epoch.set(replicas.epoch)
        self.replicas_live.set(replicas.live)
        self.unowned.set(replicas.unowned)
        self.claims_held.clear()
        for name, count in replicas.claims.items():
            self.claims_held.labels(replica=name).set(count)

    def on_response(self, endpoint: str, code: str, seconds: float) -> None:
        """The HTTP driver's hook: one call per head-end response (or failure)."""
        self.headend_requests.labels(endpoint=endpoint, code=code).inc()
        self.headend_request_duration.labels(endpoint=endpoint).observe(seconds)

    def set_gateways(self, counts: Iterable[ProfileCounts]) -> None:
        """Replace ``reconciler_gateways`` with these counts (label sets that vanished are removed)."""
        seen: set[tuple[str, str]] = set()
        self.reboot_pending.clear()
        for group in counts:
            profile = group.profile or NO_PROFILE
            self.reboot_pending.labels(profile=profile).set(group.reboot_pending)
            for status, count in group.statuses.items():
                self.gateways.labels(profile=profile, status=status).set(count)
                seen.add((profile, status))
        for labels in self._gateway_labels - seen:
            self.gateways.remove(*labels)
        self._gateway_labels = seen

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class SandboxedProcessCollector(ProcessCollector):
    """prometheus_client's ``process_*`` collector, also where ``/proc/stat`` is hidden.

    The stock collector reads the boot time from ``/proc/stat`` and, when it
    cannot, exports nothing at all.  systemd's ``ProcSubset=pid``
    (deploy/systemd/reconciler.service) hides that file while ``/proc/self``
    stays readable, so the boot time comes from the clocks instead (wall
    clock minus ``CLOCK_BOOTTIME``, read once: the start time stays constant).
    """

    def _boot_time(self) -> float:
        try:
            with open(os.path.join(self._proc, "stat"), "rb") as stat:
                for line in stat:
                    if line.startswith(b"btime "):
                        return float(line.split()[1])
        except OSError:
            pass
        if not hasattr(time, "CLOCK_BOOTTIME"):
            return 0.0  # not Linux: there is no /proc to read either, the collector stays empty
        return time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)
