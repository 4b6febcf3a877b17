"""The simulated fleet behind the head-end simulator: gateways, their live configs, their jobs.

Used by :mod:`reconciler.headends.simulator` (which serves it over HTTP) and by
tests that want a fleet without a server.  No I/O and no clock of its own: every
call that depends on time takes ``now`` (seconds, monotonic), so that job
progress is computed lazily from timestamps when someone asks, instead of one
task or timer per job.

A job moves ``requested`` -> ``sent`` -> ``accepted`` (or ``declined``), one
step every ``step_s`` seconds after its creation.  Whether it will be accepted
is decided when it is created (against the gateway's syntax at that moment);
an accepted job changes the gateway's live configuration once it is seen
accepted, or when the gateway's configuration is read, whichever comes first.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from packaging.version import InvalidVersion, Version

from reconciler.model.catalogs import (
    Catalog,
    ParameterSpec,
    TypeCatalog,
    check_text,
    check_value,
    parse_version,
)

LEADING_TYPES = ("LSX", "LSG", "ACCU")
"""The first types of a synthetic fleet, in this order (``LSX-000000``, ``LSG-000001``, ...);
every other type of the catalog follows them, sorted."""

FIRMWARE_RELEASES: dict[str, tuple[str, ...]] = {
    # Hand-picked releases of the LG2WAN types, spread over the ranges their catalogs know
    # (docs/reference/catalog.md), boundaries included.  Any other type: firmware_releases().
    "LSX": ("1.1.0", "1.2.0", "1.4.2", "2.0.0", "2.1.3", "3.0.0", "3.0.1"),
    "LSG": ("3.1.0", "3.2.0", "3.2.4", "4.0.0", "4.1.0", "4.1.3"),
    "ACCU": ("1.0.0", "1.1.0", "1.4.0", "2.0.0"),
}
UNRANGED_RELEASES = ("1.8.2", "2.4.0", "3.1.1")
"""Releases of a type whose keys know no firmware range (the OCPP chargers): vendor versions."""
PROVIDERS = ("Stadtwerke Rheinland", "ChargeNet", "Voltaro Mobility", "RuhrStrom", "EnBW Kommunal")
OWNERS = ("stadtwerke-rheinland", "city-of-essen", "parkhaus-gmbh", "retail-park-ag", "depot-ops")
STREETS = ("Hauptstrasse", "Bahnhofplatz", "Am Markt", "Rheinallee", "Industriestrasse")
CITIES = (("44137", "Dortmund"), ("40210", "Duesseldorf"), ("45127", "Essen"), ("50667", "Koeln"))


def fleet_types(catalog: Catalog) -> tuple[str, ...]:
    """Every type of ``catalog``, in the order a synthetic fleet takes them: LSX, LSG, ACCU, then the rest sorted."""
    leading = [t for t in LEADING_TYPES if t in catalog.types]
    return (*leading, *sorted(t for t in catalog.types if t not in LEADING_TYPES))


def firmware_releases(types: TypeCatalog) -> tuple[str, ...]:
    """Plausible releases of one type, from the firmware ranges of its catalog.

    The LG2WAN types: :data:`FIRMWARE_RELEASES`.  Another type: every version a
    range of its keys names, and the next patch release of each (so both sides of
    every boundary are served); a type without ranges: :data:`UNRANGED_RELEASES`.
    """
    known = FIRMWARE_RELEASES.get(types.gateway_type)
    if known is not None:
        return known
    bounds: set[Version] = set()
    for spec in types.specs.values():
        for clause in spec.specifier:
            try:
                bounds.add(Version(clause.version))
            except InvalidVersion:  # a wildcard such as ==2.*
                continue
    if not bounds:
        return UNRANGED_RELEASES
    releases = {str(b) for b in bounds} | {f"{b.major}.{b.minor}.{b.micro + 1}" for b in bounds}
    return tuple(sorted(releases, key=Version))


def gateway_id(gateway_type: str, number: int) -> str:
    """Ids of a synthetic fleet; the same scheme as ``reconciler.testing.synthetic_repo``."""
    return f"{gateway_type}-{number:06d}"


@dataclass(frozen=True, slots=True)
class Syntax:
    """The syntax of one type@firmware and its firmware defaults (secrets have none), shared."""

    specs: dict[str, ParameterSpec]
    defaults: dict[str, Any]


@dataclass(slots=True)
class SimJob:
    """One job; its status is a function of ``created`` and the time it is asked at."""

    job_id: str
    gateway_id: str
    parameters: dict[str, Any]
    idempotency_key: str
    created: float
    declined: bool
    reason: str | None = None
    rejected: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class SimGateway:
    """A gateway: inventory facts, its syntax, and its live values as overrides of the defaults."""

    id: str
    type: str
    firmware: str
    syntax: Syntax
    inventory: dict[str, Any]
    overrides: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    pending: list[SimJob] = field(default_factory=list)

    def live(self) -> dict[str, Any]:
        return {**self.syntax.defaults, **self.overrides}


class Fleet:
    """Gateways by id, jobs by id and by idempotency key, and the rules that move them."""

    def __init__(self, gateways: Iterable[SimGateway], *, step_s: float) -> None:
        self.gateways: dict[str, SimGateway] = {g.id: g for g in gateways}
        self.order: list[str] = sorted(self.gateways)
        self.jobs: dict[str, SimJob] = {}
        self.by_key: dict[str, SimJob] = {}
        self.step_s = step_s
        self.created = 0
        """Jobs created since start: numbers job ids, which stay unique after :meth:`forget_jobs`."""

    def forget_jobs(self) -> int:
        """Drop the job table, idempotency keys included (a restart without it); returns how
        many jobs were dropped.  Configurations already on their way still apply."""
        dropped = len(self.jobs)
        self.jobs.clear()
        self.by_key.clear()
        return dropped

    def create_job(
        self,
        gateway: SimGateway,
        parameters: dict[str, Any],
        idempotency_key: str,
        now: float,
        *,
        fault_reason: str | None = None,
    ) -> SimJob:
        """A new job, declined if a parameter is outside the gateway's syntax (or by a fault)."""
        rejected = rejected_parameters(gateway, parameters)
        reason = fault_reason
        if rejected:
            reason = f"{len(rejected)} of {len(parameters)} parameters rejected by {gateway.type} {gateway.firmware}"
        job = SimJob(
            job_id=f"job-{self.created + 1:09d}",
            gateway_id=gateway.id,
            parameters=parameters,
            idempotency_key=idempotency_key,
            created=now,
            declined=reason is not None,
            reason=reason,
            rejected=rejected,
        )
        self.created += 1
        self.jobs[job.job_id] = job
        self.by_key[idempotency_key] = job
        if not job.declined:
            gateway.pending.append(job)
        return job

    def status(self, job: SimJob, now: float) -> str:
        elapsed = now - job.created
        if elapsed < self.step_s:
            return "requested"
        if elapsed < 2 * self.step_s:
            return "sent"
        if job.declined:
            return "declined"
        self.settle(self.gateways[job.gateway_id], now)
        return "accepted"

    def settle(self, gateway: SimGateway, now: float) -> None:
        """Apply the gateway's accepted jobs, oldest first (later jobs are never done earlier)."""
        done = 0
        for job in gateway.pending:
            if now - job.created < 2 * self.step_s:
                break
            for key, value in job.parameters.items():
                if gateway.syntax.specs[key].type == "secret":
                    gateway.secrets[key] = value
                else:
                    gateway.overrides[key] = value
            done += 1
        if done:
            del gateway.pending[:done]

    def live_config(self, gateway: SimGateway, now: float) -> dict[str, Any]:
        self.settle(gateway, now)
        return gateway.live()

    def drift(self, gateway: SimGateway, rng: random.Random, now: float) -> str | None:
        """Change one live value of ``gateway`` to another valid value; the key, or ``None``."""
        self.settle(gateway, now)
        live = gateway.live()
        keys = [k for k, s in gateway.syntax.specs.items() if _driftable(s)]
        if not keys:
            return None
        key = rng.choice(keys)
        gateway.overrides[key] = other_value(gateway.syntax.specs[key], live.get(key), rng)
        return key


def rejected_parameters(gateway: SimGateway, parameters: Mapping[str, Any]) -> dict[str, str]:
    """``{KEY: why}`` for every parameter this gateway would refuse."""
    rejected: dict[str, str] = {}
    specs = gateway.syntax.specs
    for key, value in parameters.items():
        spec = specs.get(key)
        if spec is None:
            rejected[key] = f"not in the syntax of {gateway.type} {gateway.firmware}"
            continue
        if spec.type == "secret":
            # On the wire a secret is its resolved value, not the {secret: NAME} reference of git.
            problem = (
                check_text(spec, value) if isinstance(value, str) else "expected a string secret"
            )
        else:
            problem = check_value(spec, value)
        if problem is not None:
            rejected[key] = problem
    return rejected


def _driftable(spec: ParameterSpec) -> bool:
    return spec.type in ("integer", "decimal", "boolean", "enum", "list") or (
        spec.type == "string" and spec.pattern is None
    )


def other_value(spec: ParameterSpec, current: Any, rng: random.Random) -> Any:
    """A valid value for ``spec`` that differs from ``current`` when the bounds allow it."""
    for _ in range(8):
        value = _random_value(spec, rng)
        if value != current:
            return value
    return value


def _random_value(spec: ParameterSpec, rng: random.Random) -> Any:
    low = spec.min if spec.min is not None else 0
    high = spec.max if spec.max is not None else low + 1000
    if spec.type == "integer":
        return rng.randint(int(low), int(high))
    if spec.type == "decimal":
        return round(rng.uniform(low, high), 1)
    if spec.type == "boolean":
        return rng.random() < 0.5
    values = spec.values or []
    if spec.type == "enum":
        return rng.choice(values)
    if spec.type == "list":
        low_items = max(spec.min_items or 0, 1)
        count = rng.randint(low_items, min(spec.max_items or len(values), len(values)))
        return rng.sample(values, count)
    text = f"drift-{rng.randrange(10_000):04d}"
    return text[: spec.max_length] if spec.max_length else text


class Syntaxes:
    """One shared :class:`Syntax` per type@firmware of a catalog (a fleet has few of them)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._cache: dict[tuple[str, str], Syntax] = {}
        self._releases: dict[str, tuple[str, ...]] = {}

    def releases(self, gateway_type: str) -> tuple[str, ...]:
        """:func:`firmware_releases` of a type of this catalog, computed once."""
        found = self._releases.get(gateway_type)
        if found is None:
            found = self._releases[gateway_type] = firmware_releases(
                self.catalog.types[gateway_type]
            )
        return found

    def get(self, gateway_type: str, firmware: str) -> Syntax:
        found = self._cache.get((gateway_type, firmware))
        if found is None:
            version = parse_version(firmware)
            types = self.catalog.types[gateway_type]
            # A firmware that is not a version (``V2.12-rc3b``) knows only the unrestricted keys.
            specs = (
                types.for_firmware(version)
                if version is not None
                else {k: s for k, s in types.specs.items() if not s.firmware}
            )
            defaults = {k: s.default for k, s in specs.items() if s.type != "secret"}
            found = self._cache[(gateway_type, firmware)] = Syntax(specs, defaults)
        return found


def make_gateway(
    syntaxes: Syntaxes, ident: str, gateway_type: str, number: int, rng: random.Random
) -> SimGateway:
    """A gateway with plausible inventory facts, running a random release of its type."""
    firmware = rng.choice(syntaxes.releases(gateway_type))
    postcode, city = rng.choice(CITIES)
    stations = [
        {
            "id": f"CS-{number:06d}-{s}",
            "ports": [f"CS-{number:06d}-{s}-{p}" for p in (1, 2)][: rng.randint(1, 2)],
        }
        for s in range(1, rng.randint(1, 2) + 1)
    ]
    inventory = {
        "id": ident,
        "type": gateway_type,
        "firmware": firmware,
        "provider": rng.choice(PROVIDERS),
        "address": f"{rng.choice(STREETS)} {rng.randint(1, 120)}, {postcode} {city}",
        "owner": rng.choice(OWNERS),
        "stations": stations,
    }
    syntax = syntaxes.get(gateway_type, firmware)
    return SimGateway(ident, gateway_type, firmware, syntax, inventory)


def synthetic_fleet(catalog: Catalog, count: int, *, seed: int) -> list[SimGateway]:
    """``count`` gateways, taking every type of ``catalog`` in turn (:func:`fleet_types`:
    LSX, LSG, ACCU, then the others); the same for the same seed."""
    rng, syntaxes = random.Random(seed), Syntaxes(catalog)
    types = fleet_types(catalog)
    return [
        make_gateway(syntaxes, gateway_id(types[n % len(types)], n), types[n % len(types)], n, rng)
        for n in range(count)
    ]


def fleet_from_declarations(
    catalog: Catalog, declared: Iterable[tuple[str, str]], *, seed: int
) -> list[SimGateway]:
    """Gateways for ``(id, type)`` pairs (e.g. a config repo's ``gateways.d``), sorted by id."""
    rng, syntaxes = random.Random(seed), Syntaxes(catalog)
    return [
        make_gateway(syntaxes, ident, gateway_type, number, rng)
        for number, (ident, gateway_type) in enumerate(sorted(declared))
    ]
