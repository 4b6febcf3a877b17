"""report.html, the report's member pages and ``GET /api/v1/members``.

The pages are escaped and self-contained, and the search box asks the daemon;
the daemon's members API finds what ``reconciler search`` finds (a real daemon
and the simulator over loopback, the CLI on the daemon's own store); the
report's ``retry_possible`` follows the one Retry Upload rule.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.daemon import memberpages, pages, reports
from reconciler.daemon.reportbook import ReportBook
from reconciler.daemon.status import DaemonStatus, Loaded
from reconciler.daemon.watching import CommitInfo
from reconciler.loading.repos import load_repo
from reconciler.loading.sources import DirectorySource
from reconciler.members.counts import STATUS_KEYS
from reconciler.members.query import FIELDS
from reconciler.members.retrying import retryable_profiles
from reconciler.model.repos import Repo
from reconciler.model.state import AppliedGateway, Status
from reconciler.store.base import Rollout
from reconciler.store.sqlite import SQLiteStore
from reconciler.testing import SimulatorHandle
from tests.daemon.conftest import EXAMPLE, TOKEN, DaemonThread, git, http, wait_for


def gateway(
    ident: str, gateway_type: str, firmware: str, status: str | None, **extra: Any
) -> dict[str, Any]:
    return {
        "id": ident,
        "type": gateway_type,
        "firmware": firmware,
        "profile": extra.get("profile", "public-ac"),
        "station_ids": [f"CS-{ident}-1"],
        "port_ids": [f"CS-{ident}-1-1"],
        "provider": "ChargeNet",
        "address": extra.get("address", "Hauptstr. 1, 44137 Dortmund"),
        "owner": extra.get("owner", "Stadtwerke Rheinland"),
        "subsettings": extra.get("subsettings", {}),
        "labels": {"site": "hbf"},
        "status": status,
        "reason": "",
        "skipped": [],
        "updated_at": None,
        "declared": True,
    }


GATEWAYS = [
    gateway("LSX-000001", "LSX", "1.1.0", "Accepted"),
    gateway("LSX-000002", "LSX", "2.1.3", "Mismatch", owner="Parkhaus GmbH"),
    gateway("LSG-000003", "LSG", "4.1.3", "Declined", address="Ring 5, 45127 Essen"),
    gateway(
        "ACCU-000004", "ACCU", "2.0.0", None, profile=None, subsettings={"MinStateOfCharge": 30}
    ),
    gateway("LSX-000005", "LSX", "3.0.1", "Requested", owner='<script>alert("x")</script>'),
]


def report() -> dict[str, Any]:
    zero = dict.fromkeys(STATUS_KEYS, 0)
    return {
        "generated_at": "2026-11-24T03:00:00+00:00",
        "version": "0.1.0",
        "branch": "main",
        "commit": None,
        "valid": False,
        "errors": [
            {"file": "profiles.d/<x>.yaml", "line": 1, "column": 2, "message": "bad & <worse>"}
        ],
        "good_commit": None,
        "applied_commit": None,
        "rollout_running": False,
        "ready": True,
        "not_ready_reasons": [],
        "totals": {**zero, "Accepted": 5},
        "profiles": [
            {
                "name": "public-ac",
                "description": "Public <AC>",
                "file": "profiles.d/public-ac.yaml",
                "last_change": None,
                "members": 4,
                "statuses": zero,
                "retry_possible": True,
                "aborted": None,
            }
        ],
        "member_pages": [
            memberpages.page_entry("public-ac", 1, 4),
            memberpages.page_entry(None, 1, 1),
        ],
    }


class Rows(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, str]] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script":
            self.scripts += 1
        if tag == "tr" and a.get("class") == "gw":
            self.rows.append({k[5:]: v or "" for k, v in a.items() if k.startswith("data-")})


def test_every_value_is_escaped() -> None:
    text = pages.html(report())
    assert "&lt;script&gt;" not in text, "no member row on the summary page"
    assert "bad &amp; &lt;worse&gt;" in text and "Public &lt;AC&gt;" in text
    parsed = Rows()
    parsed.feed(text)
    assert parsed.scripts == 1, "only the page's own inline script"
    assert 'href="members/profile-public-ac/0001.html"' in text
    assert 'href="members/no-profile/0001.html"' in text

    members = memberpages.texts("public-ac", 1, 2, GATEWAYS)
    assert '<script>alert("x")</script>' not in members["html"]
    assert "&lt;script&gt;" in members["html"]
    parsed = Rows()
    parsed.feed(members["html"])
    assert parsed.scripts == 0 and len(parsed.rows) == len(GATEWAYS)
    assert 'href="0002.html" rel="next"' in members["html"] and "prev" not in members["html"]
    assert json.loads(members["json"])["gateways"] == GATEWAYS
    assert members["md"].count("\n| ") == len(GATEWAYS) + 1, "a header and a row per member"


def test_the_page_leaves_queries_to_the_server() -> None:
    text = pages.html(report())
    assert 'id="q"' in text and 'id="results"' in text and "5 gateways" in text
    assert "api/v1/members" in pages.SCRIPT
    for field in FIELDS:
        assert f"'{field}'" not in pages.SCRIPT, f"the page's script knows the field {field}"
    assert "data-all" not in text and "parseInt" not in pages.SCRIPT


# --- report.json: retry_possible -------------------------------------------------------------


def snapshot(
    repo: Repo, store: SQLiteStore, rollouts: list[Rollout], report_dir: Path
) -> reports.Snapshot:
    """What the daemon hands :func:`reports.build` with ``repo`` as its valid commit."""
    commit = Loaded(
        CommitInfo("0" * 40, "A <a@example.invalid>", "2026-01-01T00:00:00+00:00", 0.0, "m"), repo
    )
    status = DaemonStatus(head=commit, good=commit)
    aborted = frozenset(r.rollout_id for r in rollouts if r.state == "aborted")
    tally = ReportBook(report_dir).update(repo, None, store, aborted, now=2.0)
    return reports.Snapshot(
        branch="main", status=status, tally=tally, rollouts=rollouts, generated_at=1.0
    )


def test_a_profile_whose_aborted_rollout_left_members_initial_may_be_retried(
    tmp_path: Path,
) -> None:
    with SQLiteStore(tmp_path / "state.db") as store:
        rollout = store.start_rollout("c1", "workplace", at=1.0)
        store.write(
            [
                AppliedGateway("LSX-000104", "LSX", "1.1.0", "workplace", Status.ACCEPTED),
                AppliedGateway(
                    "LSX-000105", "LSX", "1.2.0", "workplace", Status.INITIAL, rollout_id=rollout
                ),
                AppliedGateway("ACCU-000011", "ACCU", "1.4.2", "canary", Status.ACCEPTED),
            ],
            rollout_id=rollout,
        )
        store.finish_rollout(rollout, "aborted", at=2.0, reason="aborted: 2 of 3 declined")
        states, rollouts = store.applied(), store.rollouts()
        repo = load_repo(DirectorySource(EXAMPLE))
        built = reports.build(snapshot(repo, store, rollouts, tmp_path / "report"))
    profiles = {p["name"]: p for p in built["profiles"]}
    workplace = profiles["workplace"]
    assert workplace["statuses"]["Declined"] == workplace["statuses"]["Mismatch"] == 0
    assert workplace["statuses"]["Initial"] == 1
    assert workplace["retry_possible"] is True
    assert workplace["aborted"] == "aborted: 2 of 3 declined"
    assert profiles["canary"]["retry_possible"] is False
    retryable = retryable_profiles(states.values(), {r.rollout_id for r in rollouts})
    assert {name for name, p in profiles.items() if p["retry_possible"]} == set(retryable)


# --- GET /api/v1/members against a real daemon ------------------------------------------------

StartDaemon = Callable[..., DaemonThread]
QUERIES = [
    "",
    "profile:public",
    "firmware:1",
    "profile:public-ac",
    "public",
    "firmware:<2.0.0",
    "firmware:3 type:LSG dortmund",
    'type:LSX owner:"Parkhaus GmbH"',
    "profile:none",
    "label:site=dortmund-hbf label:level=-1",
    "subsetting:MaxChargingCurrent=16",
    "status:accepted -type:LSX",
    "-status:accepted",
    "status:none",
    "port:-1-2 type:accu",
    "type:OCPP16",
    "type:ocpp201 label:site=hagen-kabel",
]


def members_api(daemon: DaemonThread, **params: str) -> tuple[int, dict[str, Any]]:
    status, body = http(daemon.url + "/api/v1/members?" + urllib.parse.urlencode(params))
    answer: dict[str, Any] = json.loads(body)
    return status, answer


def found_by_api(daemon: DaemonThread, query: str) -> dict[str, Any]:
    status, answer = members_api(daemon, q=query, per_page="1000")
    assert status == 200, answer
    return answer


def found_by_cli(repo: Path, state: Path, simulator: SimulatorHandle, query: str) -> dict[str, Any]:
    """``reconciler search --format json`` on the daemon's store and the same head-end."""
    options = ["--state", str(state), "--headend", simulator.url, "--format", "json"]
    result = CliRunner().invoke(
        cli,
        ["search", *options, "--", query, str(repo)],
        env={"RECONCILER_HEADEND_TOKEN": TOKEN, "RECONCILER_HEADEND_TOKEN_FILE": ""},
    )
    assert result.exit_code in (0, 1), result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def ids(document: dict[str, Any]) -> list[str]:
    return [m["id"] for m in document["members"]]


@pytest.fixture
def rolled_out(
    start_daemon: StartDaemon, config_repo: Path, simulator: SimulatorHandle, tmp_path: Path
) -> DaemonThread:
    """A daemon that has rolled out the example repository, its report showing the store."""
    daemon = start_daemon()
    sha = git(config_repo, "rev-parse", "HEAD")
    wait_for(
        lambda: (
            (report := daemon.report())["applied_commit"]
            and report["applied_commit"]["sha"] == sha
            and not report["rollout_running"]
        ),
        what="the example repository to be rolled out",
    )
    state = tmp_path / "state" / "state.db"
    wait_for(
        lambda: (
            found_by_api(daemon, "")["statuses"]
            == found_by_cli(config_repo, state, simulator, "")["statuses"]
        ),
        what="the report to show what the store holds",
    )
    return daemon


def test_the_members_api_finds_the_same_gateways_as_reconciler_search(
    rolled_out: DaemonThread, config_repo: Path, simulator: SimulatorHandle, tmp_path: Path
) -> None:
    state = tmp_path / "state" / "state.db"
    api = {q: found_by_api(rolled_out, q) for q in QUERIES}
    by_cli = {q: found_by_cli(config_repo, state, simulator, q) for q in QUERIES}
    differ = {q: (ids(api[q]), ids(by_cli[q])) for q in QUERIES if ids(api[q]) != ids(by_cli[q])}
    assert differ == {}
    assert len(ids(api[""])) == api[""]["total"] > 80
    assert ids(api["profile:public"]) == [], "profile: matches whole names only"
    assert ids(api["public"]), "the free word finds parts of names"
    assert api["profile:public"]["notes"] == by_cli["profile:public"]["notes"][-1:]
    assert "public-ac" in api["profile:public"]["notes"][0]
    firmware_1 = api["firmware:1"]["members"]
    assert firmware_1, "the example fleet has gateways on 1.x"
    assert all(m["firmware"].split(".")[0] == "1" for m in firmware_1)
    assert {m["type"] for m in api["type:OCPP16"]["members"]} == {"OCPP16"}, "OCPP chargers too"
    assert ids(api["type:ocpp201 label:site=hagen-kabel"]), "any case, with other terms"
    for q in QUERIES:
        assert api[q]["statuses"] == by_cli[q]["statuses"], q
        assert api[q]["profiles"] == by_cli[q]["profiles"], q


def test_a_member_reads_the_same_in_report_json_the_members_api_and_the_cli(
    rolled_out: DaemonThread, config_repo: Path, simulator: SimulatorHandle, tmp_path: Path
) -> None:
    state = tmp_path / "state" / "state.db"
    in_report = {g["id"]: g for g in rolled_out.report()["gateways"]}
    in_api = {m["id"]: m for m in found_by_api(rolled_out, "")["members"]}
    in_cli = {m["id"]: m for m in found_by_cli(config_repo, state, simulator, "")["members"]}
    assert in_report == in_api == in_cli
    managed = [g for g in in_report.values() if g["updated_at"] is not None]
    assert managed and all(g["updated_at"].endswith("Z") for g in managed)


def test_the_members_api_pages_and_explains_what_it_refuses(
    start_daemon: StartDaemon, config_repo: Path
) -> None:
    daemon = start_daemon()
    wait_for(lambda: found_by_api(daemon, "")["total"] > 80, what="the first report")
    everything = ids(found_by_api(daemon, "type:LSX"))
    status, second = members_api(daemon, q="type:LSX", page="2", per_page="10")
    assert status == 200
    assert ids(second) == everything[10:20]
    assert (second["matched"], second["page"], second["per_page"]) == (len(everything), 2, 10)
    status, only = members_api(daemon, q="type:LSG", profile="canary")
    assert status == 200 and only["query"] == "profile:canary type:LSG"
    assert {(m["profile"], m["type"]) for m in only["members"]} == {("canary", "LSG")}

    status, bad = members_api(daemon, q="type:LSX onwer:stadtwerke")
    assert status == 400
    assert bad["error"].startswith("bad query at column 10: unknown field 'onwer'")
    assert "did you mean 'owner'" in bad["error"] and bad["position"] == 9
    status, bad = members_api(daemon, q="firmware:beta")
    assert status == 400 and "expected a firmware version" in bad["error"]
    status, bad = members_api(daemon, profile="public")
    assert status == 400 and bad == {"error": bad["error"]} and "public-ac" in bad["error"]
    status, bad = members_api(daemon, per_page="0")
    assert status == 400 and "per_page" in bad["error"]


# --- the page's search box, in node, against the daemon ---------------------------------------

BROWSER = """
function el(tag) {
  return {tag, children: [], hidden: false, className: '', value: '', listeners: {}, text: '',
    get textContent() { return this.text; },
    set textContent(v) { this.text = String(v); this.children = []; },
    appendChild(child) { this.children.push(child); return child; },
    addEventListener(type, listener) { this.listeners[type] = listener; }};
}
const ids = {q: el('input'), matches: el('span'), notes: el('small'), results: el('section'),
             'results-body': el('tbody'), more: el('button')};
ids.matches.textContent = INITIAL; ids.results.hidden = true; ids.more.hidden = true;
const sections = [el('section'), el('section')];
global.document = {getElementById: id => ids[id], createElement: el,
                   querySelectorAll: s => (s === 'section.members' ? sections : [])};
global.location = {href: BASE + '/'};
let asked = 0;
const realFetch = fetch;
global.fetch = (url, options) => { asked++; return realFetch(url, options); };
eval(SCRIPT);
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));
(async () => {
  const out = {};
  for (const query of QUERIES) {
    const before = asked;
    ids.matches.textContent = '(waiting)';
    const typed = query ? [...query].map((_, i) => query.slice(0, i + 1)) : [''];
    for (const text of typed) { ids.q.value = text; ids.q.listeners.input(); }
    for (let i = 0; i < 250 && ids.matches.textContent === '(waiting)'; i++) await sleep(20);
    out[query] = {info: ids.matches.textContent, bad: ids.matches.className === 'bad',
                  asked: asked - before, notes: ids.notes.textContent,
                  ids: ids['results-body'].children.map(tr => tr.children[0].textContent),
                  results: !ids.results.hidden, sections: sections.every(s => !s.hidden)};
  }
  console.log(JSON.stringify(out));
})();
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to run the page's script")
def test_the_search_box_shows_what_the_daemon_finds(
    start_daemon: StartDaemon, config_repo: Path
) -> None:
    daemon = start_daemon()
    wait_for(lambda: found_by_api(daemon, "")["total"] > 80, what="the first report")
    queries = ["firmware:1", "profile:public", "type:LSX onwer:x", ""]
    expected = {q: found_by_api(daemon, q) for q in queries[:2]}
    total = expected["firmware:1"]["total"]
    program = (
        f"const BASE = {json.dumps(daemon.url)};\nconst INITIAL = '{total} gateways';\n"
        f"const QUERIES = {json.dumps(queries)};\nconst SCRIPT = {json.dumps(pages.SCRIPT)};\n"
        + BROWSER
    )
    done = subprocess.run(["node", "-e", program], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)

    firmware = shown["firmware:1"]
    assert firmware["asked"] == 1, "one request once the user stops typing"
    assert firmware["ids"] == ids(expected["firmware:1"])
    assert firmware["info"] == f"{expected['firmware:1']['matched']} of {total} gateways match"
    assert firmware["results"] and not firmware["sections"]
    public = shown["profile:public"]
    assert (public["ids"], public["info"]) == ([], f"0 of {total} gateways match")
    assert "public-ac" in public["notes"]
    typo = shown["type:LSX onwer:x"]
    assert typo["bad"] and "did you mean 'owner'" in typo["info"]
    cleared = shown[""]
    assert (cleared["asked"], cleared["info"], cleared["results"], cleared["sections"]) == (
        0,
        f"{total} gateways",
        False,
        True,
    )
