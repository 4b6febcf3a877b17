"""Benchmark: 10,000 OCPP charge points configured end to end through the OCPP head-end.

Run: ``python bench/bench_ocpp.py [--chargers 10000]``.

Three processes, as in production: ``reconciler ocpp serve`` (the head-end),
``reconciler ocpp simulate --protocol mixed`` (half OCPP 1.6, half 2.0.1, one
process), and ``reconciler apply``.  A config repository is written from the
head-end's inventory once every charger is connected: one profile setting 10
keys per type, every charger a member.  ``apply`` rolls it out and reads every
charger back.  Printed:

- the time until all chargers are connected (target: within 30 s);
- charge points configured per second, end to end (``apply``'s wall time);
- the OCPP round trips that took (the simulated chargers' counters: every CALL
  the head-end made), and the same number of round trips done by a bare
  ``websockets`` server and client in the same run (``bench/ocpp_bare.py``),
  and the ratio bare time / head-end time (target: >= 0.5);
- the head-end's RSS per connected charge point (RSS after all connected minus
  RSS before the first, / chargers; target: <= 40 KB), beside the bare server's.

With ``--upstream`` the same rollout runs a second time with the head-end in
relay mode (``--upstream``) in front of ``bench/ocpp_upstream.py``, a CSMS
process that answers the chargers' CALLs and sends each charger one call per
second (GetConfiguration / GetVariables of a key the profile does not manage).
Printed beside the figures above: the relayed rollout's rate and its ratio to
the rate without the relay (target >= 0.7x), and the round trip of the
upstream's calls measured in the upstream (CALL sent -> CALLRESULT received),
p50/p99, through the relay with the fleet idle, through the relay during the
rollout, and with the same number of simulated chargers connected to the
upstream directly; the latency the relay adds is the difference.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

TOKEN = "bench-token"
GIT = ["-c", "user.name=Bench", "-c", "user.email=bench@example.invalid"]
HERE = Path(__file__).resolve().parent

KEYS = {
    "OCPP16": {
        "backend": {"HeartbeatInterval": 600, "WebSocketPingInterval": 60},
        "charging": {"ConnectionTimeOut": 300, "StopTransactionOnEVSideDisconnect": True},
        "authorization": {
            "LocalAuthorizeOffline": True,
            "AllowOfflineTxForUnknownId": True,
            "AuthorizationCacheEnabled": True,
            "LocalPreAuthorize": True,
        },
        "metering": {
            "MeterValueSampleInterval": 60,
            "MeterValuesSampledData": ["Energy.Active.Import.Register", "Power.Active.Import"],
        },
    },
    "OCPP201": {
        "backend": {
            "OCPPCommCtrlr.HeartbeatInterval": 600,
            "OCPPCommCtrlr.OfflineThreshold": 600,
            "OCPPCommCtrlr.WebSocketPingInterval": 60,
        },
        "charging": {
            "TxCtrlr.EVConnectionTimeOut": 300,
            "TxCtrlr.StopTxOnEVSideDisconnect": True,
        },
        "authorization": {
            "AuthCtrlr.LocalAuthorizeOffline": True,
            "AuthCtrlr.OfflineTxForUnknownIdEnabled": True,
            "AuthCtrlr.LocalPreAuthorize": True,
        },
        "metering": {
            "SampledDataCtrlr.TxUpdatedInterval": 60,
            "SampledDataCtrlr.TxUpdatedMeasurands": [
                "Energy.Active.Import.Register",
                "Power.Active.Import",
            ],
        },
    },
}
"""10 keys per type (the sections must be those of the shipped catalogs)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the process has used so far."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def request(url: str, body: object = None, token: str | None = TOKEN) -> object:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    with urllib.request.urlopen(
        urllib.request.Request(url, data=data, headers=headers), timeout=60
    ) as answer:
        return json.loads(answer.read())


def wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.2)


def inventory(api: str) -> list[dict[str, object]]:
    items: list[dict[str, object]] = []
    cursor = None
    while True:
        query = "limit=500" + (f"&cursor={cursor}" if cursor else "")
        page = request(f"{api}/api/v1/gateways?{query}")
        assert isinstance(page, dict)
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def connected(api: str) -> int:
    return sum(1 for g in inventory(api) if g.get("connected"))


def yaml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def make_repo(root: Path, chargers: list[dict[str, object]]) -> None:
    (root / "profiles.d").mkdir(parents=True)
    (root / "gateways.d").mkdir()
    lines = ["name: bench", "parameters:"]
    for gateway_type, sections in KEYS.items():
        lines.append(f"  {gateway_type}:")
        for section, keys in sections.items():
            lines.append(f"    {section}:")
            lines += [f"      {key}: {yaml_value(value)}" for key, value in keys.items()]
    lines += ["rollout:", "  max_in_flight: 5000"]
    (root / "profiles.d" / "bench.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    entries = ["gateways:"]
    for charger in sorted(chargers, key=lambda c: str(c["id"])):
        entries += [
            f"  - id: {charger['id']}",
            f"    type: {charger['type']}",
            "    profile: bench",
        ]
    (root / "gateways.d" / "chargers.yaml").write_text("\n".join(entries) + "\n", encoding="utf-8")
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], [*GIT, "commit", "-qm", "bench"]):
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def bare(connections: int, calls: int) -> dict[str, float]:
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "ocpp_bare.py"),
            "serve",
            str(port),
            str(connections),
            str(calls),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    assert server.stdout.readline().strip() == "ready"
    client = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "ocpp_bare.py"),
            "client",
            f"ws://127.0.0.1:{port}",
            str(connections),
        ]
    )
    line = server.stdout.readline()
    server.wait(60)
    client.wait(60)
    return dict(json.loads(line))


@dataclass
class Rollout:
    """What one rollout measured."""

    connect_s: float
    rss_per_charger: float
    apply_s: float
    round_trips: int
    cpu: tuple[float, float]
    apply_cpu: float


def rollout(base: Path, n: int, env: dict[str, str], upstream: Upstream | None = None) -> Rollout:
    """Head-end + simulated chargers + ``apply`` in ``base``; relayed to ``upstream`` if given."""
    api_port, ocpp_port, control_port = free_port(), free_port(), free_port()
    api = f"http://127.0.0.1:{api_port}"
    relay = ["--upstream", upstream.url] if upstream is not None else []
    serve = subprocess.Popen(
        [
            sys.executable, "-m", "reconciler", "ocpp", "serve",
            "--listen", f"127.0.0.1:{api_port}",
            "--listen-ocpp", f"127.0.0.1:{ocpp_port}",
            "--state", str(base / "headend.db"),
            "--accept-unknown",
            *relay,
        ],
        env=env,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    simulate: subprocess.Popen[bytes] | None = None
    try:
        wait(lambda: _up(api), 30, "the head-end")
        before = rss_kib(serve.pid)
        started = time.perf_counter()
        simulate = subprocess.Popen(
            [
                sys.executable, "-m", "reconciler", "ocpp", "simulate",
                "--connect", f"ws://127.0.0.1:{ocpp_port}/ocpp",
                "--count", str(n),
                "--protocol", "mixed",
                "--control", f"127.0.0.1:{control_port}",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        wait(lambda: connected(api) >= n, 120, f"{n} chargers to connect")
        if upstream is not None:
            wait(lambda: upstream.count() >= n, 120, f"{n} upstream connections")
        connect_s = time.perf_counter() - started
        time.sleep(2)  # let boot notifications and status notifications settle
        rss_per_charger = (rss_kib(serve.pid) - before) / n
        if upstream is not None:  # the upstream's calls through an idle relay, for a while
            upstream.phase("idle")
            time.sleep(5)
        chargers = inventory(api)
        repo = base / "repo"
        make_repo(repo, chargers)
        calls_before = _calls(control_port)
        assert simulate is not None
        cpu_before = (cpu_s(serve.pid), cpu_s(simulate.pid))
        if upstream is not None:
            upstream.phase("rollout")
        started = time.perf_counter()
        applying = subprocess.Popen(
            [
                sys.executable, "-m", "reconciler", "apply", str(repo),
                "--headend", api,
                "--state", str(base / "state.db"),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        apply_cpu = 0.0
        while applying.poll() is None:
            apply_cpu = max(apply_cpu, _cpu_or_zero(applying.pid))
            time.sleep(0.2)
        out, err = applying.communicate()
        done = subprocess.CompletedProcess(applying.args, applying.returncode, out, err)
        apply_s = time.perf_counter() - started
        if upstream is not None:
            upstream.phase("after")
        cpu = (cpu_s(serve.pid) - cpu_before[0], cpu_s(simulate.pid) - cpu_before[1])
        if done.returncode != 0:
            print(done.stdout[-2000:], done.stderr[-2000:])
            raise SystemExit(f"apply failed with exit code {done.returncode}")
        round_trips = _calls(control_port) - calls_before
        if upstream is not None:  # the chargers count the upstream's calls too: not the head-end's
            round_trips -= int(upstream.report().get("rollout", {}).get("count", 0))
    finally:
        for process in (simulate, serve):
            if process is not None:
                process.terminate()
                process.wait(30)
    return Rollout(connect_s, rss_per_charger, apply_s, round_trips, cpu, apply_cpu)


class Upstream:
    """``bench/ocpp_upstream.py`` as a process: a CSMS that calls every charger once a second."""

    def __init__(self) -> None:
        port = free_port()
        self.url = f"ws://127.0.0.1:{port}/ocpp"
        self.process = subprocess.Popen(
            [sys.executable, str(HERE / "ocpp_upstream.py"), str(port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None and self.process.stdin is not None
        self.stdin, self.stdout = self.process.stdin, self.process.stdout
        assert self.stdout.readline().strip() == "ready"

    def _ask(self, line: str) -> str:
        self.stdin.write(line + "\n")
        self.stdin.flush()
        return self.stdout.readline().strip() if line in ("count", "report") else ""

    def phase(self, name: str) -> None:
        self._ask(f"phase {name}")

    def count(self) -> int:
        return int(self._ask("count"))

    def report(self) -> dict[str, dict[str, float]]:
        return dict(json.loads(self._ask("report")))

    def stop(self) -> None:
        self.stdin.close()
        self.process.wait(30)


def direct(n: int, upstream: Upstream, env: dict[str, str], seconds: float = 15.0) -> None:
    """``n`` simulated chargers connected to the upstream directly for ``seconds`` (phase direct)."""
    simulate = subprocess.Popen(
        [
            sys.executable, "-m", "reconciler", "ocpp", "simulate",
            "--connect", upstream.url, "--count", str(n), "--protocol", "mixed",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait(lambda: upstream.count() >= n, 120, f"{n} chargers connected to the upstream")
        time.sleep(3)
        upstream.phase("direct")
        time.sleep(seconds)
        upstream.phase("done")
    finally:
        simulate.terminate()
        simulate.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chargers", type=int, default=10_000)
    parser.add_argument(
        "--upstream",
        action="store_true",
        help="Also run the rollout relayed to an upstream CSMS that calls each charger once a second.",
    )
    args = parser.parse_args()
    n = args.chargers
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    env = {**os.environ, "RECONCILER_HEADEND_TOKEN": TOKEN}
    relayed: Rollout | None = None
    latency: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-ocpp-") as tmp:
        base = Path(tmp)
        (base / "plain").mkdir()
        plain = rollout(base / "plain", n, env)
        if args.upstream:
            upstream = Upstream()
            try:
                (base / "relay").mkdir()
                relayed = rollout(base / "relay", n, env, upstream)
                direct(n, upstream, env)
                latency = upstream.report()
            finally:
                upstream.stop()
    round_trips, apply_s, cpu = plain.round_trips, plain.apply_s, plain.cpu
    calls_per_connection = max(1, round(round_trips / n))
    floor = bare(n, calls_per_connection)
    bare_rate = floor["round_trips"] / floor["calls_s"]
    bare_time = round_trips / bare_rate
    print(f"chargers: {n} (half OCPP 1.6, half OCPP 2.0.1), 10 keys each, in one simulate process")
    print(
        f"all connected in {plain.connect_s:.1f} s (target <= 30 s; bare websockets: {floor['connect_s']:.1f} s)"
    )
    print(
        f"apply (plan, {round_trips} OCPP round trips, read-back): {apply_s:.1f} s = "
        f"{n / apply_s:.0f} charge points configured per second"
    )
    print(
        f"bare websockets loop, the same {round_trips} round trips: {bare_time:.1f} s "
        f"({bare_rate:.0f}/s); ratio bare/head-end {bare_time / apply_s:.2f}x (target >= 0.5x)"
    )
    print(
        f"CPU seconds during apply: head-end {cpu[0]:.1f}, simulated chargers {cpu[1]:.1f}, "
        f"apply >= {plain.apply_cpu:.1f} (2 cores: {2 * apply_s:.1f} available)"
    )
    print(
        f"head-end RSS per connected charge point: {plain.rss_per_charger:.1f} KiB "
        f"(target <= 40 KB; bare websockets server: {floor['rss_per_connection_kib']:.1f} KiB)"
    )
    if relayed is not None:
        print_relay(n, plain, relayed, latency)


def print_relay(
    n: int, plain: Rollout, relayed: Rollout, latency: dict[str, dict[str, float]]
) -> None:
    rate, relayed_rate = n / plain.apply_s, n / relayed.apply_s
    print(
        "relay mode (--upstream: a CSMS process answering the chargers and calling each one"
        " once a second, GetConfiguration / GetVariables):"
    )
    print(f"  all connected (head-end and upstream) in {relayed.connect_s:.1f} s")
    print(
        f"  apply ({relayed.round_trips} head-end round trips): {relayed.apply_s:.1f} s = "
        f"{relayed_rate:.0f} charge points per second, {relayed_rate / rate:.2f}x the "
        f"{rate:.0f}/s without the relay (target >= 0.7x)"
    )
    print(
        f"  CPU seconds during apply: head-end {relayed.cpu[0]:.1f}, simulated chargers "
        f"{relayed.cpu[1]:.1f}; head-end RSS per charger {relayed.rss_per_charger:.1f} KiB"
    )
    print(
        "  round trip of the upstream's calls, measured in the upstream (CALL sent ->"
        " CALLRESULT received), p50 / p99:"
    )
    names = {
        "idle": "through the relay, fleet idle",
        "rollout": "through the relay, during the rollout",
        "direct": "the same chargers connected to the upstream directly",
    }
    for phase, label in names.items():
        if phase in latency:
            x = latency[phase]
            print(
                f"    {label}: {x['p50_ms']:.1f} / {x['p99_ms']:.1f} ms "
                f"({int(x['count'])} calls, {int(x['lost'])} unanswered)"
            )
    if "idle" in latency and "direct" in latency:
        added = {q: latency["idle"][q] - latency["direct"][q] for q in ("p50_ms", "p99_ms")}
        print(
            f"  added by the relay (idle minus direct): p50 {added['p50_ms']:.1f} ms,"
            f" p99 {added['p99_ms']:.1f} ms"
        )
    if "rollout" in latency and "direct" in latency:
        added = {q: latency["rollout"][q] - latency["direct"][q] for q in ("p50_ms", "p99_ms")}
        print(
            f"  added by relay + rollout (rollout minus direct): p50 {added['p50_ms']:.1f} ms,"
            f" p99 {added['p99_ms']:.1f} ms"
        )


def _cpu_or_zero(pid: int) -> float:
    try:
        return cpu_s(pid)
    except OSError:
        return 0.0


def _up(api: str) -> bool:
    try:
        urllib.request.urlopen(f"{api}/healthz", timeout=2).read()
        return True
    except OSError:
        return False


def _calls(control_port: int) -> int:
    counters = request(f"http://127.0.0.1:{control_port}/counters", token=None)
    assert isinstance(counters, dict)
    # CALLs received per action are named by the action (ChangeConfiguration, GetVariables);
    # the other counters (connects, boots, SetVariables.entries, ...) are lower case or dotted.
    return sum(
        int(n) for name, n in counters["total"].items() if name[:1].isupper() and "." not in name
    )


if __name__ == "__main__":
    main()
