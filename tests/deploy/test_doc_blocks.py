"""Every copy-paste shell block of README.md and docs/operations.md, run verbatim in a fresh copy.

A new user pastes these blocks first; each must work as written.  The blocks
run in order, in one fresh copy of the repository (its tracked files, as a
clone has them), with ``bash -euo pipefail``, inside a private mount
namespace (``unshare -m``) whose ``/etc``, ``/opt`` and ``/var`` are overlays writing
into the test's temporary directory: the blocks install users, units and
files as on a real host, and nothing reaches this machine.

Stand-ins, and only these: host names and placeholders (:data:`STAND_INS`:
a local path for the clone, a local git repository, the simulator's URL,
a value for ``...``), and the commands that need what a test machine lacks
(a Docker engine, a Kubernetes cluster, systemd as PID 1): ``docker``,
``kubectl`` (but for ``kubectl kustomize``, which is real and offline; a
Secret created from files keeps their content, and a state key among them
must be one the store reads),
``systemctl`` and ``journalctl`` are scripts on ``PATH`` that check what can
be checked here (the Dockerfile and build context exist; ``kustomize``
builds the manifests; an enabled unit is installed and ``systemd-analyze
verify`` accepts it; the environment file and the executable it names
exist) and record the call.

Not run here, each said why in :data:`ELSEWHERE`: the README's test command
(this test is part of it; ``.ci/run`` runs it verbatim).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.store.keys import KeyFile
from reconciler.testing import running_simulator
from tests.deploy.conftest import ROOT

BLOCK = re.compile(r"^```(?:sh|bash)\n(.*?)^```", re.M | re.S)

DOCUMENTS = ("README.md", "docs/operations.md")

ELSEWHERE = {
    "python -m pytest -q": "the test suite itself: .ci/run runs the README's test command verbatim",
}
"""Commands not run here (matched at the end of a line), and where they run instead."""

STAND_INS = {
    "/path/to/a/clone/of/lg2wan-reconciler": "{clone}",
    "/path/to/lg2wan-reconciler": "{clone}",
    "https://git.example.com/platform/charging-config.git": "{config}",
    "https://headend.example.com": "{headend}",
    "=...": "=stand-in-value",
}
"""Placeholders and hosts in the blocks -> what they become here."""

OVERLAID = ("etc", "opt", "var")
"""Mounted over with an overlay whose writes land in the test's temporary directory."""

SHIMS = {
    "docker": r"""#!/bin/bash
# docker without an engine: `build` checks the Dockerfile and its context; `run` that the image was built.
echo "docker $*" >> "$SHIM_LOG"
case "$1" in
  build)
    shift; file=Dockerfile; tag=""; context=""
    while [ $# -gt 0 ]; do
      case "$1" in -f) file=$2; shift 2;; -t) tag=$2; shift 2;; -*) shift;; *) context=$1; shift;; esac
    done
    grep -q '^FROM ' "$file" && [ -d "$context" ] && [ -n "$tag" ] && touch "$SHIM_STATE/image-${tag//[:\/]/_}";;
  run)
    image="${@: -1}"; [ -e "$SHIM_STATE/image-${image//[:\/]/_}" ] || { echo "docker: image $image not built" >&2; exit 1; };;
  *) ;;
esac
""",
    "kubectl": r"""#!/bin/bash
# kubectl without a cluster: `apply -k DIR` builds DIR with the real (offline) kustomize;
# `create secret generic NAME --from-file=KEY=FILE` reads FILE and keeps it as secret-NAME-KEY.
echo "kubectl $*" >> "$SHIM_LOG"
args=("$@"); [ "${args[0]}" = "-n" ] && args=("${args[@]:2}")
case "${args[0]}" in
  apply) [ "${args[1]}" = "-k" ] && "$REAL_KUBECTL" kustomize "${args[2]}" > "$SHIM_STATE/kustomized.yaml";;
  create)
    if [ "${args[1]}" = "secret" ]; then
      name="${args[3]}"
      for arg in "${args[@]:4}"; do
        case "$arg" in
          --from-file=*=*) spec="${arg#--from-file=}"; cat "${spec#*=}" > "$SHIM_STATE/secret-$name-${spec%%=*}" || exit 1;;
        esac
      done
    fi;;
  get) echo "reconciler-0";;
  *) ;;
esac
""",
    "systemctl": r"""#!/bin/bash
# systemctl without systemd as PID 1: `enable --now NAME` checks the installed unit.
echo "systemctl $*" >> "$SHIM_LOG"
if [ "$1" = "enable" ]; then
  unit="/etc/systemd/system/${@: -1}.service"
  [ -f "$unit" ] || { echo "systemctl: $unit not installed" >&2; exit 1; }
  env_file=$(sed -n 's/^EnvironmentFile=-\{0,1\}//p' "$unit" | head -1)
  [ -z "$env_file" ] || [ -f "$env_file" ] || { echo "systemctl: $env_file missing" >&2; exit 1; }
  exe=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$unit" | head -1)
  [ -x "$exe" ] || { echo "systemctl: $exe is not installed" >&2; exit 1; }
fi
""",
    "journalctl": '#!/bin/bash\necho "journalctl $*" >> "$SHIM_LOG"\n',
}


def blocks(document: str) -> list[str]:
    return BLOCK.findall((ROOT / document).read_text(encoding="utf-8"))


def runnable(block: str, values: dict[str, str]) -> str:
    """The block with its stand-ins, and the commands run elsewhere turned into a comment."""
    for placeholder, stand_in in STAND_INS.items():
        block = block.replace(placeholder, stand_in.format(**values))
    lines = []
    for line in block.splitlines():
        if any(line.rstrip().endswith(command) for command in ELSEWHERE):
            line = f": {line!r} run elsewhere"
        lines.append(line)
    return "\n".join(lines) + "\n"


def fresh_copy(target: Path) -> Path:
    """The repository's files as a clone of it would have them now (tracked, and new files
    not ignored: on a developer's machine, the commit being prepared)."""
    files = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def namespace_ready() -> str | None:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return "needs root and unshare(1) for a private mount namespace"
    probe = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "true"], capture_output=True, check=False
    )
    return None if probe.returncode == 0 else "unshare -m is not permitted here"


@pytest.mark.timeout(1200)
def test_every_copy_paste_block_works_as_written(tmp_path: Path) -> None:
    why = namespace_ready()
    if why is not None:
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    clone = fresh_copy(tmp_path / "lg2wan-reconciler")
    config = tmp_path / "charging-config.git"
    subprocess.run(["git", "init", "-q", "--bare", str(config)], check=True)
    shims, state = tmp_path / "shims", tmp_path / "shim-state"
    shims.mkdir()
    state.mkdir()
    for name, text in SHIMS.items():
        (shims / name).write_text(text, encoding="utf-8")
        (shims / name).chmod(0o755)
    log = tmp_path / "shims.log"
    layers = tmp_path / "layers"
    setup = "\n".join(
        [
            f"mkdir -p {layers}/{name}/up {layers}/{name}/work && mount -t overlay overlay "
            f"-o lowerdir=/{name},upperdir={layers}/{name}/up,workdir={layers}/{name}/work /{name}"
            for name in OVERLAID
        ]
        + [
            "mkdir -p /var/lib/reconciler",
            # A state store, as the daemon leaves one (the backup blocks copy it).
            f'{sys.executable} -c "from reconciler.store import open_store; '
            "open_store('/var/lib/reconciler/state.db').close()\"",
        ]
    )
    env = {
        **os.environ,
        "PATH": f"{shims}:{Path(sys.executable).parent}:{os.environ['PATH']}",
        "SHIM_LOG": str(log),
        "SHIM_STATE": str(state),
        "REAL_KUBECTL": shutil.which("kubectl") or "false",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    env.pop("VIRTUAL_ENV", None)
    with running_simulator(gateways_repo=ROOT, token="stand-in-value") as headend:
        values = {"clone": str(clone), "config": str(config), "headend": headend.url}
        ran = 0
        for document in DOCUMENTS:
            for number, block in enumerate(blocks(document), 1):
                script = runnable(block, values)
                done = subprocess.run(
                    ["unshare", "-m", "--propagation", "private", "bash", "-c",
                     f"{setup}\ncd {clone}\nset -euo pipefail\n{script}"],
                    env=env, capture_output=True, text=True, timeout=900, check=False,
                )  # fmt: skip
                assert done.returncode == 0, (
                    f"{document}, shell block {number}, failed ({done.returncode}):\n{block}\n"
                    f"--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
                )
                ran += 1
    assert ran >= 8, "the documents' shell blocks were found"
    calls = log.read_text(encoding="utf-8") if log.exists() else ""
    assert "docker build" in calls and "kubectl apply -k" in calls and "systemctl enable" in calls
    assert (state / "kustomized.yaml").read_text(encoding="utf-8").count("kind: Deployment") == 1
    for key in state.glob("secret-reconciler-state-key-*"):  # one the store can read
        assert KeyFile(key).read() is not None, key.read_bytes()
