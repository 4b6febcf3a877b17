"""Resolved secret values checked against the catalog before any job, and never shown."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from reconciler.engine import jobs
from reconciler.model.state import Status
from reconciler.testing import write

from .rig import RigFactory

SECRET = "AUTH_KEY"
KEY = "AuthorizationKey"
PROFILE = f"""\
name: fleet
parameters:
  LSX:
    backend:
      HeartbeatInterval: 600
      {KEY}: {{secret: {SECRET}}}
  LSG:
    backend:
      HeartbeatInterval: 600
      {KEY}: {{secret: {SECRET}}}
"""


def test_a_secret_value_outside_its_catalog_rule_declines_the_gateway_without_a_job(
    make_rig: RigFactory, caplog: pytest.LogCaptureFixture
) -> None:
    rig = make_rig({"fleet": 12})
    write(rig.root, {"profiles.d/fleet.yaml": PROFILE})
    repo = rig.repo()
    spec = repo.catalog.spec("LSX", KEY)
    assert spec is not None and spec.min_length is not None
    value = "Vq3-short-secret-value"[: spec.min_length - 1]  # one character short
    rig.secrets[SECRET] = value
    plan = rig.plan(repo)  # planned without a check: the engine is the last line
    holders = {p.gateway_id for p in plan.actionable() if KEY in p.send}
    assert holders and holders != set(rig.gateways)  # some firmware lacks the key
    with caplog.at_level(logging.DEBUG):
        rig.apply()

    declined = rig.with_status(Status.DECLINED)
    assert {s.gateway_id for s in declined} == holders
    expected = jobs.secret_problem(spec, SECRET, value)
    assert expected == (
        f"secret '{SECRET}' for {KEY} does not fit the catalog: shorter than "
        f"{spec.min_length} characters (the catalog wants {spec.min_length}..{spec.max_length})"
    )
    assert {s.reason for s in declined} == {expected}
    assert {r.gateway_id for r in rig.driver.requests}.isdisjoint(holders)  # no job was sent
    assert rig.statuses()[Status.ACCEPTED] == len(rig.gateways) - len(holders)
    assert value not in caplog.text
    rig.store.close()
    for path in Path(rig.store.path).parent.glob(f"{Path(rig.store.path).name}*"):
        assert value.encode() not in path.read_bytes()


def test_a_secret_value_within_its_catalog_rule_is_sent(make_rig: RigFactory) -> None:
    rig = make_rig({"fleet": 4})
    write(rig.root, {"profiles.d/fleet.yaml": PROFILE})
    spec = rig.repo().catalog.spec("LSX", KEY)
    assert spec is not None and spec.min_length is not None
    rig.secrets[SECRET] = "k" * spec.min_length
    outcome = rig.apply()
    assert outcome.all_accepted
    sent = [r.parameters[KEY] for r in rig.driver.requests if KEY in r.parameters]
    assert sent and set(sent) == {rig.secrets[SECRET]}
