"""The OCPP head-end's Prometheus metrics, in a registry of its own (served at ``/metrics``).

Created by :class:`~reconciler.headends.ocpp.hub.Hub`; counted by the sessions,
the job runner and the northbound API.  No label carries a charger id: label
values are protocols, OCPP actions, job states and fixed reasons only (an
action a charger sends that OCPP does not define is counted as ``other``).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from reconciler.headends.ocpp.wire import SUBPROTOCOLS

REJECT_REASONS = (
    "unknown_identity",
    "bad_password",
    "bad_path",
    "subprotocol",
    "secret_missing",
)
REFUSED_KINDS = ("oversized", "bad_json", "rate_limited", "binary", "flood")


class Family:
    """One metric family with one label: plain numbers per label value, read at scrape time.

    Counted on the event loop only (no lock): ``prometheus_client``'s own
    counters take a lock per increment, which showed in the head-end's profile
    at a few increments per OCPP message.
    """

    __slots__ = ("counter", "help", "label", "name", "values")

    def __init__(self, name: str, help_text: str, label: str, *, counter: bool) -> None:
        self.name = name
        self.help = help_text
        self.label = label
        self.counter = counter
        self.values: dict[str, float] = {}

    def metric(self) -> Metric:
        family: Metric
        if self.counter:
            family = CounterMetricFamily(self.name, self.help, labels=[self.label])
        else:
            family = GaugeMetricFamily(self.name, self.help, labels=[self.label])
        for value, amount in sorted(self.values.items()):
            family.add_metric([value], amount)
        return family


class _Collector(Collector):
    def __init__(self, families: list[Family]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        for family in self.families:
            yield family.metric()


class Metrics:
    """The counters and gauges; ``render()`` is the ``/metrics`` body."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.connected = Family(
            "ocpp_connected_chargers",
            "Charge points connected now, per protocol.",
            "protocol",
            counter=False,
        )
        self.messages_in = Family(
            "ocpp_messages_received",
            "OCPP messages received from charge points, per action (CALLs and answers).",
            "action",
            counter=True,
        )
        self.messages_out = Family(
            "ocpp_messages_sent",
            "OCPP messages sent to charge points, per action (CALLs and answers).",
            "action",
            counter=True,
        )
        self.callerrors_sent = Family(
            "ocpp_callerrors_sent", "CALLERRORs sent, per code.", "code", counter=True
        )
        self.callerrors_received = Family(
            "ocpp_callerrors_received", "CALLERRORs received, per code.", "code", counter=True
        )
        self.jobs = Family("ocpp_jobs", "Configuration jobs, per status.", "status", counter=False)
        self.rejected = Family(
            "ocpp_rejected_connections",
            "WebSocket handshakes refused, per reason.",
            "reason",
            counter=True,
        )
        self.refused = Family(
            "ocpp_frames_refused",
            "Frames refused, per kind (oversized, bad_json, rate_limited, binary, flood).",
            "kind",
            counter=True,
        )
        for family, labels in (
            (self.connected, SUBPROTOCOLS),
            (self.rejected, REJECT_REASONS),
            (self.refused, REFUSED_KINDS),
            (self.jobs, ("requested", "sent", "accepted", "declined")),
        ):
            family.values.update(dict.fromkeys(labels, 0.0))
        self.registry.register(
            _Collector(
                [
                    self.connected,
                    self.messages_in,
                    self.messages_out,
                    self.callerrors_sent,
                    self.callerrors_received,
                    self.jobs,
                    self.rejected,
                    self.refused,
                ]
            )
        )

    @staticmethod
    def inc(family: Family, label: str, amount: float = 1.0) -> None:
        """Add ``amount`` to ``family``'s value for ``label`` (this runs per message)."""
        values = family.values
        values[label] = values.get(label, 0.0) + amount

    @staticmethod
    def set(family: Family, label: str, value: float) -> None:
        family.values[label] = value

    def render(self) -> bytes:
        return generate_latest(self.registry)
