"""Benchmark: ``reconciler validate`` on 100,000 gateways against the bare C YAML load floor.

Run: ``python bench/bench_validate.py [--gateways N --files F --profiles P]``.
Prints the wall time of the ``reconciler validate`` command (a subprocess,
start-up included) and, in the same run, of a bare load of the same files with
ruamel.yaml's C-accelerated safe loader (``YAML(typ="safe", pure=False)``)
and nothing else.  Target: validate <= 1.5x the floor and < 15 s.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from ruamel.yaml import YAML

from reconciler.loading import yamlfiles
from reconciler.testing import synthetic_repo, timed_command


def bare_load(root: Path) -> float:
    yaml = YAML(typ="safe", pure=False)
    start = time.perf_counter()
    for path in sorted(root.glob("**/*.yaml")):
        yaml.load(path.read_bytes())
    return time.perf_counter() - start


def own_load(root: Path) -> float:
    """The loader validate uses (libyaml composer + our resolver/constructor), without checks."""
    start = time.perf_counter()
    for path in sorted(root.glob("**/*.yaml")):
        yamlfiles.construct(yamlfiles.compose(yamlfiles.decode(path.read_bytes())))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gateways", type=int, default=100_000)
    parser.add_argument("--files", type=int, default=1_000)
    parser.add_argument("--profiles", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = synthetic_repo(
            Path(tmp), gateways=args.gateways, files=args.files, profiles=args.profiles
        )
        floors, owns, runs = [], [], []
        for _ in range(args.rounds):  # interleaved, so machine noise hits all alike
            floors.append(bare_load(root))
            owns.append(own_load(root))
            runs.append(timed_command("validate", str(root)))
        floor, own, run = (
            statistics.median(floors),
            statistics.median(owns),
            statistics.median(runs),
        )
        print(f"repo: {args.gateways:,} gateways in {args.files:,} files, {args.profiles} profiles")
        print(f"bare C YAML load (floor):  {floor:6.2f} s  (median of {args.rounds})")
        print(f"our YAML load, no checks:  {own:6.2f} s  (libyaml composer + cached resolver)")
        print(
            f"reconciler validate:       {run:6.2f} s  (median of {args.rounds}, process start-up included)"
        )
        print(f"ratio validate / floor:    {run / floor:6.2f}x  (target <= 1.5x, and < 15 s)")
        print(f"ratio validate / own load: {run / own:6.2f}x  (cost of the checks and start-up)")


if __name__ == "__main__":
    main()
