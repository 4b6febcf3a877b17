"""``report.html``: one self-contained page (no external assets) rendered from the report dict.

Called by :func:`reconciler.daemon.reports.write`; served at ``GET /``.  The
profile overview (members and counts per status), then a members table per
profile whose address and owner expand (``<details>``), and a search box that
filters rows in the browser like ``reconciler search``: free words match any
field, ``field:value`` one field (``type:LSX status:mismatch owner:stadtwerke``),
``firmware:<2.0.0`` / ``>`` compare versions, a leading ``-`` negates.  Every
value is escaped with :func:`html.escape`; the report carries no secrets.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from reconciler.members.search import STATUS_KEYS, value_text

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.n{text-align:right}
.bad{color:#a00;font-weight:bold}.ok{color:#060}
.s-Accepted{color:#060}.s-Declined,.s-Mismatch{color:#a00;font-weight:bold}.s-Requested,.s-Sent,.s-Initial{color:#a60}
#q{width:40em;max-width:95%;padding:4px;font:inherit}
details summary{cursor:pointer}
"""

SCRIPT = """
(function(){
var q=document.getElementById('q'),info=document.getElementById('matches');
var rows=[].slice.call(document.querySelectorAll('tr.gw'));
var FIELDS=['id','type','firmware','profile','status','provider','address','owner','station','port','label','subsetting'];
var ALIAS={failed:'declined',active:'requested sent'};
function ver(s){return s.split('.').map(function(x){return parseInt(x,10)||0})}
function cmp(a,b){a=ver(a);b=ver(b);for(var i=0;i<Math.max(a.length,b.length);i++){var d=(a[i]||0)-(b[i]||0);if(d)return d<0?-1:1}return 0}
function words(t){var out=[],re=/(-?)(?:([a-z]+):)?("([^"]*)"|\\S+)/gi,m;while((m=re.exec(t))){var v=m[4]!==undefined?m[4]:m[3];out.push({neg:m[1]==='-',field:m[2]?m[2].toLowerCase():null,value:v.toLowerCase()})}return out}
function test(row,w){
 if(!w.field){return row.dataset.all.indexOf(w.value)>=0}
 if(FIELDS.indexOf(w.field)<0)return false;
 var have=(row.dataset[w.field]||'');
 if(w.field==='firmware'&&/^[<>]=?/.test(w.value)){var op=w.value.match(/^[<>]=?/)[0],v=w.value.slice(op.length);if(!have)return false;var c=cmp(have,v);return op==='<'?c<0:op==='<='?c<=0:op==='>'?c>0:c>=0}
 if(w.field==='status'){var want=(ALIAS[w.value]||w.value).split(' ');return want.indexOf(have)>=0}
 if(w.field==='type'||w.field==='id')return have===w.value||(w.field==='id'&&have.indexOf(w.value)>=0);
 return have.indexOf(w.value)>=0}
function run(){var ws=words(q.value),n=0;rows.forEach(function(r){var ok=ws.every(function(w){return test(r,w)!==w.neg});r.hidden=!ok;if(ok)n++});
 document.querySelectorAll('section.members').forEach(function(s){s.hidden=!s.querySelector('tr.gw:not([hidden])')});
 info.textContent=q.value?n+' of '+rows.length+' gateways match':rows.length+' gateways'}
q.addEventListener('input',run);run();
})();
"""


def html(report: Mapping[str, Any]) -> str:
    """The whole page as a string."""
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>Reconciler report</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>Reconciler report</h1>",
        _summary(report),
    ]
    if report["errors"]:
        out.append('<h2 class="bad">Errors: the newest commit is held back</h2><ul>')
        out += [
            f"<li><code>{escape(e['file'])}:{e['line']}:{e['column']}</code>: {escape(e['message'])}</li>"
            for e in report["errors"]
        ]
        out.append("</ul>")
    out.append(_overview(report))
    out.append(
        '<h2>Members</h2><p><input id="q" type="search" autocomplete="off" '
        'placeholder="Search: free words, or field:value, e.g. type:LSX status:mismatch owner:stadtwerke" '
        'aria-label="Search gateways"> <span id="matches"></span></p>'
    )
    by_profile: dict[str | None, list[Mapping[str, Any]]] = {}
    for g in report["gateways"]:
        by_profile.setdefault(g["profile"], []).append(g)
    for name in sorted(by_profile, key=lambda n: (n is None, n or "")):
        out.append(_members(name, by_profile[name]))
    out.append(f"<script>{SCRIPT}</script></body></html>")
    return "\n".join(out) + "\n"


def _commit(c: Mapping[str, str] | None) -> str:
    if not c:
        return "none"
    return (
        f"<code>{escape(c['sha'][:12])}</code> {escape(c['message'])} "
        f"<small>({escape(c['author'])}, {escape(c['date'])})</small>"
    )


def _summary(report: Mapping[str, Any]) -> str:
    valid = (
        '<span class="ok">valid</span>'
        if report["valid"]
        else '<span class="bad">invalid, not rolled out</span>'
    )
    ready = (
        '<span class="ok">yes</span>'
        if report["ready"]
        else '<span class="bad">no</span>: ' + escape("; ".join(report["not_ready_reasons"]))
    )
    return (
        "<ul>"
        f"<li>Newest commit on <code>{escape(report['branch'])}</code>: {_commit(report['commit'])}: {valid}</li>"
        f"<li>Last valid commit: {_commit(report['good_commit'])}</li>"
        f"<li>Applied commit: {_commit(report['applied_commit'])}</li>"
        f"<li>Rollout running: {'yes' if report['rollout_running'] else 'no'}; ready: {ready}</li>"
        f"<li>Generated {escape(report['generated_at'])} by reconciler {escape(report['version'])}</li>"
        "</ul>"
    )


def _overview(report: Mapping[str, Any]) -> str:
    head = "".join(f"<th>{escape(k)}</th>" for k in STATUS_KEYS)
    rows = []
    for p in report["profiles"]:
        change = p["last_change"]
        retry = "possible" if p["retry_possible"] else ""
        if p["aborted"]:
            retry += f" (aborted: {escape(p['aborted'])})"
        rows.append(
            f'<tr><td><a href="#p-{escape(p["name"])}">{escape(p["name"])}</a></td>'
            f"<td>{escape(p['description'] or '')}</td><td class=n>{p['members']}</td>"
            + "".join(f"<td class=n>{p['statuses'][k]}</td>" for k in STATUS_KEYS)
            + f"<td>{retry}</td><td>"
            + (
                f"<code>{escape(change['sha'][:12])}</code> {escape(change['date'])}"
                if change
                else ""
            )
            + "</td></tr>"
        )
    return (
        "<h2>Profiles</h2><table><thead><tr><th>profile</th><th>description</th><th>members</th>"
        + head
        + "<th>Retry Upload</th><th>last change</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def _members(name: str | None, gateways: list[Mapping[str, Any]]) -> str:
    title = escape(name) if name else "(no profile)"
    anchor = f' id="p-{escape(name)}"' if name else ""
    rows = [
        f'<section class="members"><h3{anchor}>{title} <small>({len(gateways)})</small></h3>',
        "<table><thead><tr><th>gateway</th><th>type</th><th>firmware</th><th>stations</th>"
        "<th>ports</th><th>provider</th><th>status</th><th>reason</th><th>subsettings</th>"
        "<th>skipped</th><th>updated</th><th>address / owner</th></tr></thead><tbody>",
    ]
    for g in gateways:
        rows.append(_row(g))
    rows.append("</tbody></table></section>")
    return "\n".join(rows)


def _row(g: Mapping[str, Any]) -> str:
    subsettings = ", ".join(f"{k}={value_text(v)}" for k, v in g["subsettings"].items())
    labels = " ".join(f"{k}={v}" for k, v in g["labels"].items())
    fields = {
        "id": g["id"],
        "type": g["type"],
        "firmware": g["firmware"] or "",
        "profile": g["profile"] or "",
        "status": g["status"] or "none",
        "provider": g["provider"],
        "address": g["address"],
        "owner": g["owner"],
        "station": " ".join(g["station_ids"]),
        "port": " ".join(g["port_ids"]),
        "label": labels,
        "subsetting": subsettings,
    }
    data = " ".join(f'data-{k}="{escape(v.lower())}"' for k, v in fields.items())
    everything = escape(" ".join(fields.values()).lower())
    status = g["status"] or "-"
    return (
        f'<tr class="gw" {data} data-all="{everything}">'
        f"<td>{escape(g['id'])}</td><td>{escape(g['type'])}</td>"
        f"<td>{escape(g['firmware'] or '?')}</td>"
        f"<td>{escape(', '.join(g['station_ids']))}</td><td>{escape(', '.join(g['port_ids']))}</td>"
        f"<td>{escape(g['provider'])}</td>"
        f'<td class="s-{escape(status)}">{escape(status)}</td><td>{escape(g["reason"])}</td>'
        f"<td>{escape(subsettings)}</td><td>{escape('; '.join(g['skipped']))}</td>"
        f"<td>{escape(g['updated_at'] or '')}</td>"
        f"<td><details><summary>more</summary>{escape(g['address'])}<br>{escape(g['owner'])}"
        + (f"<br>labels: {escape(labels)}" if labels else "")
        + "</details></td></tr>"
    )
