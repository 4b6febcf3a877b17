"""The OCPP head-end's core: inventory, connected sessions, handshake checks, passwords and events.

One :class:`Hub` per server (:mod:`.server` builds it).  The sessions tell it
what their charge points say (:meth:`Hub.booted`, :meth:`Hub.transaction`, ...),
the northbound API (:mod:`.northbound`) reads it, the job book (:mod:`.jobs`)
and read-back (:mod:`.readback`) call the chargers through its sessions.
Everything here runs on the event loop and touches memory only; the store's
writer task persists the changes in batches.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import bisect
import contextlib
import hmac
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from reconciler.drivers import bodies
from reconciler.headends.ocpp.identities import Identities, Identity
from reconciler.headends.ocpp.jobs import JobBook
from reconciler.headends.ocpp.metrics import Metrics
from reconciler.headends.ocpp.records import Charger, Event, Passwords, rfc3339
from reconciler.headends.ocpp.sessions import Session
from reconciler.headends.ocpp.state import EVENTS_KEPT, Store
from reconciler.headends.ocpp.wire import HEARTBEAT_KEYS, PASSWORD_KEYS, charger_type
from reconciler.model.catalogs import ParameterSpec

if TYPE_CHECKING:
    from reconciler.headends.ocpp.server import HeadendOptions

log = logging.getLogger(__name__)

EVENTS_PER_ANSWER = 1000
DEFAULT_HEARTBEAT_S = 900


class Hub:
    """Chargers, sessions, passwords and events of one head-end."""

    def __init__(self, options: HeadendOptions, identities: Identities) -> None:
        self.options = options
        self.identities = identities
        self.metrics = Metrics()
        self.store = Store(options.state)
        chargers, jobs, events, passwords, meta = self.store.load()
        self.chargers: dict[str, Charger] = chargers
        self.passwords: dict[str, Passwords] = passwords
        self.sessions: dict[str, Session] = {}
        self.events: list[Event] = events
        self._event_seq = events[-1].seq if events else int(meta.get("event_seq", "0"))
        self._signal = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._order: list[str] | None = None
        self._transaction = max(int(meta.get("transaction", "0")), int(time.time()) % 1_000_000)
        self.jobs = JobBook(self, jobs)
        self.sync_passwords()

    # --- start and stop ----------------------------------------------------------------------

    def start(self) -> None:
        self.store.start()

    async def stop(self) -> None:
        await self.jobs.stop()
        for charger in self.chargers.values():
            charger.connected = False
        self.store.chargers_changed(self.chargers.values())
        self.store.meta_changed("event_seq", str(self._event_seq))
        await self.store.close()

    def flush_last_seen(self) -> None:
        """Mark connected chargers dirty so that their ``last_seen`` reaches the disk (lazily)."""
        self.store.chargers_changed(self.chargers[i] for i in self.sessions)

    # --- identities and passwords ------------------------------------------------------------

    def set_identities(self, identities: Identities) -> None:
        self.identities = identities
        self.sync_passwords()

    def sync_passwords(self) -> None:
        """Take passwords the identities source gives or changed; keep those set by jobs."""
        known = self.identities.known or {}
        for ident, identity in known.items():
            if identity.password is None:
                continue
            digest = self.store.password_digest(ident, identity.password)
            stored = self.passwords.get(ident)
            if stored is not None and stored.source == digest:
                continue
            if stored is None:
                stored = self.passwords[ident] = Passwords()
            if stored.current != digest:
                stored.previous, stored.current = stored.current, digest
            stored.source = digest
            self.store.passwords_changed(ident, stored)

    def admit(self, ident: str, authorization: str | None) -> tuple[int, str] | None:
        """``None`` to let charger ``ident`` in, else (HTTP status, metric reason)."""
        known = self.identities.known
        identity: Identity | None = known.get(ident) if known is not None else None
        if identity is None and not self.options.accept_unknown:
            return 404, "unknown_identity"
        if identity is not None and identity.missing_secret:
            log.warning(
                "%s: refused: its password secret %s is not provided",
                ident,
                identity.missing_secret,
            )
            return 401, "secret_missing"
        stored = self.passwords.get(ident)
        if stored is None or stored.current is None:
            return None
        password = _basic_password(authorization, ident)
        if password is None:
            return 401, "bad_password"
        digest = self.store.password_digest(ident, password)
        if hmac.compare_digest(digest, stored.current):
            if stored.previous is not None:  # the new password is in use: the old one retires
                stored.previous = None
                self.store.passwords_changed(ident, stored)
            return None
        if stored.previous is not None and hmac.compare_digest(digest, stored.previous):
            return None
        return 401, "bad_password"

    def password_set(self, charger_id: str, password: str) -> None:
        """A job set the charger's password: the new one is current, the old one still accepted."""
        stored = self.passwords.setdefault(charger_id, Passwords())
        digest = self.store.password_digest(charger_id, password)
        if stored.current != digest:
            stored.previous, stored.current = stored.current, digest
        self.store.passwords_changed(charger_id, stored)

    # --- sessions ----------------------------------------------------------------------------

    def connected(self, session: Session) -> None:
        charger = session.charger
        old = self.sessions.get(charger.id)
        if old is not None and old is not session:
            old.closed = True
            task = asyncio.get_running_loop().create_task(
                old.close(1000, "replaced by a new connection")
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            self.metrics.inc(self.metrics.connected, charger.protocol)
        self.sessions[charger.id] = session
        charger.connected = True
        charger.booted = False
        charger.seen()
        self.store.charger_changed(charger)
        self.event(charger.id, "connected")
        self.jobs.kick(charger.id)

    def disconnected(self, session: Session) -> None:
        charger = session.charger
        if self.sessions.get(charger.id) is not session:
            return  # replaced: the new session owns the charger now
        del self.sessions[charger.id]
        self.metrics.inc(self.metrics.connected, charger.protocol, -1)
        charger.connected = False
        self.store.charger_changed(charger)
        self.event(charger.id, "disconnected")

    def charger_for(self, ident: str, protocol: str) -> Charger:
        charger = self.chargers.get(ident)
        if charger is None or charger.protocol != protocol:
            old = charger
            charger = Charger(id=ident, protocol=protocol)
            charger.type = charger_type(self.identities.catalog, protocol, "", "")
            if old is not None:  # a charger that changed protocol keeps its facts
                charger.vendor, charger.model, charger.firmware = (
                    old.vendor,
                    old.model,
                    old.firmware,
                )
            self.chargers[ident] = charger
            self._order = None
        return charger

    def syntax(self, charger: Charger) -> Mapping[str, ParameterSpec]:
        types = self.identities.catalog.types.get(charger.type)
        return types.specs if types is not None else {}

    # --- what chargers say -------------------------------------------------------------------

    def booted(self, session: Session, vendor: str, model: str, serial: str, firmware: str) -> int:
        """A BootNotification: inventory, events, a job waiting for this boot; the interval."""
        charger = session.charger
        changed = bool(charger.firmware) and firmware != charger.firmware
        charger.vendor, charger.model, charger.serial = vendor, model, serial
        charger.firmware = firmware
        charger.type = charger_type(self.identities.catalog, charger.protocol, vendor, model)
        charger.booted = True
        # A boot ends every charging session: a transaction the charger never closed (power
        # loss) must not keep it "busy" for ever; StatusNotifications after the boot say anew.
        charger.transactions.clear()
        charger.charging_ports.clear()
        self.store.charger_changed(charger)
        self.event(charger.id, "booted")
        if changed:
            self.event(charger.id, "firmware_changed")
        self.jobs.booted(charger.id)
        return self.heartbeat(charger)

    def heartbeat(self, charger: Charger) -> int:
        if charger.heartbeat is not None:
            return charger.heartbeat
        spec = self.syntax(charger).get(HEARTBEAT_KEYS[charger.protocol])
        default = spec.default if spec is not None else None
        return default if isinstance(default, int) else DEFAULT_HEARTBEAT_S

    def port_status(self, session: Session, port: str, *, charging: bool) -> None:
        charger = session.charger
        was_busy = charger.busy
        if port not in charger.ports:
            charger.ports.append(port)
            charger.ports.sort(key=lambda p: (len(p), p))
            self.store.charger_changed(charger)
        if charging != (port in charger.charging_ports):
            if charging:
                charger.charging_ports.add(port)
            else:
                charger.charging_ports.discard(port)
            self.store.charger_changed(charger)
        if was_busy and not charger.busy:
            self.jobs.kick(charger.id)

    def transaction(self, session: Session, transaction: str, *, active: bool) -> None:
        charger = session.charger
        was_busy = charger.busy
        if active and transaction not in charger.transactions:
            charger.transactions.add(transaction)
            self.store.charger_changed(charger)
        elif not active and transaction in charger.transactions:
            charger.transactions.discard(transaction)
            self.store.charger_changed(charger)
        if was_busy and not charger.busy:
            self.jobs.kick(charger.id)

    def next_transaction_id(self) -> int:
        self._transaction += 1
        self.store.meta_changed("transaction", str(self._transaction))
        return self._transaction

    def applied(self, charger: Charger, values: Mapping[str, Any]) -> None:
        """Keys a job applied: remembered for read-back; heartbeat and password taken over."""
        charger.keys_set.update(values)
        heartbeat = values.get(HEARTBEAT_KEYS[charger.protocol])
        if isinstance(heartbeat, int) and not isinstance(heartbeat, bool):
            charger.heartbeat = heartbeat
        password = values.get(PASSWORD_KEYS[charger.protocol])
        if isinstance(password, str):
            self.password_set(charger.id, password)
        self.store.charger_changed(charger)

    # --- events ------------------------------------------------------------------------------

    def event(self, gateway_id: str, kind: str) -> None:
        self._event_seq += 1
        event = Event(self._event_seq, gateway_id, kind, rfc3339(time.time()))
        self.events.append(event)
        if len(self.events) > 2 * EVENTS_KEPT:
            del self.events[:EVENTS_KEPT]
        self.store.event_added(event)
        signal, self._signal = self._signal, asyncio.Event()
        signal.set()

    async def events_after(self, cursor: str | None, wait_s: float) -> dict[str, Any]:
        """The events long poll: events after ``cursor`` (or none: from now on), waiting up to ``wait_s``."""
        if cursor is None:
            return {"events": [], "next_cursor": bodies.encode_cursor(self._event_seq)}
        after = min(bodies.decode_cursor(cursor), self._event_seq)
        deadline = time.monotonic() + wait_s
        while True:
            start = bisect.bisect_right(self.events, after, key=lambda e: e.seq)
            found = self.events[start : start + EVENTS_PER_ANSWER]
            remaining = deadline - time.monotonic()
            if found or remaining <= 0:
                last = found[-1].seq if found else after
                return {
                    "events": [e.view() for e in found],
                    "next_cursor": bodies.encode_cursor(last),
                }
            signal = self._signal
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(signal.wait(), remaining)

    # --- inventory ---------------------------------------------------------------------------

    def order(self) -> list[str]:
        if self._order is None or len(self._order) != len(self.chargers):
            self._order = sorted(self.chargers)
        return self._order

    def gateway(self, charger: Charger) -> dict[str, Any]:
        known = self.identities.known or {}
        identity = known.get(charger.id)
        return {
            "id": charger.id,
            "type": charger.type,
            "firmware": charger.firmware or "unknown",
            "provider": identity.provider if identity else "",
            "address": identity.address if identity else "",
            "owner": identity.owner if identity else "",
            "stations": charger.stations(),
            "protocol": charger.protocol,
            "vendor": charger.vendor,
            "model": charger.model,
            "connected": charger.connected,
            "last_seen": rfc3339(charger.last_seen) if charger.last_seen else None,
            "busy": charger.busy,
        }


def _basic_password(header: str | None, ident: str) -> str | None:
    """The password of an HTTP Basic ``Authorization`` header whose user is ``ident``."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or len(value) > 1024:
        return None
    try:
        text = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = text.partition(":")
    if not sep or user != ident:
        return None
    return password
