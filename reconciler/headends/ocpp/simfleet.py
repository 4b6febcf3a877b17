"""N simulated OCPP charge points in one process: who they are, starting them, faults, stopping.

Run by ``reconciler ocpp simulate`` (:mod:`reconciler.cli.ocpp_simulate`) and
by :func:`reconciler.testing.chargers.running_chargers` for tests and
benchmarks; the control API over it is :mod:`reconciler.headends.ocpp.simcontrol`.

Identities: ``{id_prefix}{number:06d}`` for numbers 0..count-1; with protocol
``mixed`` even numbers speak ``ocpp1.6`` and odd ones ``ocpp2.0.1``.  With
``ids_from`` (a config repository) the chargers are the repository's gateways
whose type's catalog protocol is OCPP, with that type's keys and the vendor and
model its ``match`` expects; the initial password is the gateway's
subsettings value of the password key (a ``{secret: NAME}`` resolved by
:class:`~reconciler.loading.secrets.SecretResolver`), else ``password_secret``.
"""

# The ocpp library ships no type information.
# mypy: disable-error-code="import-untyped"

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ocpp.messages

from reconciler.headends.ocpp.chargepoint import Rules, SimCharger
from reconciler.headends.ocpp.simconfig import ConfigStore, TypeModel
from reconciler.headends.ocpp.simlink import LOG, SimContext
from reconciler.headends.ocpp.simv16 import RULES as RULES16
from reconciler.headends.ocpp.simv201 import RULES as RULES201
from reconciler.headends.ocpp.wire import DEFAULT_TYPES, PASSWORD_KEYS
from reconciler.loading.secrets import SecretResolver
from reconciler.model.catalogs import Catalog

PROTOCOL_CHOICES = ("ocpp1.6", "ocpp2.0.1", "mixed")
RULES: dict[str, Rules] = {"ocpp1.6": RULES16, "ocpp2.0.1": RULES201}


@dataclass
class FleetOptions:
    """Everything ``reconciler ocpp simulate`` can be told (defaults are the CLI's)."""

    connect: str = "ws://127.0.0.1:9000/ocpp"
    count: int | None = None
    protocol: str = "mixed"
    id_prefix: str = "CP-"
    ids_from: Path | None = None
    password_secret: str | None = None
    firmware: str = "1.0.0"
    seed: int = 0
    connect_rate: float = 0.0
    handshakes: int = 200
    reboot_delay: float = 0.2
    call_timeout: float = 30.0
    items_per_message: int = 16
    bytes_per_message: int = 8192
    reboot_keys: tuple[str, ...] = ()
    slow_s: float = 0.0
    drop_answers: int = 0
    fault_share: float = 1.0
    environ: Mapping[str, str] | None = field(default=None, repr=False)


def resolve_password(value: Any, resolve: SecretResolver) -> str | None:
    """A password key's value from a repository: a literal, or ``{secret: NAME}`` resolved."""
    if isinstance(value, dict) and isinstance(value.get("secret"), str):
        return resolve(value["secret"])
    return value if isinstance(value, str) else None


class Fleet:
    """The chargers, their shared context, and what is done to them (run, faults, stop)."""

    def __init__(self, options: FleetOptions, catalog: Catalog | None = None) -> None:
        self.options = options
        self.ctx = SimContext(
            url=options.connect,
            reboot_delay=options.reboot_delay,
            call_timeout=options.call_timeout,
            handshakes=options.handshakes,
            connect_rate=options.connect_rate,
            seed=options.seed,
        )
        self.chargers: dict[str, SimCharger] = {}
        self._models: dict[str, TypeModel] = {}
        self._tasks: list[asyncio.Task[None]] = []
        resolve = SecretResolver(options.environ)
        if options.ids_from is not None:
            self._from_repo(options.ids_from, resolve)
        else:
            self._numbered(catalog, resolve)
        self.set_faults(
            self._share(options.fault_share),
            slow_s=options.slow_s,
            drop_answers=options.drop_answers,
        )

    # --- building --------------------------------------------------------------------------

    def _model(self, catalog: Catalog, gateway_type: str) -> TypeModel:
        if gateway_type not in self._models:
            self._models[gateway_type] = TypeModel(
                catalog.types[gateway_type],
                items_per_message=self.options.items_per_message,
                bytes_per_message=self.options.bytes_per_message,
                reboot_keys=self.options.reboot_keys,
            )
        return self._models[gateway_type]

    def _add(self, charger_id: str, model: TypeModel, password: str | None) -> None:
        store = ConfigStore(model)
        if password:
            store.put(model.password_key, password)
        if "SecurityCtrlr.Identity" in model.specs:
            store.put("SecurityCtrlr.Identity", charger_id[:48])
        rules = RULES[model.protocol]
        self.chargers[charger_id] = SimCharger(
            self.ctx, charger_id, store, rules, self.options.firmware
        )

    def _numbered(self, catalog: Catalog | None, resolve: SecretResolver) -> None:
        from reconciler.loading.catalogs import shipped_catalog

        catalog = catalog or shipped_catalog()
        password = resolve(self.options.password_secret) if self.options.password_secret else None
        for number in range(self.options.count if self.options.count is not None else 1):
            protocol = self.options.protocol
            if protocol == "mixed":
                protocol = "ocpp1.6" if number % 2 == 0 else "ocpp2.0.1"
            model = self._model(catalog, DEFAULT_TYPES[protocol])
            self._add(f"{self.options.id_prefix}{number:06d}", model, password)

    def _from_repo(self, path: Path, resolve: SecretResolver) -> None:
        from reconciler.loading.repos import load_repo
        from reconciler.loading.sources import DirectorySource

        repo = load_repo(DirectorySource(path))
        fallback = resolve(self.options.password_secret) if self.options.password_secret else None
        for gateway_id in sorted(repo.gateways):
            entry = repo.gateways[gateway_id]
            types = repo.catalog.types.get(entry.type)
            if types is None or types.protocol not in RULES:
                continue
            if self.options.count is not None and len(self.chargers) >= self.options.count:
                break
            key = PASSWORD_KEYS[types.protocol]
            password = fallback
            for section in entry.subsettings.values():
                if isinstance(section, dict) and key in section:
                    password = resolve_password(section[key], resolve)
            self._add(gateway_id, self._model(repo.catalog, entry.type), password)

    def _share(self, share: float) -> list[str]:
        ids = sorted(self.chargers)
        if share >= 1.0:
            return ids
        picked = random.Random(self.options.seed).sample(ids, round(len(ids) * max(0.0, share)))
        return sorted(picked)

    # --- running ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start every charger's task (connects are bounded and rate-limited by the context)."""
        # Schema validation of each incoming CALL inline: the library's default runs it in a
        # thread pool per message, far slower with thousands of chargers (process-wide setting).
        ocpp.messages.ASYNC_VALIDATION = False
        for charger in self.chargers.values():
            self._tasks.append(asyncio.ensure_future(charger.run()))

    async def stop(self) -> None:
        """Close every connection (normally), then end the tasks."""
        self.ctx.stopping = True
        open_ones = [c.ws for c in self.chargers.values() if c.ws is not None]
        for start in range(0, len(open_ones), 500):
            await asyncio.gather(
                *(ws.close() for ws in open_ones[start : start + 500]), return_exceptions=True
            )
        for task in [*self._tasks, *self.ctx.tasks]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self.ctx.tasks, return_exceptions=True)
        self._tasks.clear()
        LOG.debug("fleet stopped")

    # --- faults and views ------------------------------------------------------------------

    def select(self, ids: Iterable[str] | None = None, share: float | None = None) -> list[str]:
        """Charger ids: those named (unknown ones dropped), else a seeded share, else all."""
        if ids is not None:
            return [i for i in ids if i in self.chargers]
        return self._share(1.0 if share is None else share)

    def set_faults(
        self, ids: Iterable[str], *, slow_s: float | None = None, drop_answers: int | None = None
    ) -> list[str]:
        """Set answer faults on chargers: delay every answer ``slow_s``; drop the next K answers."""
        chosen = list(ids)
        for charger_id in chosen:
            charger = self.chargers[charger_id]
            if slow_s is not None:
                charger.slow_s = max(0.0, slow_s)
            if drop_answers is not None:
                charger.drop_answers = max(0, drop_answers)
        return chosen

    def status(self) -> dict[str, Any]:
        chargers = self.chargers.values()
        return {
            "chargers": len(self.chargers),
            "connected": sum(1 for c in chargers if c.connected),
            "booted": sum(1 for c in chargers if not c.boot_needed),
            "busy": sum(1 for c in chargers if c.busy),
        }

    def counters(self) -> dict[str, Any]:
        """Counters summed over all chargers, and per charger (non-zero only)."""
        total: dict[str, int] = {}
        for charger in self.chargers.values():
            for name, value in charger.counters.items():
                total[name] = total.get(name, 0) + value
        per = {cid: dict(c.counters) for cid, c in self.chargers.items() if c.counters}
        return {"total": dict(sorted(total.items())), "chargers": per}
