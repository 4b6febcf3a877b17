"""Benchmark: ``reconciler validate`` on 100,000 gateways against the bare C YAML load floor.

Run: ``python bench/bench_validate.py [--gateways N --files F --profiles P]``.
Prints the wall time of the ``reconciler validate`` command (a subprocess,
start-up included) and, in the same run, of a bare load of the same files with
ruamel.yaml's C-accelerated safe loader (``YAML(typ="safe", pure=False)``)
and nothing else.  Target: validate <= 1.5x the floor and < 15 s.

Then the comparison with a generic schema checker on the same repository:
``check-jsonschema --schemafile S`` over every profile and gateways file, S being
``reconciler schema`` (the JSON Schema of the same catalog).  It checks less
(no cross-file rules, no firmware ranges) and is timed the same way (a
subprocess, start-up included).  Target: validate at least 5x faster.
check-jsonschema is not a dependency: install it (``pip install
check-jsonschema``, or in another venv and pass ``--check-jsonschema PATH``);
without it the comparison is skipped with a message.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
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
        node = yamlfiles.compose(yamlfiles.decode(path.read_bytes()))
        if node is not None:
            yamlfiles.construct(node)
    return time.perf_counter() - start


def schema_checker(command: str | None) -> list[str] | None:
    """How to run check-jsonschema: the given path, the one on PATH, or the module; ``None``: absent."""
    if command is not None:
        return [command]
    found = shutil.which("check-jsonschema")
    if found is not None:
        return [found]
    try:
        import check_jsonschema  # type: ignore[import-not-found]  # noqa: F401  # optional
    except ImportError:
        return None
    return [sys.executable, "-m", "check_jsonschema"]


def timed_schema_check(checker: list[str], schema: Path, root: Path) -> float:
    """check-jsonschema over every profile and gateways file of ``root``; seconds, start-up included."""
    files = sorted(str(p) for p in root.glob("*.d/**/*.yaml"))
    start = time.perf_counter()
    done = subprocess.run(
        [*checker, "--schemafile", str(schema), *files],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"check-jsonschema failed ({done.returncode}):\n{done.stdout[-2000:]}")
    return seconds


def compare_with_check_jsonschema(
    root: Path, command: str | None, rounds: int, validate_s: float
) -> None:
    checker = schema_checker(command)
    if checker is None:
        print(
            "check-jsonschema: skipped (not installed; `pip install check-jsonschema` "
            "or --check-jsonschema PATH)"
        )
        return
    schema = root.parent / "reconciler-schema.json"
    with schema.open("w", encoding="utf-8") as out:
        subprocess.run(
            [sys.executable, "-m", "reconciler", "schema", "--repo", str(root)],
            stdout=out,
            check=True,
        )
    checked = statistics.median(timed_schema_check(checker, schema, root) for _ in range(rounds))
    print(f"check-jsonschema + `reconciler schema`: {checked:6.2f} s  (median of {rounds})")
    print(
        f"ratio check-jsonschema / validate:    {checked / validate_s:6.2f}x  "
        "(target >= 5x: validate at least 5x faster)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gateways", type=int, default=100_000)
    parser.add_argument("--files", type=int, default=1_000)
    parser.add_argument("--profiles", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--check-jsonschema",
        dest="check_jsonschema",
        metavar="PATH",
        default=None,
        help="The check-jsonschema executable (default: on PATH, or the installed module).",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = synthetic_repo(
            Path(tmp) / "repo", gateways=args.gateways, files=args.files, profiles=args.profiles
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
        compare_with_check_jsonschema(root, args.check_jsonschema, args.rounds, run)


if __name__ == "__main__":
    main()
