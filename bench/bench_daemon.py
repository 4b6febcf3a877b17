"""Benchmark: ``reconciler run`` at fleet scale: RSS, endpoint latency, commit-to-first-job.

Run: ``python bench/bench_daemon.py [--gateways 10000 --commits 20 --during 5]``.

A synthetic config repository (``reconciler.testing.synthetic_repo``: 10,000
managed gateways in 100 files, 100 profiles) is committed; the simulator
(``bench/daemon_probe.py``: ``reconciler simulate``'s, plus a record of when a
job carrying each HeartbeatInterval value was first created) and the daemon
(``reconciler run``) each run as their own process (``bench/daemon_rig.py``
starts them and makes the commits).  Measured, in order:

1. baseline: the same daemon on an empty repository (no gateway, no profile)
   against the same simulator (the head-end's inventory included, as
   bench_rollout.py does for ``apply``), its RSS sampled until its first
   rollout ended and 3 s more; for information, the same against an empty
   head-end;
2. the first rollout (every gateway gets its profile);
3. steady state: ``--commits`` commits each change one line (one profile's
   first HeartbeatInterval); for each, the clock starts just before ``git
   commit`` runs and stops when the simulator's ``jobs_created`` counter rises
   (polled every ~2 ms); the next commit waits until that rollout ended
   (``reconciler_reconcile_duration_seconds_count``).  Baselines: the ``git
   commit`` itself, and one job acknowledged by the simulator;
4. a full rollout: one commit changes every HeartbeatInterval of every profile
   (every gateway's configuration), the simulator's job step set to
   ``--job-step-ms`` (default: so that the rollout outlasts the commits below
   however fast the daemon is); once its jobs flow, ``--during`` commits ``--gap`` s apart
   each change one profile's HeartbeatInterval to a value of its own, timed
   from ``git commit`` to the first job carrying that value (``> --timeout``
   when none came in time); the phase ends when the daemon applied the last
   commit and ``report.json`` stayed unchanged for 3 s (report writing included).

RSS: sampled every 0.25 s, VmRSS of the daemon process alone and PSS of it and
its descendants (``git cat-file``, or any worker it forks; PSS counts shared
pages once); per gateway = (peak - baseline peak) / gateways, in steady state
(phase 3) and during the full rollout (phase 4); the target holds when both do.  ``/metrics``, ``/healthz`` and ``/readyz`` are each
fetched every 0.5 s (fresh connection, 30 s timeout) from the daemon's start;
p50/p99/max over phase 4 (and over the first rollout, for information).
Report writes (``reconciler_report_write_duration_seconds``,
``reconciler_report_pages_written_total``) are printed per phase: how many, how long, how
many member pages each rewrote.  Targets: RSS <= 2 KB per gateway; p99 < 100 ms; commit-to-first-job p95 < 1 s,
both when idle (phase 3) and during a rollout (phase 4).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from daemon_probe import EndpointSampler, RssSampler
from daemon_rig import (
    Processes,
    Repo,
    get,
    jobs_created,
    metric,
    one_job,
    percentile,
    rollouts,
    settled,
    wait,
)

from reconciler.testing import synthetic_repo, write

KB = 1024
MIB = 1024 * 1024


def ms(seconds: float, limit: float = float("inf")) -> str:
    return f"> {limit:.0f} s" if seconds >= limit else f"{seconds * 1000:.1f} ms"


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def baseline_rss(procs: Processes, simulator: str, empty: Path) -> tuple[int, int]:
    """Peak VmRSS of the daemon alone, and peak PSS of it with its descendants (bytes), on the
    empty repository ``empty`` against ``simulator``, through its first rollout and 3 s more."""
    daemon, url = procs.daemon(empty, simulator, f"empty-{len(procs.running)}")
    sampler = RssSampler(daemon.pid)
    sampler.start()
    try:
        wait(lambda: rollouts(url) >= 1, 300, "the empty repository's first rollout")
        time.sleep(3)
    finally:
        sampler.stop()
        procs.stop(daemon)
    return sampler.peak(alone=True), sampler.peak()


def quiet_commits(repo: Repo, args: argparse.Namespace, simulator: str, daemon: str) -> None:
    """Phase 3: commit-to-first-job with the daemon idle before each commit."""
    latencies: list[float] = []
    commits: list[float] = []
    baselines: list[float] = []
    for number in range(args.commits):
        name = f"profile-{number % args.profiles:04d}"
        repo.set_heartbeat(name, 1000 + number)
        done = rollouts(daemon)
        before = jobs_created(simulator)
        t0 = time.perf_counter()
        _, took, _ = repo.commit(f"{name}: heartbeat {1000 + number}")
        commits.append(took)
        while jobs_created(simulator) == before:
            time.sleep(0.002)
        latencies.append(time.perf_counter() - t0)
        wait(lambda done=done: rollouts(daemon) > done, 300, "the rollout to end")
        baselines.append(one_job(simulator, number))
    own_sum = metric(daemon, "reconciler_commit_to_first_job_seconds_sum")
    own_count = metric(daemon, "reconciler_commit_to_first_job_seconds_count")
    values = [x * 1000 for x in latencies]
    print(f"commit-to-first-job, daemon idle, over {len(values)} commits:")
    print(
        f"  median {statistics.median(values):7.1f} ms   p95 {percentile(values, 0.95):7.1f} ms"
        f"   max {max(values):7.1f} ms   target p95 < 1000 ms: "
        f"{verdict(percentile(values, 0.95) < 1000)}"
    )
    print(
        f"  baseline `git commit`: median {statistics.median(commits) * 1000:.1f} ms; "
        f"one job acknowledged by the simulator: median {statistics.median(baselines) * 1000:.1f} ms"
    )
    if own_count > 1:
        print(
            f"  daemon's own reconciler_commit_to_first_job_seconds (noticed -> first job): "
            f"mean {own_sum / own_count * 1000:.1f} ms over {own_count:.0f} rollouts "
            "(the first rollout included)"
        )


def full_rollout(
    repo: Repo, args: argparse.Namespace, simulator: str, daemon: str, report: Path
) -> tuple[float, float, list[float], float]:
    """Phase 4: (start, end wall times, commit-to-first-job seconds per commit, rollout seconds)."""
    if args.job_step_ms is None:
        # Long enough for the rollout to outlast the --during commits even if the daemon were
        # instant: the engine runs min(5,000, 200 per profile) jobs at once, each 2 steps long.
        waves = -(-args.gateways // min(5_000, 200 * args.profiles))
        args.job_step_ms = max(5.0, 1000 * (args.during * args.gap + 10) / (2 * waves))
    get(simulator + "/_admin/step", json.dumps({"job_step_ms": args.job_step_ms}).encode())
    print(f"  simulator job step {args.job_step_ms:.0f} ms", flush=True)
    repo.bump_every_heartbeat()
    before = jobs_created(simulator)
    start, _, stamp = repo.commit("every profile: heartbeat + 1")
    wait(lambda: jobs_created(simulator) > before, args.timeout * 5, "the full rollout's jobs")
    commits: list[tuple[float, str]] = []
    late = 0
    for number in range(args.during):
        time.sleep(args.gap)
        if metric(daemon, "reconciler_applied_commit_timestamp_seconds") >= stamp:
            late += 1  # the full rollout already ended: this commit is not made during it
        name = f"profile-{(args.profiles - 1 - number) % args.profiles:04d}"
        value = 3000 + number
        repo.set_heartbeat(name, value)
        at, _, last = repo.commit(f"{name}: heartbeat {value} (during the rollout)")
        commits.append((at, str(value)))
    deadline = commits[-1][0] + args.timeout if commits else time.time()
    seen: dict[str, float] = {}
    while time.time() < deadline and not all(v in seen for _, v in commits):
        seen = json.loads(get(simulator + "/_admin/heartbeats"))
        time.sleep(0.25)
    latencies = [
        seen[v] - at if v in seen and seen[v] - at < args.timeout else float("inf")
        for at, v in commits
    ]
    last_stamp = last if commits else stamp
    wait(
        lambda: metric(daemon, "reconciler_applied_commit_timestamp_seconds") >= last_stamp,
        args.timeout * 20,
        "the daemon to apply the last commit",
        every=0.5,
    )
    applied = time.time()
    settled(report)
    if late:
        print(f"  ({late} of the --during commits came after the full rollout had ended)")
    return start, time.time(), latencies, applied - start


def report_writes(daemon: str) -> tuple[float, float, float]:
    """The daemon's report writes so far: (count, seconds, member pages written)."""
    return (
        metric(daemon, "reconciler_report_write_duration_seconds_count"),
        metric(daemon, "reconciler_report_write_duration_seconds_sum"),
        metric(daemon, "reconciler_report_pages_written_total"),
    )


def report_latency(samplers: dict[str, EndpointSampler], start: float, end: float) -> None:
    for name, sampler in samplers.items():
        window = sampler.window(start, end)
        if not window:
            print(f"  {name:9s} no sample")
            continue
        values = [s[1] for s in window]
        failed = sum(1 for s in window if s[2] == 0)
        codes = sorted({s[2] for s in window if s[2]})
        print(
            f"  {name:9s} n={len(values):4d}  p50 {statistics.median(values) * 1000:7.1f} ms"
            f"  p99 {percentile(values, 0.99) * 1000:7.1f} ms  max {max(values) * 1000:8.1f} ms"
            f"  codes {codes}{f', {failed} without answer' if failed else ''}"
            f"   target p99 < 100 ms: {verdict(percentile(values, 0.99) < 0.1 and not failed)}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gateways", type=int, default=10_000)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--profiles", type=int, default=100)
    parser.add_argument(
        "--commits", type=int, help="Phase 3 commits (default 20; 5 above 20,000 gateways)."
    )
    parser.add_argument("--during", type=int, default=5, help="Commits during the full rollout.")
    parser.add_argument("--gap", type=float, default=2.0, help="Seconds between those commits.")
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="Commit-to-first-job limit during a rollout."
    )
    parser.add_argument("--latency-ms", type=float, default=0.0, help="Simulator latency.")
    parser.add_argument(
        "--job-step-ms",
        type=float,
        help="Simulator job step for the full rollout (phase 4); default: long enough for the "
        "rollout to outlast the --during commits.",
    )
    parser.add_argument("--log", type=Path, help="Keep the daemon's JSON log here.")
    args = parser.parse_args()
    if args.commits is None:
        args.commits = 20 if args.gateways <= 20_000 else 5
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        procs = Processes(base)
        try:
            run(args, base, procs)
        finally:
            procs.close()
            if args.log and (base / "daemon.log").exists():
                args.log.write_bytes((base / "daemon.log").read_bytes())


def run(args: argparse.Namespace, base: Path, procs: Processes) -> None:
    started = time.perf_counter()
    root = synthetic_repo(
        base / "repo", gateways=args.gateways, files=args.files, profiles=args.profiles
    )
    repo = Repo(root)
    simulator = procs.simulator(root, args.latency_ms)
    print(
        f"{args.gateways:,} managed gateways, {args.profiles} profiles; simulator latency "
        f"{args.latency_ms:g} ms (setup {time.perf_counter() - started:.0f} s)",
        flush=True,
    )
    nothing = write(
        base / "empty", {"profiles.d/.keep.yaml": "", "gateways.d/none.yaml": "gateways: []\n"}
    )
    Repo(nothing)
    empty, empty_tree = baseline_rss(procs, simulator, nothing)
    bare, _ = baseline_rss(procs, procs.simulator(nothing, args.latency_ms), nothing)
    print(
        f"baseline: daemon on an empty repository, peak RSS {empty / MIB:.1f} MiB "
        f"(PSS with descendants {empty_tree / MIB:.1f} MiB; RSS {bare / MIB:.1f} MiB against "
        "an empty head-end)",
        flush=True,
    )
    daemon_process, daemon = procs.daemon(root, simulator, "daemon")
    rss = RssSampler(daemon_process.pid)
    rss.start()
    begun = time.time()
    wait(lambda: get(daemon + "/healthz") != b"", 120, "the daemon to listen", every=0.05)
    samplers = {
        name: EndpointSampler(daemon + "/" + name) for name in ("metrics", "healthz", "readyz")
    }
    for sampler in samplers.values():
        sampler.start()
    try:
        wait(lambda: rollouts(daemon) >= 1, 1800, "the first rollout", every=0.5)
        first_end = time.time()
        print(
            f"first rollout: {first_end - begun:.1f} s (daemon start, inventory, plan, jobs, "
            "all Accepted)",
            flush=True,
        )
        settled(base / "daemon-report" / "report.json")
        writes = {"start": report_writes(daemon)}
        steady_start = time.time()
        quiet_commits(repo, args, simulator, daemon)
        time.sleep(3)
        steady_end = time.time()
        writes["steady"] = report_writes(daemon)
        print("full rollout (every gateway's configuration changes):", flush=True)
        full_start, full_end, during, took = full_rollout(
            repo, args, simulator, daemon, base / "daemon-report" / "report.json"
        )
        writes["full"] = report_writes(daemon)
    finally:
        for sampler in samplers.values():
            sampler.stop()
        rss.stop()
    print(
        f"  {took:.1f} s from its commit to the daemon applying the last --during commit; "
        f"report settled {full_end - full_start - took:.1f} s later"
    )
    n = args.gateways
    windows = {
        "steady state": (steady_start, steady_end, "after the first rollout"),
        "full rollout": (full_start, full_end, "commit to report written"),
        "first rollout": (0.0, first_end, "for information"),
    }
    print(
        f"peak RSS of `reconciler run` (sampled every 0.25 s) per managed gateway = (peak - "
        f"baseline) / {n:,}; baseline: the empty repository, same head-end; VmRSS of the "
        f"process alone (baseline {empty / MIB:.1f} MiB) and PSS of it with its descendants "
        f"(baseline {empty_tree / MIB:.1f} MiB):"
    )
    for phase, (start, end, note) in windows.items():
        tree, alone = rss.peak(start, end), rss.peak(start, end, alone=True)
        kb, kb_tree = (alone - empty) / n / KB, (tree - empty_tree) / n / KB
        print(
            f"  {phase:13s} {alone / MIB:7.1f} MiB = {kb:5.2f} KB per gateway; with descendants "
            f"{tree / MIB:7.1f} MiB = {kb_tree:5.2f} KB ({note})"
            + (
                f"   target <= 2 KB: {verdict(max(kb, kb_tree) <= 2)}"
                if phase != "first rollout"
                else ""
            )
        )
    steady = rss.peak(steady_start, steady_end, alone=True)
    full = rss.peak(full_start, full_end, alone=True)
    print(
        f"  VmHWM of the process at the end: {rss.hwm() / MIB:.1f} MiB; above the daemon against "
        f"an empty head-end ({bare / MIB:.1f} MiB, no inventory): steady state "
        f"{(steady - bare) / n / KB:.2f} KB, full rollout {(full - bare) / n / KB:.2f} KB per gateway"
    )
    for name, peak in sorted(rss.descendants.items(), key=lambda item: -item[1]):
        print(f"  descendant `{name}`: peak {peak / MIB:.1f} MiB")
    pages = -(-args.gateways // args.profiles // 500) * args.profiles
    print(f"report writes ({pages:,} member pages of 500 in all):")
    for phase, before, after in (
        ("steady state", writes["start"], writes["steady"]),
        ("full rollout", writes["steady"], writes["full"]),
    ):
        count, seconds, written = (a - b for a, b in zip(after, before, strict=True))
        mean = seconds / count * 1000 if count else 0.0
        print(
            f"  {phase:13s} {count:4.0f} writes, mean {mean:7.1f} ms, {written:6.0f} pages "
            f"written ({written / max(count, 1):.1f} per write)"
        )
    print("endpoint latency through the full rollout (every 0.5 s, report writing included):")
    report_latency(samplers, full_start, full_end)
    print("endpoint latency through the first rollout (for information):")
    report_latency(samplers, begun, first_end)
    limit = args.timeout
    shown = ", ".join(ms(x, limit) for x in during)
    print(f"commit-to-first-job for commits made during the full rollout ({len(during)}): {shown}")
    if during:
        p95 = percentile(during, 0.95)
        print(
            f"  median {ms(statistics.median(during), limit)}   p95 {ms(p95, limit)}"
            f"   target p95 < 1000 ms: {verdict(p95 < 1)}"
        )


if __name__ == "__main__":
    main()
