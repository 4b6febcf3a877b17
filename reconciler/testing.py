"""Builders for tests and benchmarks: config repositories on disk, synthetic fleets, a simulator.

Shipped in the package (like ``structlog.testing``) so that tests, benchmarks
and the demo share one way to make repositories.  Nothing in the product
imports it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from reconciler.headends.fleet import FIRMWARE_RELEASES

GATEWAY_TYPES = ("LSX", "LSG", "ACCU")


def write(root: Path, files: Mapping[str, str]) -> Path:
    """Write ``{relative path: YAML text}`` below ``root`` (text is dedented); returns ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


def profile_yaml(name: str, *, index: int = 0, description: str | None = None) -> str:
    """A realistic profile with blocks for all three types; ``index`` varies the values."""
    heartbeat = 300 + (index % 50) * 30
    current = 16 + index % 17
    lines = [
        f"name: {name}",
        f"description: {description or f'Synthetic profile {index}'}",
        "parameters:",
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
    root: Path, *, gateways: int = 100_000, files: int = 1_000, profiles: int = 500, seed: int = 1
) -> Path:
    """A large valid config repo: ``gateways`` spread evenly over ``files`` and ``profiles``."""
    rng = random.Random(seed)
    (root / "profiles.d").mkdir(parents=True, exist_ok=True)
    (root / "gateways.d").mkdir(parents=True, exist_ok=True)
    names = [f"profile-{i:04d}" for i in range(profiles)]
    for index, name in enumerate(names):
        (root / "profiles.d" / f"{name}.yaml").write_text(
            profile_yaml(name, index=index), encoding="utf-8"
        )
    per_file = max(1, gateways // files)
    number = 0
    for file_index in range(files):
        entries: list[tuple[str, str, str | None]] = []
        for _ in range(per_file if file_index < files - 1 else gateways - number):
            gateway_type = GATEWAY_TYPES[number % 3]
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


FIRMWARE = FIRMWARE_RELEASES
"""Firmware versions in the field, per type: the simulator's, so inventories and simulated fleets agree."""


def inventory_item(gateway_id: str, gateway_type: str, rng: random.Random) -> dict[str, object]:
    """A GATEWAY object (DESIGN.md section 6) with plausible, seed-determined facts."""
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
        "firmware": rng.choice(FIRMWARE[gateway_type]),
        "provider": rng.choice(["Stadtwerke Rheinland", "ChargeNet", "VoltPoint"]),
        "address": f"{rng.choice(['Hauptstr.', 'Bahnhofstr.', 'Ring', 'Allee'])} {rng.randint(1, 200)}, "
        f"{rng.choice(['44137 Dortmund', '45127 Essen', '50667 Köln', '40213 Düsseldorf'])}",
        "owner": rng.choice(
            ["Stadtwerke Rheinland", "Parkhaus GmbH", "Retail AG", "Fleet Services"]
        ),
        "stations": stations,
    }


def inventory_for(gateways: Mapping[str, str], *, seed: int = 1) -> list[dict[str, object]]:
    """An inventory for ``{id: type}``, deterministic for ``seed``."""
    rng = random.Random(seed)
    return [
        inventory_item(gateway_id, gateways[gateway_id], rng) for gateway_id in sorted(gateways)
    ]


# --- a running head-end simulator ------------------------------------------------------------


class SimulatorHandle:
    """A simulator running in a background thread: its URL and token, and its admin endpoints.

    The admin calls are synchronous (plain ``urllib``): the simulator has its
    own loop in its own thread, so a test's loop may block on them briefly.
    """

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token

    def __repr__(self) -> str:
        return f"SimulatorHandle(url={self.url!r})"

    def _admin(self, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + path, data=data, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def counters(self) -> dict[str, Any]:
        """``GET /_admin/counters``: requests per endpoint, responses per code, jobs, faults."""
        return dict(self._admin("/_admin/counters"))

    def set_faults(self, **changes: Any) -> dict[str, Any]:
        """``POST /_admin/faults``, e.g. ``set_faults(error_rate=1.0)`` or ``fail_next=["error"]``."""
        return dict(self._admin("/_admin/faults", changes))

    def drift(self, gateway_id: str, parameters: dict[str, Any]) -> dict[str, Any]:
        """``POST /_admin/drift``: force live values on one gateway."""
        return dict(
            self._admin("/_admin/drift", {"gateway_id": gateway_id, "parameters": parameters})
        )


@contextlib.contextmanager
def running_simulator(**options: Any) -> Iterator[SimulatorHandle]:
    """Run the head-end simulator on 127.0.0.1 (a free port) in a thread with its own loop.

    ``options`` are :class:`~reconciler.headends.simulator.SimulatorOptions` fields,
    e.g. ``running_simulator(fleet=50, latency_ms=5, token="t")``.  Stops the
    server and joins the thread on exit.
    """
    from reconciler.headends.simulator import Simulator, SimulatorOptions, serving

    settings = SimulatorOptions(**options)
    started = threading.Event()
    state: dict[str, Any] = {}

    async def serve() -> None:
        try:
            stop = asyncio.Event()
            async with serving(Simulator(settings)) as url:
                state.update(url=url, stop=stop, loop=asyncio.get_running_loop())
                started.set()
                await stop.wait()
        except BaseException as exc:
            state["error"] = exc
            raise
        finally:
            started.set()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), name="simulator", daemon=True)
    thread.start()
    started.wait(timeout=60)
    if "url" not in state:
        thread.join(timeout=5)
        raise RuntimeError(f"the simulator did not start: {state.get('error')!r}")
    try:
        yield SimulatorHandle(state["url"], settings.token)
    finally:
        state["loop"].call_soon_threadsafe(state["stop"].set)
        thread.join(timeout=30)


def timed_command(*args: str) -> float:
    """Wall seconds of ``python -m reconciler ARGS`` (start-up included); exits loudly if it fails."""
    start = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-m", "reconciler", *args], capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - start
    if completed.returncode != 0:
        raise SystemExit(
            f"reconciler {' '.join(args)} failed:\n{completed.stdout[-2000:]}{completed.stderr[-2000:]}"
        )
    return elapsed
