"""docs/operations.md: a section per alert (the runbook anchors), and every setting the daemon reads."""

from __future__ import annotations

import re

import pytest
from ruamel.yaml import YAML

from tests.deploy.conftest import (
    DEPLOY,
    ROOT,
    daemon_variables,
    is_daemon_variable,
    run_flag_variables,
)

DOC = ROOT / "docs" / "operations.md"


def anchors() -> set[str]:
    """GitHub/GitLab heading anchors: lower case, punctuation dropped, spaces as dashes."""
    headings = re.findall(r"^#+ (.+)$", DOC.read_text(encoding="utf-8"), flags=re.M)
    return {re.sub(r"[^a-z0-9 _-]", "", h.lower()).replace(" ", "-") for h in headings}


def runbook_urls() -> list[str]:
    groups = YAML(typ="safe").load((DEPLOY / "prometheus" / "alerts.yaml").read_text("utf-8"))
    return [
        r["annotations"]["runbook_url"]
        for g in groups["groups"]
        for r in g["rules"]
        if "alert" in r
    ]


@pytest.mark.parametrize("url", runbook_urls(), ids=lambda u: u.rpartition("#")[2])
def test_every_runbook_url_points_at_a_section_of_the_operations_doc(url: str) -> None:
    assert url.rpartition("#")[2] in anchors()


@pytest.mark.parametrize("variable", sorted(daemon_variables()))
def test_every_variable_the_daemon_reads_is_documented(variable: str) -> None:
    assert f"`{variable}`" in DOC.read_text(encoding="utf-8")


def test_every_flag_of_reconciler_run_reads_a_reconciler_variable() -> None:
    assert run_flag_variables()
    assert all(v.startswith("RECONCILER_") for v in run_flag_variables())


OCPP_HEADEND_FILES = {"reconciler-ocpp.service", "ocpp.env.example"}
"""The OCPP head-end's own files: their variables are ``ocpp serve``'s (tests/deploy/test_systemd_ocpp.py)."""


def test_every_reconciler_variable_named_in_the_deploy_files_is_one_the_daemon_reads() -> None:
    named = set()
    for path in DEPLOY.rglob("*"):
        if path.is_file() and path.parent.name != "ci" and path.name not in OCPP_HEADEND_FILES:
            named |= set(re.findall(r"\bRECONCILER_[A-Z0-9_]+", path.read_text(encoding="utf-8")))
    named -= {"RECONCILER_SECRET_"}  # the prefix, in comments
    assert all(is_daemon_variable(n) for n in named), sorted(
        n for n in named if not is_daemon_variable(n)
    )
