"""The OCPP head-end's Prometheus metrics, in a registry of its own (served at ``/metrics``).

Created by :class:`~reconciler.headends.ocpp.hub.Hub`; counted by the sessions,
the job runner and the northbound API.  No label carries a charger id: label
values are protocols, OCPP actions, job states and fixed reasons only (an
action a charger sends that OCPP does not define is counted as ``other``).
In relay mode (:meth:`Metrics.enable_relay`, called by :mod:`.server`) the
relay's families are exported too: ``reconciler_ocpp_relayed_messages_total``,
``reconciler_ocpp_upstream_connections``, ``reconciler_ocpp_calls_waiting``,
``reconciler_ocpp_upstream_timeouts_total`` and
``reconciler_ocpp_upstream_interval_differs_total``.
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
UPSTREAM_STATES = ("connected", "connecting", "down")
"""States of an upstream connection (the ``state`` label of ``reconciler_ocpp_upstream_connections``)."""
DIRECTIONS = ("to_upstream", "to_charger")


class Family:
    """One metric family with one label (or none: ``label=""``): plain numbers per label value,
    read at scrape time.

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
        if not self.label:
            total = self.values.get("", 0.0)
            if self.counter:
                return CounterMetricFamily(self.name, self.help, value=total)
            return GaugeMetricFamily(self.name, self.help, value=total)
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
        self.relayed = Family(
            "reconciler_ocpp_relayed_messages",
            "Frames relayed unchanged between chargers and the upstream, per direction.",
            "direction",
            counter=True,
        )
        self.upstream = Family(
            "reconciler_ocpp_upstream_connections",
            "Upstream connections (one per connected charger), per state.",
            "state",
            counter=False,
        )
        self.calls_waiting = Family(
            "reconciler_ocpp_calls_waiting",
            "Calls (the head-end's and the upstream's) waiting their turn at a charger's connection.",
            "",
            counter=False,
        )
        self.upstream_timeouts = Family(
            "reconciler_ocpp_upstream_timeouts",
            "Charger CALLs answered with a CALLERROR because the upstream did not answer in time.",
            "",
            counter=True,
        )
        self.interval_differs = Family(
            "reconciler_ocpp_upstream_interval_differs",
            "Upstream BootNotification answers whose interval differs from the HeartbeatInterval"
            " the head-end last set on that charger.",
            "",
            counter=True,
        )
        for family, labels in (
            (self.relayed, DIRECTIONS),
            (self.upstream, UPSTREAM_STATES),
            (self.calls_waiting, ("",)),
            (self.upstream_timeouts, ("",)),
            (self.interval_differs, ("",)),
            (self.connected, SUBPROTOCOLS),
            (self.rejected, REJECT_REASONS),
            (self.refused, REFUSED_KINDS),
            (self.jobs, ("requested", "sent", "accepted", "declined")),
        ):
            family.values.update(dict.fromkeys(labels, 0.0))
        self._collector = _Collector(
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
        self.registry.register(self._collector)

    def enable_relay(self) -> None:
        """Export the relay's families too (relay mode; once, before the first scrape)."""
        self._collector.families.extend(
            [
                self.relayed,
                self.upstream,
                self.calls_waiting,
                self.upstream_timeouts,
                self.interval_differs,
            ]
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
