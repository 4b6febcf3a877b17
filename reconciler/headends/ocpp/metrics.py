"""The OCPP head-end's Prometheus metrics, in a registry of its own (served at ``/metrics``).

Created by :class:`~reconciler.headends.ocpp.hub.Hub`; counted by the sessions,
the job runner and the northbound API.  No label carries a charger id: label
values are protocols, OCPP actions, job states and fixed reasons only (an
action a charger sends that OCPP does not define is counted as ``other``).
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.exposition import generate_latest

from reconciler.headends.ocpp.wire import SUBPROTOCOLS

REJECT_REASONS = (
    "unknown_identity",
    "bad_password",
    "bad_path",
    "subprotocol",
    "secret_missing",
)
REFUSED_KINDS = ("oversized", "bad_json", "rate_limited", "binary", "flood")


class Metrics:
    """The counters and gauges; ``render()`` is the ``/metrics`` body."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self._children: dict[tuple[int, str], Any] = {}
        self.connected = Gauge(
            "ocpp_connected_chargers",
            "Charge points connected now, per protocol.",
            ["protocol"],
            registry=registry,
        )
        self.messages_in = Counter(
            "ocpp_messages_received",
            "OCPP messages received from charge points, per action (CALLs and answers).",
            ["action"],
            registry=registry,
        )
        self.messages_out = Counter(
            "ocpp_messages_sent",
            "OCPP messages sent to charge points, per action (CALLs and answers).",
            ["action"],
            registry=registry,
        )
        self.callerrors_sent = Counter(
            "ocpp_callerrors_sent", "CALLERRORs sent, per code.", ["code"], registry=registry
        )
        self.callerrors_received = Counter(
            "ocpp_callerrors_received",
            "CALLERRORs received, per code.",
            ["code"],
            registry=registry,
        )
        self.jobs = Gauge(
            "ocpp_jobs", "Configuration jobs, per status.", ["status"], registry=registry
        )
        self.rejected = Counter(
            "ocpp_rejected_connections",
            "WebSocket handshakes refused, per reason.",
            ["reason"],
            registry=registry,
        )
        self.refused = Counter(
            "ocpp_frames_refused",
            "Frames refused, per kind (oversized, bad_json, rate_limited, binary, flood).",
            ["kind"],
            registry=registry,
        )
        for protocol in SUBPROTOCOLS:
            self.connected.labels(protocol)
        for reason in REJECT_REASONS:
            self.rejected.labels(reason)
        for kind in REFUSED_KINDS:
            self.refused.labels(kind)
        for status in ("requested", "sent", "accepted", "declined"):
            self.jobs.labels(status)

    def inc(self, family: Counter | Gauge, label: str, amount: float = 1.0) -> None:
        """``family.labels(label).inc(amount)``, with the child cached (this runs per message)."""
        key = (id(family), label)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = family.labels(label)
        child.inc(amount)

    def render(self) -> bytes:
        return generate_latest(self.registry)
