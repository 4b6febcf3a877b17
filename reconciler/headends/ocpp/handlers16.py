"""The head-end's answers to an OCPP 1.6 charge point's own messages.

One :class:`Session16` per connected 1.6 charge point (created by :mod:`.server`).
Handlers run inside the reader (:class:`~.sessions.Session`): they only update
memory through the hub and answer at once; the hub's tasks make any call that
follows (never a call from here).  Answers are camelCase payloads.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ocpp.v16.enums import Action  # type: ignore[import-untyped]

from reconciler.headends.ocpp.records import BUSY_STATUSES_16, now_text
from reconciler.headends.ocpp.sessions import Session, on


class Session16(Session):
    """A connected OCPP 1.6 charge point."""

    protocol: ClassVar[str] = "ocpp1.6"
    _ocpp_version: ClassVar[str] = "1.6"
    _actions: ClassVar[frozenset[str]] = frozenset(str(a) for a in Action)

    def _id_tag_info(self) -> dict[str, Any]:
        return {"status": "Accepted" if self.hub.options.authorize else "Invalid"}

    @on(Action.boot_notification)
    def on_boot_notification(
        self,
        charge_point_vendor: str,
        charge_point_model: str,
        charge_point_serial_number: str = "",
        firmware_version: str = "",
        **_: Any,
    ) -> dict[str, Any]:
        interval = self.hub.booted(
            self, charge_point_vendor, charge_point_model, charge_point_serial_number,
            firmware_version,
        )  # fmt: skip
        return {"status": "Accepted", "currentTime": now_text(), "interval": interval}

    @on(Action.heartbeat)
    def on_heartbeat(self, **_: Any) -> dict[str, Any]:
        return {"currentTime": now_text()}

    @on(Action.status_notification)
    def on_status_notification(self, connector_id: int, status: str, **_: Any) -> dict[str, Any]:
        if connector_id > 0:
            port = str(connector_id)
            self.hub.port_status(self, port, charging=status in BUSY_STATUSES_16)
        return {}

    @on(Action.authorize)
    def on_authorize(self, **_: Any) -> dict[str, Any]:
        return {"idTagInfo": self._id_tag_info()}

    @on(Action.start_transaction)
    def on_start_transaction(self, **_: Any) -> dict[str, Any]:
        # Tracked even when the id tag is refused: the charger may have started it offline.
        transaction = self.hub.next_transaction_id()
        self.hub.transaction(self, str(transaction), active=True)
        return {"transactionId": transaction, "idTagInfo": self._id_tag_info()}

    @on(Action.stop_transaction)
    def on_stop_transaction(
        self, transaction_id: int, id_tag: str | None = None, **_: Any
    ) -> dict[str, Any]:
        self.hub.transaction(self, str(transaction_id), active=False)
        return {"idTagInfo": self._id_tag_info()} if id_tag else {}

    @on(Action.meter_values)
    def on_meter_values(self, **_: Any) -> dict[str, Any]:
        return {}

    @on(Action.firmware_status_notification)
    def on_firmware_status_notification(self, **_: Any) -> dict[str, Any]:
        return {}

    @on(Action.diagnostics_status_notification)
    def on_diagnostics_status_notification(self, **_: Any) -> dict[str, Any]:
        return {}

    @on(Action.security_event_notification)
    def on_security_event_notification(self, **_: Any) -> dict[str, Any]:
        return {}

    @on(Action.log_status_notification)
    def on_log_status_notification(self, **_: Any) -> dict[str, Any]:
        return {}

    @on(Action.signed_firmware_status_notification)
    def on_signed_firmware_status_notification(self, **_: Any) -> dict[str, Any]:
        return {}

    @on(Action.data_transfer)
    def on_data_transfer(self, **_: Any) -> dict[str, Any]:
        return {"status": "UnknownVendorId"}
