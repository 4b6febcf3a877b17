"""``reconciler plan`` colours its action lines on a terminal, and nowhere else.

A real pseudo-terminal (``pty.openpty()``) as the process's stdout, against a
pipe; ``NO_COLOR`` (https://no-color.org) and ``--color``/``--no-color``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import pytest

pty = pytest.importorskip("pty")

ROOT = Path(__file__).resolve().parents[2]
INVENTORY = ROOT / "examples" / "inventory.json"
PLAN = [sys.executable, "-m", "reconciler", "plan", str(ROOT), "--inventory", str(INVENTORY)]
ESC = "\x1b["
YELLOW = "\x1b[33m"


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "RECONCILER_FORMAT")}
    return {**env, "COLUMNS": "200", **extra}


def on_a_terminal(args: list[str], env: Mapping[str, str]) -> str:
    """What the command writes to a pseudo-terminal as its stdout (stderr: a pipe)."""
    primary, secondary = pty.openpty()
    try:
        process = subprocess.Popen(
            args, stdout=secondary, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env
        )
        os.close(secondary)
        chunks = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # EIO: the process closed its end
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert process.wait(60) == 0
        assert process.stderr is not None
        process.stderr.close()
    finally:
        os.close(primary)
    return b"".join(chunks).decode("utf-8").replace("\r\n", "\n")


def in_a_pipe(args: list[str], env: Mapping[str, str]) -> str:
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_on_a_terminal_the_action_lines_are_coloured() -> None:
    out = on_a_terminal(PLAN, environment())
    lines = out.splitlines()
    pushes = [line for line in lines if "~ ACCU-000011:" in line]
    assert pushes and pushes[0].startswith(YELLOW), pushes
    assert "skipped, " in out
    skipped = [line for line in lines if line.startswith("  skipped, ")]
    assert skipped and not [line for line in skipped if ESC in line], "only the action lines"


def test_in_a_pipe_there_is_no_colour() -> None:
    out = in_a_pipe(PLAN, environment())
    assert "~ ACCU-000011:" in out and ESC not in out


def test_no_color_turns_it_off_even_on_a_terminal() -> None:
    out = on_a_terminal(PLAN, environment(NO_COLOR="1"))
    assert "~ ACCU-000011:" in out and ESC not in out


def test_an_empty_no_color_does_not() -> None:
    assert YELLOW in on_a_terminal(PLAN, environment(NO_COLOR=""))


def test_the_flags_win_over_the_terminal_and_no_color() -> None:
    assert YELLOW in in_a_pipe([*PLAN, "--color"], environment(NO_COLOR="1"))
    assert ESC not in on_a_terminal([*PLAN, "--no-color"], environment())


def test_json_and_markdown_are_never_coloured() -> None:
    for output_format in ("json", "markdown"):
        out = on_a_terminal([*PLAN, "--format", output_format], environment())
        assert ESC not in out, output_format
