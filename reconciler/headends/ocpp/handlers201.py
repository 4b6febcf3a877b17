"""The head-end's answers to an OCPP 2.0.1 charging station's own messages.

One :class:`Session201` per connected 2.0.1 charging station (created by
:mod:`.server`).  As in :mod:`.handlers16`: memory updates through the hub and
an immediate answer, never a call from here.  Ports are ``EVSE-CONNECTOR``
(``1-1``), all under one station whose id is the charging station's.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ocpp.v201.enums import Action  # type: ignore[import-untyped]

from reconciler.headends.ocpp.records import now_text
from reconciler.headends.ocpp.sessions import Session, on


class Session201(Session):
    """A connected OCPP 2.0.1 charging station."""

    protocol: ClassVar[str] = "ocpp2.0.1"
    _ocpp_version: ClassVar[str] = "2.0.1"
    _actions: ClassVar[frozenset[str]] = frozenset(str(a) for a in Action)

    def _id_token_info(self) -> dict[str, Any]:
        return {"status": "Accepted" if self.hub.options.authorize else "Invalid"}

    @on(Action.boot_notification)
    def on_boot_notification(self, charging_station: dict[str, Any], **_: Any) -> dict[str, Any]:
        interval = self.hub.booted(
            self,
            str(charging_station.get("vendor_name", "")),
            str(charging_station.get("model", "")),
            str(charging_station.get("serial_number", "")),
            str(charging_station.get("firmware_version", "")),
        )
        return {"status": "Accepted", "currentTime": now_text(), "interval": interval}

    @on(Action.heartbeat)
    def on_heartbeat(self, **_: Any) -> dict[str, Any]:
        return {"currentTime": now_text()}

    @on(Action.status_notification)
    def on_status_notification(self, evse_id: int, connector_id: int, **_: Any) -> dict[str, Any]:
        self.hub.port_status(self, f"{evse_id}-{connector_id}", charging=False)
        return {}

    @on(Action.authorize)
    def on_authorize(self, **_: Any) -> dict[str, Any]:
        return {"idTokenInfo": self._id_token_info()}

    @on(Action.transaction_event)
    def on_transaction_event(
        self,
        event_type: str,
        transaction_info: dict[str, Any],
        id_token: dict[str, Any] | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        # Tracked even when the token is refused: the station may have started it offline.
        transaction = str(transaction_info.get("transaction_id", ""))
        self.hub.transaction(self, transaction, active=event_type != "Ended")
        return {"idTokenInfo": self._id_token_info()} if id_token else {}

    @on(Action.meter_values)
    def on_meter_values(self, **_: Any) -> dict[str, Any]:
        return {}

    @on(Action.firmware_status_notification)
    def on_firmware_status_notification(self, **_: Any) -> dict[str, Any]:
        return {}

    @on(Action.security_event_notification)
    def on_security_event_notification(self, **_: Any) -> dict[str, Any]:
        return {}

    @on(Action.notify_report)
    def on_notify_report(self, **_: Any) -> dict[str, Any]:
        return {}

    @on(Action.notify_event)
    def on_notify_event(self, **_: Any) -> dict[str, Any]:
        return {}

    @on(Action.log_status_notification)
    def on_log_status_notification(self, **_: Any) -> dict[str, Any]:
        return {}

    @on(Action.notify_charging_limit)
    def on_notify_charging_limit(self, **_: Any) -> dict[str, Any]:
        return {}

    @on(Action.data_transfer)
    def on_data_transfer(self, **_: Any) -> dict[str, Any]:
        return {"status": "UnknownVendorId"}
