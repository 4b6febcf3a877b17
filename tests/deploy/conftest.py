"""Helpers for the deployment files under ``deploy/``: where they are, which names the daemon knows.

The names come from the code, not from a list kept here: environment
variables from the settings classes, metric series from a fresh
:class:`~reconciler.daemon.metrics.Metrics` registry.  The live scrape reuses
the daemon tests' fixtures (a git config repo, its secrets, the simulator).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from reconciler.cli import run
from reconciler.daemon.metrics import Metrics
from reconciler.daemon.settings import DaemonSettings
from reconciler.drivers import settings as headend_settings
from reconciler.store.keys import KEY_FILE_VARIABLE
from tests.daemon.conftest import config_repo, secrets_dir, simulator

__all__ = ["config_repo", "secrets_dir", "simulator"]  # fixtures shared with tests/daemon

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"

SECRET_VARIABLE = re.compile(r"RECONCILER_SECRET_[A-Za-z0-9_]+")
"""``RECONCILER_SECRET_<NAME>``: one secret parameter's value (reconciler.loading.secrets)."""


def daemon_variables() -> set[str]:
    """Every ``RECONCILER_*`` variable that ``reconciler run`` reads (besides RECONCILER_SECRET_<NAME>)."""
    prefix = DaemonSettings.model_config["env_prefix"]
    # A field that `run` sets from one of its flags is read through the flag's variable(s)
    # only: the value passed wins over the environment (--lease-term: RECONCILER_LEASE_TERM,
    # not RECONCILER_LEASE_TERM_S).
    from_flags = {param.name for param in run.command.params}
    names = {
        prefix + field.upper() for field in DaemonSettings.model_fields if field not in from_flags
    }
    names |= {
        headend_settings.ENV_PREFIX + ("URL" if field == "base_url" else field.upper())
        for field in headend_settings.HeadendSettings.model_fields
    }
    names |= {headend_settings.ENV_PREFIX + "TOKEN_FILE", "RECONCILER_SECRETS_DIR"}
    names.add(KEY_FILE_VARIABLE)  # read by the store itself (reconciler.store.keys)
    return names | run_flag_variables()


def run_flag_variables() -> set[str]:
    """The variables the flags of ``reconciler run`` read (click's ``envvar``, one or several)."""
    found: set[str] = set()
    for param in run.command.params:
        envvar = getattr(param, "envvar", None)
        found |= {envvar} if isinstance(envvar, str) else set(envvar or ())
    return found


def is_daemon_variable(name: str) -> bool:
    return name in daemon_variables() or bool(SECRET_VARIABLE.fullmatch(name))


SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "info": ("_info",),
}


def exported_series() -> set[str]:
    """Series names the daemon's registry exposes (``_total``, ``_bucket``, ... included).

    Read from the metric families, not from samples: a labelled metric has no
    sample before its first observation, yet its series are part of the contract.
    """
    names: set[str] = set()
    for family in Metrics().registry.collect():
        names |= {family.name + suffix for suffix in SUFFIXES[family.type]}
    return names


METRIC_NAME = re.compile(r"\breconciler_[a-z_]+")


def metric_names(expr: str) -> set[str]:
    """``reconciler_*`` metric names in a PromQL expression (recording rules use ``reconciler:``)."""
    return set(METRIC_NAME.findall(expr))


def promtool() -> str:
    """promtool's path; skipped without it, except in CI (.ci/run installs it), where it fails."""
    found = shutil.which("promtool")
    if found is None:
        reason = "promtool is not installed (apt-get install prometheus; .ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(reason + ", and CI must run these checks")
        pytest.skip(reason)
    return found
