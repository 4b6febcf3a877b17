"""report.html: escaped, self-contained, and its search box filters like Magic Search."""

from __future__ import annotations

import json
import shutil
import subprocess
from html.parser import HTMLParser
from typing import Any

import pytest

from reconciler.daemon import pages
from reconciler.members.search import STATUS_KEYS


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
        "totals": zero,
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
        "gateways": GATEWAYS,
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
    assert '<script>alert("x")</script>' not in text
    assert "&lt;script&gt;" in text and "bad &amp; &lt;worse&gt;" in text
    parsed = Rows()
    parsed.feed(text)
    assert parsed.scripts == 1, "only the page's own inline script"
    assert len(parsed.rows) == len(GATEWAYS)


FILTER = """
const rows = DATA.map(d => ({dataset: d, hidden: false}));
const section = {hidden: false, querySelector: () => rows.find(r => !r.hidden) || null};
const q = {value: QUERY, addEventListener() {}};
const info = {textContent: ''};
global.document = {
  getElementById: id => (id === 'q' ? q : info),
  querySelectorAll: sel => (sel === 'tr.gw' ? rows : [section]),
};
eval(SCRIPT);
console.log(JSON.stringify(rows.filter(r => !r.hidden).map(r => r.dataset.id.toUpperCase())));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to run the page's script")
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param("", [g["id"] for g in GATEWAYS], id="empty shows all"),
        pytest.param("type:LSX", ["LSX-000001", "LSX-000002", "LSX-000005"], id="field"),
        pytest.param("essen", ["LSG-000003"], id="free word"),
        pytest.param("status:mismatch", ["LSX-000002"], id="status"),
        pytest.param("status:failed", ["LSG-000003"], id="failed means declined"),
        pytest.param("status:active", ["LSX-000005"], id="active"),
        pytest.param("type:lsx firmware:<2.0.0", ["LSX-000001"], id="firmware below"),
        pytest.param("type:LSX -owner:stadtwerke", ["LSX-000002", "LSX-000005"], id="negated"),
        pytest.param("status:none", ["ACCU-000004"], id="not managed"),
        pytest.param("subsetting:minstate", ["ACCU-000004"], id="subsetting"),
    ],
)
def test_the_search_box_filters_rows_like_magic_search(query: str, expected: list[str]) -> None:
    parsed = Rows()
    parsed.feed(pages.html(report()))
    program = (
        f"const DATA = {json.dumps(parsed.rows)};\nconst QUERY = {json.dumps(query)};\n"
        f"const SCRIPT = {json.dumps(pages.SCRIPT)};\n{FILTER}"
    )
    done = subprocess.run(["node", "-e", program], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert sorted(json.loads(done.stdout)) == sorted(expected)
