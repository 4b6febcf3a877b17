"""deploy/systemd/reconciler-ocpp.service: the OCPP head-end, hardened, with room for its connections."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.deploy.conftest import DEPLOY

UNIT = DEPLOY / "systemd" / "reconciler-ocpp.service"
ENV = DEPLOY / "systemd" / "ocpp.env.example"


def directives() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in UNIT.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("ProtectSystem", "strict"),
        ("ReadWritePaths", "/var/lib/reconciler-ocpp"),
        ("StateDirectory", "reconciler-ocpp"),
        ("NoNewPrivileges", "yes"),
        ("CapabilityBoundingSet", ""),
        ("User", "reconciler"),
        ("EnvironmentFile", "/etc/reconciler/ocpp.env"),
        ("Restart", "on-failure"),
        ("KillSignal", "SIGTERM"),
    ],
)
def test_the_unit_sets(key: str, value: str) -> None:
    assert value in directives().get(key, []), f"{key}={value} missing"


def test_it_serves_ocpp_with_its_own_settings_and_room_for_the_connections() -> None:
    found = directives()
    assert found["ExecStart"][0].split()[1:] == ["ocpp", "serve"]
    # Its own env file: the daemon's RECONCILER_STATE / LISTEN / REPO mean other things.
    assert found["EnvironmentFile"] != ["/etc/reconciler/env"]
    environment = dict(item.split("=", 1) for item in found["Environment"])
    assert Path(environment["RECONCILER_STATE"]).is_relative_to("/var/lib/reconciler-ocpp")
    assert int(found["LimitNOFILE"][0]) >= 2 * 10_000 + 1_000  # 10,000 chargers relayed


def test_every_variable_of_the_units_and_the_env_file_is_an_option_of_ocpp_serve() -> None:
    from reconciler.cli.ocpp_serve import command

    known = {p.envvar for p in command.params if isinstance(p.envvar, str)} | {
        "RECONCILER_HEADEND_TOKEN",  # the token's default
        "RECONCILER_SECRETS_DIR",  # the secrets of passwords
        "RECONCILER_SECRET_NAME",
    }
    names = [item.split("=", 1)[0] for item in directives()["Environment"]]
    names += [
        line.lstrip("# ").split("=", 1)[0]
        for line in ENV.read_text(encoding="utf-8").splitlines()
        if line.lstrip("# ").startswith("RECONCILER_")
    ]
    assert names and {n for n in names if n.startswith("RECONCILER_")} <= known
    assert CliRunner().invoke(command, ["--help"]).exit_code == 0
