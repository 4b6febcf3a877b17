"""``report.html``: one self-contained page (no external assets) rendered from the report dict.

Called by :func:`reconciler.daemon.reports.render`; served at ``GET /``.  The
profile overview (members and counts per status), a search box, and per
profile the links to its member pages (:mod:`reconciler.daemon.memberpages`:
tables whose address and owner expand with ``<details>``).

The search box does not interpret queries: it asks the daemon
(``GET api/v1/members?q=...``, 250 ms after the last keystroke; an answer to
an older query is dropped) and shows the matches the server found, 200 at a
time with "more", or the server's message for a malformed query.  So it finds
exactly what ``reconciler search`` finds.  Opened as a file, without the
daemon, the page says that searching needs it.  Every value is escaped with
:func:`html.escape` (server side) or set as text (``textContent``, in the
browser); the report carries no secrets.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from reconciler.daemon.memberpages import STYLE
from reconciler.members.counts import STATUS_KEYS

SCRIPT = """
(function(){
var q=document.getElementById('q'),info=document.getElementById('matches'),
 notes=document.getElementById('notes'),results=document.getElementById('results'),
 body=document.getElementById('results-body'),more=document.getElementById('more'),
 sections=[].slice.call(document.querySelectorAll('section.members'));
var WAIT=250,PER_PAGE=200,ALL=info.textContent,timer=null,asked=0,page=1,shown=0;
function text(v){return Array.isArray(v)?v.map(text).join(','):String(v)}
function cell(tr,value,cls){var td=document.createElement('td');td.textContent=value;if(cls)td.className=cls;tr.appendChild(td);return td}
function row(m){
 var tr=document.createElement('tr'),status=m.status||'-';tr.className='gw';
 [m.id,m.profile||'(no profile)',m.type,m.firmware||'?',m.station_ids.join(', '),m.port_ids.join(', '),m.provider].forEach(function(v){cell(tr,v)});
 cell(tr,status,'s-'+status);cell(tr,m.reason);
 cell(tr,Object.keys(m.subsettings).map(function(k){return k+'='+text(m.subsettings[k])}).join(', '));
 cell(tr,m.skipped.join('; '));cell(tr,m.updated_at||'');
 var labels=Object.keys(m.labels).map(function(k){return k+'='+m.labels[k]}).join(' ');
 cell(tr,[m.address,m.owner].concat(labels?['labels: '+labels]:[]).join(' / '));
 body.appendChild(tr)}
function filtered(on){sections.forEach(function(s){s.hidden=on});results.hidden=!on}
function say(message,bad){info.textContent=message;info.className=bad?'bad':''}
function answer(r){return r.json().then(function(d){return {ok:r.ok,d:d}})}
function ask(query,p){
 var mine=++asked,url=new URL('api/v1/members',location.href);
 url.searchParams.set('q',query);url.searchParams.set('page',p);url.searchParams.set('per_page',PER_PAGE);
 return fetch(url).then(answer).then(function(a){
  if(mine!==asked)return;
  if(!a.ok){say(a.d.error,true);return}
  if(p===1){body.textContent='';shown=0}
  page=p;a.d.members.forEach(row);shown+=a.d.members.length;
  notes.textContent=a.d.notes.join('; ');filtered(true);
  say(a.d.matched+' of '+a.d.total+' gateways match',false);more.hidden=shown>=a.d.matched;
 }).catch(function(){if(mine===asked)say('searching needs the daemon: open this page at its HTTP address',true)})}
function run(){
 clearTimeout(timer);var query=q.value.trim();
 if(!query){++asked;filtered(false);notes.textContent='';say(ALL,false);return}
 timer=setTimeout(function(){ask(query,1)},WAIT)}
q.addEventListener('input',run);
more.addEventListener('click',function(){ask(q.value.trim(),page+1)});
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
    held = report.get("held")
    if held:
        sha = held["commit"]["sha"]
        out.append(
            '<h2 class="bad">Commit held: nothing of it rolled out</h2>'
            f"<p>{_commit(held['commit'])}: it {escape(held['reason'])}. A later commit that "
            f"passes, or <code>--allow-reset {escape(sha)}</code>, lets the fleet move.</p>"
        )
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
        f'aria-label="Search gateways"> <span id="matches">{sum(report["totals"].values())} gateways</span> '
        '<small id="notes"></small></p>'
    )
    out.append(_results())
    out.append(_page_links(report["member_pages"]))
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


def _results() -> str:
    """The table the search box fills with the server's matches (hidden until a query is typed)."""
    return (
        '<section id="results" hidden><table><thead><tr><th>gateway</th><th>profile</th>'
        "<th>type</th><th>firmware</th><th>stations</th><th>ports</th><th>provider</th>"
        "<th>status</th><th>reason</th><th>subsettings</th><th>skipped</th><th>updated</th>"
        '<th>address / owner</th></tr></thead><tbody id="results-body"></tbody></table>'
        '<button id="more" type="button" hidden>more</button></section>'
    )


def _page_links(entries: list[Mapping[str, Any]]) -> str:
    """Per profile, its member pages (hidden while the search box shows matches)."""
    by_profile: dict[str | None, list[Mapping[str, Any]]] = {}
    for entry in entries:
        by_profile.setdefault(entry["profile"], []).append(entry)
    items = []
    for name, pages in by_profile.items():
        title = escape(name) if name else "(no profile)"
        anchor = f' id="p-{escape(name)}"' if name else ""
        links = " ".join(f'<a href="{escape(e["html"])}">{e["page"]}</a>' for e in pages)
        total = sum(e["members"] for e in pages)
        items.append(f"<li{anchor}>{title} <small>({total})</small>: pages {links}</li>")
    return '<section class="members"><ul>' + "".join(items) + "</ul></section>"
