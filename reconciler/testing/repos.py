"""Config repositories and inventories for tests and benchmarks: files on disk, synthetic fleets.

Used by the tests of every layer, the benchmarks and the simulator's fleets
(re-exported by :mod:`reconciler.testing`).  Nothing in the product imports it.
"""

from __future__ import annotations

import random
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

from reconciler.headends.fleet import LEADING_TYPES, firmware_releases, fleet_types
from reconciler.loading.catalogs import shipped_catalog
from reconciler.model.catalogs import Catalog

GATEWAY_TYPES: tuple[str, ...] = fleet_types(shipped_catalog())
"""Every type of the shipped catalog, as the simulator's synthetic fleet takes them (LSX, LSG, ACCU first)."""

REPO_TYPES: tuple[str, ...] = tuple(t for t in LEADING_TYPES if t in GATEWAY_TYPES)
"""The types :func:`synthetic_repo` spreads its gateways over unless told ``types=``."""


def write(root: Path, files: Mapping[str, str]) -> Path:
    """Write ``{relative path: YAML text}`` below ``root`` (text is dedented); returns ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


def profile_yaml(
    name: str,
    *,
    index: int = 0,
    description: str | None = None,
    types: Sequence[str] = (),
) -> str:
    """A realistic profile with blocks for LSX, LSG and ACCU, and for the OCPP16 and OCPP201
    of ``types`` (other types get no block); ``index`` varies the values."""
    heartbeat = 300 + (index % 50) * 30
    current = 16 + index % 17
    lines = [
        f"name: {name}",
        f"description: {description or f'Synthetic profile {index}'}",
        "parameters:",
        *_ocpp_blocks(types, heartbeat),
        "  LSX:",
        "    backend:",
        f"      HeartbeatInterval: {heartbeat}",
        "      WebSocketPingInterval: 60",
        "    charging:",
        f"      MaxChargingCurrent: {current}",
        "      ConnectionTimeOut: 90",
        "      StopTransactionOnEVSideDisconnect: true",
        "    metering:",
        "      MeterValueSampleInterval: 300",
        "      MeterValuesSampledData: [Energy.Active.Import.Register, Power.Active.Import]",
        "    display:",
        f"      LightIntensity: {40 + index % 60}",
        "  LSG:",
        "    backend:",
        f"      HeartbeatInterval: {heartbeat}",
        "    charging:",
        f"      MaxChargingCurrent: {current}",
        "    network:",
        "      ApnName: m2m.operator.example",
        "  ACCU:",
        "    backend:",
        f"      HeartbeatInterval: {heartbeat}",
        "    charging:",
        f"      MaxChargingCurrent: {60 + index % 60}",
        "    battery:",
        f"      MinStateOfCharge: {10 + index % 30}",
        "rollout:",
        "  max_in_flight: 200",
        "  abort: {min_attempted: 20, max_declined_ratio: 0.2}",
    ]
    return "\n".join(lines) + "\n"


def _ocpp_blocks(types: Sequence[str], heartbeat: int) -> list[str]:
    lines: list[str] = []
    if "OCPP16" in types:
        lines += ["  OCPP16:", "    backend:", f"      HeartbeatInterval: {heartbeat}"]
        lines += ["    metering:", "      MeterValueSampleInterval: 60"]
    if "OCPP201" in types:
        lines += ["  OCPP201:", "    backend:"]
        lines += [f"      OCPPCommCtrlr.HeartbeatInterval: {heartbeat}"]
    return lines


def gateway_id(gateway_type: str, number: int) -> str:
    return f"{gateway_type}-{number:06d}"


def gateways_yaml(
    entries: list[tuple[str, str, str | None]], *, rng: random.Random | None = None
) -> str:
    """A gateways file for ``(id, type, profile)`` entries; every fifth gets subsettings."""
    rng = rng or random.Random(0)
    lines = ["gateways:"]
    for number, (ident, gateway_type, profile) in enumerate(entries):
        lines.append(f"  - id: {ident}")
        lines.append(f"    type: {gateway_type}")
        if profile is not None:
            lines.append(f"    profile: {profile}")
        lines.append(
            f"    labels: {{site: site-{rng.randrange(200)}, level: '{rng.randrange(4)}'}}"
        )
        if number % 5 == 0:
            lines += [
                "    subsettings:",
                "      charging:",
                f"        MaxChargingCurrent: {rng.randrange(6, 33)}",
            ]
    return "\n".join(lines) + "\n"


def synthetic_repo(
    root: Path,
    *,
    gateways: int = 100_000,
    files: int = 1_000,
    profiles: int = 500,
    seed: int = 1,
    types: Sequence[str] = REPO_TYPES,
) -> Path:
    """A large valid config repo: ``gateways`` spread evenly over ``files``, ``profiles`` and
    ``types`` (taken in turn; OCPP16 and OCPP201 get profile blocks, see :func:`profile_yaml`)."""
    rng = random.Random(seed)
    (root / "profiles.d").mkdir(parents=True, exist_ok=True)
    (root / "gateways.d").mkdir(parents=True, exist_ok=True)
    names = [f"profile-{i:04d}" for i in range(profiles)]
    for index, name in enumerate(names):
        (root / "profiles.d" / f"{name}.yaml").write_text(
            profile_yaml(name, index=index, types=types), encoding="utf-8"
        )
    per_file = max(1, gateways // files)
    number = 0
    for file_index in range(files):
        entries: list[tuple[str, str, str | None]] = []
        for _ in range(per_file if file_index < files - 1 else gateways - number):
            gateway_type = types[number % len(types)]
            entries.append(
                (gateway_id(gateway_type, number), gateway_type, names[number % profiles])
            )
            number += 1
        folder = root / "gateways.d" / f"region-{file_index % 10}"
        folder.mkdir(exist_ok=True)
        (folder / f"site-{file_index:04d}.yaml").write_text(
            gateways_yaml(entries, rng=rng), encoding="utf-8"
        )
    return root


FIRMWARE: dict[str, tuple[str, ...]] = {
    t: firmware_releases(shipped_catalog().types[t]) for t in GATEWAY_TYPES
}
"""Firmware versions in the field, per shipped type: the simulator's, so inventories and simulated fleets agree."""


def inventory_item(
    gateway_id: str, gateway_type: str, rng: random.Random, *, catalog: Catalog | None = None
) -> dict[str, object]:
    """A GATEWAY object as the head-end API describes it, with plausible, ``rng``-determined facts.

    The firmware is one of the type's releases (:func:`reconciler.headends.fleet.firmware_releases`)
    in ``catalog`` (default: the shipped one, which must then know the type)."""
    releases = (
        firmware_releases(catalog.types[gateway_type])
        if catalog is not None
        else FIRMWARE[gateway_type]
    )
    number = int("".join(ch for ch in gateway_id if ch.isdigit()) or 0)
    stations = [
        {
            "id": f"CS-{number:06d}-{s}",
            "ports": [f"CS-{number:06d}-{s}-{p}" for p in range(1, rng.randint(1, 2) + 1)],
        }
        for s in range(1, rng.randint(1, 2) + 1)
    ]
    return {
        "id": gateway_id,
        "type": gateway_type,
        "firmware": rng.choice(releases),
        "provider": rng.choice(["Stadtwerke Rheinland", "ChargeNet", "VoltPoint"]),
        "address": f"{rng.choice(['Hauptstr.', 'Bahnhofstr.', 'Ring', 'Allee'])} {rng.randint(1, 200)}, "
        f"{rng.choice(['44137 Dortmund', '45127 Essen', '50667 Köln', '40213 Düsseldorf'])}",
        "owner": rng.choice(
            ["Stadtwerke Rheinland", "Parkhaus GmbH", "Retail AG", "Fleet Services"]
        ),
        "stations": stations,
    }


def inventory_for(
    gateways: Mapping[str, str], *, seed: int = 1, catalog: Catalog | None = None
) -> list[dict[str, object]]:
    """An inventory for ``{id: type}``, deterministic for ``seed`` (types of ``catalog``, default the shipped one)."""
    rng = random.Random(seed)
    return [
        inventory_item(gateway_id, gateways[gateway_id], rng, catalog=catalog)
        for gateway_id in sorted(gateways)
    ]
