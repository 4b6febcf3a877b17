"""Benchmark: plan 100,000 gateways cold, and incrementally after a one-line profile change.

Run: ``python bench/bench_plan.py [--gateways N --files F --profiles P --changes K]``.

- validate (baseline): ``reconciler validate REPO`` as a subprocess, the same run.
- cold plan: ``reconciler plan REPO --inventory inventory.json`` as a subprocess
  (load, validate, read the inventory, plan every gateway, print).  Target: <= 1.5x validate.
- incremental: the daemon's case, in-process.  The compiled state (file cache by
  git blob, planner caches, previous plan) stays in memory; a commit changes one
  line of one profile; the new commit is read from git objects (only the changed
  blob parsed again), affected gateways found, only those re-planned.  Median
  over ``--changes`` commits.  Target: < 200 ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import git

from reconciler.loading.gitsource import GitSource
from reconciler.loading.inventories import read_inventory
from reconciler.loading.repos import RepoLoader
from reconciler.plan.affected import affected_gateways
from reconciler.plan.planning import Planner
from reconciler.testing import inventory_for, synthetic_repo, timed_command


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gateways", type=int, default=100_000)
    parser.add_argument("--files", type=int, default=1_000)
    parser.add_argument("--profiles", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--changes", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = synthetic_repo(
            Path(tmp) / "repo", gateways=args.gateways, files=args.files, profiles=args.profiles
        )
        repo = git.Repo.init(root)
        repo.git.add(A=True)
        repo.index.commit("seed")
        inventory_path = Path(tmp) / "inventory.json"
        types = {
            f"{t}-{n:06d}": t for n in range(args.gateways) for t in [("LSX", "LSG", "ACCU")[n % 3]]
        }
        inventory_path.write_text(json.dumps(inventory_for(types)), encoding="utf-8")

        validate_runs, plan_runs = [], []
        for _ in range(args.rounds):
            validate_runs.append(timed_command("validate", str(root)))
            plan_runs.append(timed_command("plan", str(root), "--inventory", str(inventory_path)))
        validate, cold = statistics.median(validate_runs), statistics.median(plan_runs)

        # The daemon's case: state kept in memory between commits.
        inventory = read_inventory(inventory_path)
        loader = RepoLoader()
        started = time.perf_counter()
        current = loader.load(GitSource(repo, "HEAD"))
        planner = Planner(current.catalog)
        plan = planner.plan(current, inventory, {})
        warm_start = time.perf_counter() - started
        profile = root / "profiles.d" / "profile-0007.yaml"
        timings = []
        for change in range(args.changes):
            text = profile.read_text(encoding="utf-8").splitlines()
            text = [
                f"      HeartbeatInterval: {1000 + change}"
                if line.startswith("      HeartbeatInterval") and i < 8
                else line
                for i, line in enumerate(text)
            ]
            profile.write_text("\n".join(text) + "\n", encoding="utf-8")
            repo.git.add(str(profile))
            repo.index.commit(f"change {change}")
            started = time.perf_counter()
            new = loader.load(GitSource(repo, "HEAD"))
            affected = affected_gateways(current, new)
            plan = planner.plan(new, inventory, {}, previous=plan, affected=affected)
            timings.append(time.perf_counter() - started)
            current = new
        incremental = statistics.median(timings)

        print(
            f"repo: {args.gateways:,} gateways in {args.files:,} files, {args.profiles} profiles (git)"
        )
        print(f"reconciler validate (baseline):  {validate:6.2f} s  (median of {args.rounds})")
        print(
            f"reconciler plan, cold:           {cold:6.2f} s  (median of {args.rounds}; with --inventory)"
        )
        print(f"ratio plan / validate:           {cold / validate:6.2f}x  (target <= 1.5x)")
        print(f"in-process first load + plan:    {warm_start:6.2f} s  (from git objects)")
        print(
            f"incremental re-plan after a one-line profile change: {incremental * 1000:6.1f} ms median, "
            f"{max(timings) * 1000:.1f} ms max over {args.changes} commits, "
            f"{len(affected)} gateways re-planned (target < 200 ms)"
        )


if __name__ == "__main__":
    main()
