"""The JSON behind every console screen, against a real daemon rolling the example out to the simulator.

Every document answers, names what it is about, and holds no secret: not a
value, not a reference name, not a digest.  Pages render from the same
documents (the live region alone with ``X-Console-Partial``); Retry Upload
refuses cross-site requests; errors are JSON with a message.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable
from pathlib import Path

from reconciler.testing import SimulatorHandle
from tests.daemon.conftest import (
    ADMIN,
    SECRETS,
    DaemonThread,
    get_json,
    git,
    http,
    settled,
    wait_for,
)

StartDaemon = Callable[..., DaemonThread]


def rolled_out(start_daemon: StartDaemon, config_repo: Path, **overrides: object) -> DaemonThread:
    daemon = start_daemon(**overrides)
    sha = git(config_repo, "rev-parse", "HEAD")
    wait_for(lambda: settled(daemon, sha), timeout=60, what="the example rolled out")
    return daemon


def no_secret_in(text: str) -> None:
    for name, value in SECRETS.items():
        assert value not in text, f"the secret value of {name} is shown"
        assert name not in text, f"the secret reference {name} is shown"


def test_every_screen_has_its_json_and_none_shows_a_secret(
    start_daemon: StartDaemon, config_repo: Path, simulator: SimulatorHandle
) -> None:
    daemon = rolled_out(start_daemon, config_repo)
    overview = get_json(daemon.url + "/api/v1/profiles")
    names = [p["name"] for p in overview["profiles"]]
    assert names and overview["ready"] and overview["gateways"] == sum(overview["totals"].values())
    assert all(p["last_change"]["message"] for p in overview["profiles"])

    documents = [json.dumps(overview)]
    for name in names:
        configuration = get_json(f"{daemon.url}/api/v1/profiles/{name}/configuration")
        assert configuration["profile"] == name and configuration["sections"]
        assert configuration["pending"] == 0, "everything is rolled out"
        for gateway_type in configuration["types"]:
            tab = get_json(f"{daemon.url}/api/v1/profiles/{name}/configuration?type={gateway_type}")
            assert tab["type"] == gateway_type
            documents.append(json.dumps(tab))
        members = get_json(f"{daemon.url}/api/v1/members?profile={name}")
        assert members["matched"] == next(
            p["members"] for p in overview["profiles"] if p["name"] == name
        )
        assert set(members["filters"]) == {"type", "firmware", "status", "provider"}
        documents.append(json.dumps(members))
        for member in members["members"][:3]:
            gateway = get_json(f"{daemon.url}/api/v1/gateways/{member['id']}")
            assert gateway["id"] == member["id"] and gateway["member"] == member
            assert gateway["history"], "a rolled-out gateway has a status history"
            assert {k["origin"] for k in gateway["keys"]} <= {"profile", "subsetting", "default"}
            documents.append(json.dumps(gateway))
    commits = get_json(daemon.url + "/api/v1/commits")
    assert commits["commits"][0]["validity"] == "valid"
    assert commits["commits"][0]["outcome"] == "rolled out"
    documents.append(json.dumps(commits))
    for text in documents:
        no_secret_in(text)
    for path in (
        "/",
        f"/profiles/{names[0]}",
        f"/profiles/{names[0]}/members",
        "/members",
        "/commits",
    ):
        status, body = http(daemon.url + path)
        assert status == 200, path
        no_secret_in(body.decode())


def test_pages_render_their_live_region_alone_when_asked(
    start_daemon: StartDaemon, config_repo: Path, simulator: SimulatorHandle
) -> None:
    daemon = rolled_out(start_daemon, config_repo)
    status, whole = http(daemon.url + "/members?status=accepted")
    assert status == 200 and b"<html" in whole and b'id="filters"' in whole
    status, part = http(daemon.url + "/members?status=accepted", headers={"X-Console-Partial": "1"})
    assert status == 200 and b"<html" not in part and b'id="matches"' in part
    live = get_json(daemon.url + "/api/v1/live")
    assert live["generation"] > 0 and live["commit"] == git(config_repo, "rev-parse", "HEAD")


def test_errors_are_json_with_a_message(
    start_daemon: StartDaemon, config_repo: Path, simulator: SimulatorHandle
) -> None:
    daemon = rolled_out(start_daemon, config_repo)
    for path, code in (
        ("/api/v1/profiles/no-such/configuration", 404),
        ("/api/v1/profiles/workplace/configuration?type=NOPE", 404),
        ("/api/v1/gateways/NO-SUCH-GATEWAY", 404),
        ("/api/v1/members?q=" + urllib.parse.quote("status:sleeping"), 400),
        ("/api/v1/members?page=0", 400),
        ("/api/v1/commits?page=x", 400),
    ):
        status, body = http(daemon.url + path)
        assert status == code, path
        assert json.loads(body)["error"], path
    status, body = http(daemon.url + "/profiles/no-such")
    assert status == 404 and b"no profile" in body and b"<html" in body
    status, body = http(daemon.url + "/members?q=" + urllib.parse.quote("status:sleeping"))
    assert status == 400 and b'id="q"' in body, "a bad query keeps the search box"


def test_filters_of_one_field_are_alternatives(
    start_daemon: StartDaemon, config_repo: Path, simulator: SimulatorHandle
) -> None:
    daemon = rolled_out(start_daemon, config_repo)
    everyone = get_json(daemon.url + "/api/v1/members?per_page=1000")
    types = sorted({m["type"] for m in everyone["members"]})[:2]
    one, two = (
        get_json(f"{daemon.url}/api/v1/members?type={t}&per_page=1000")["matched"] for t in types
    )
    both = get_json(f"{daemon.url}/api/v1/members?type={types[0]}&type={types[1]}&per_page=1000")
    assert both["matched"] == one + two > 0
    typed = get_json(
        daemon.url
        + "/api/v1/members?"
        + urllib.parse.urlencode({"q": f"type:{types[0]} type:{types[1]}", "per_page": 1000})
    )
    assert typed["matched"] == both["matched"], "the query language ORs one field too"
    narrowed = get_json(f"{daemon.url}/api/v1/members?type={types[0]}&status=declined")
    assert narrowed["matched"] == 0, "different fields narrow each other"


def test_retry_upload_refuses_cross_site_requests(
    start_daemon: StartDaemon, config_repo: Path, simulator: SimulatorHandle
) -> None:
    daemon = rolled_out(start_daemon, config_repo, admin_token=ADMIN)
    url = daemon.url + "/api/v1/profiles/workplace/retry"
    auth = {"Authorization": f"Bearer {ADMIN}"}
    host = urllib.parse.urlsplit(daemon.url).netloc
    for headers in (
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
    ):
        status, body = http(url, method="POST", headers={**auth, **headers})
        assert status == 403 and b"cross-site" in body, headers
    status, _ = http(
        url,
        method="POST",
        headers={**auth, "Origin": f"http://{host}", "Sec-Fetch-Site": "same-origin"},
    )
    assert status == 409, "the console's own origin is judged by the rule: nothing to retry"
