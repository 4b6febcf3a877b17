// The console's one script: live updates, search as you type, expandable rows, Retry Upload.
// Every page works without it (server-rendered, filters submit as a GET form); it only makes
// them live. Nothing is fetched from anywhere but the daemon that served the page.
(function () {
  "use strict";
  var POLL_MS = 2000, TYPE_MS = 300, TOKEN_KEY = "reconciler.admin-token";
  var body = document.body, live = document.getElementById("live");
  var state = document.getElementById("live-state"), notice = document.getElementById("notice");
  var asked = 0, noticeTimer = null;

  function generation() { return body.getAttribute("data-generation"); }

  function say(message, bad) {
    notice.textContent = message;
    notice.className = "notice" + (bad ? " bad" : "");
    notice.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(function () { notice.hidden = true; }, 8000);
  }

  function stamp(ok) {
    var now = new Date();
    state.textContent = ok ? "live · " + now.toLocaleTimeString() : "connection lost · retrying";
    state.className = "live-state" + (ok ? "" : " stale");
  }

  // Swap the live region for the server's fresh rendering of `url`, keeping expanded rows open.
  function refresh(url) {
    var mine = ++asked;
    var open = [].map.call(live.querySelectorAll(".expand[aria-expanded=true]"), function (b) {
      return b.closest("tbody").getAttribute("data-id");
    });
    return fetch(url, { headers: { "X-Console-Partial": "1" }, credentials: "same-origin" })
      .then(function (r) { return r.text().then(function (t) { return { ok: r.ok || r.status === 400, text: t }; }); })
      .then(function (a) {
        if (mine !== asked) return;
        live.innerHTML = a.text;
        open.forEach(function (id) {
          var row = live.querySelector('tbody[data-id="' + CSS.escape(id) + '"] .expand');
          if (row) toggle(row, true);
        });
        live.dispatchEvent(new CustomEvent("console:updated", { bubbles: true }));
        stamp(true);
      })
      .catch(function () { stamp(false); });
  }

  function poll() {
    if (document.hidden) return;
    fetch("/api/v1/live", { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (d) {
        stamp(true);
        var now = String(d.generation);
        if (now !== generation()) {
          body.setAttribute("data-generation", now);
          refresh(location.href);
        }
      })
      .catch(function () { stamp(false); });
  }

  // --- expandable member rows ---
  function toggle(button, open) {
    var more = document.getElementById(button.getAttribute("aria-controls"));
    if (!more) return;
    var show = open === undefined ? button.getAttribute("aria-expanded") !== "true" : open;
    button.setAttribute("aria-expanded", show ? "true" : "false");
    button.textContent = show ? "\u2212" : "+";
    more.hidden = !show;
  }

  // --- filters and Magic Search: the URL holds the filter, the server evaluates it ---
  var form = document.getElementById("filters"), typing = null;
  function filterUrl() {
    var params = new URLSearchParams();
    new FormData(form).forEach(function (value, key) { if (value !== "") params.append(key, value); });
    var text = params.toString();
    return location.pathname + (text ? "?" + text : "");
  }
  function applyFilter(push) {
    var url = filterUrl();
    if (url === location.pathname + location.search) return;
    history[push ? "pushState" : "replaceState"](null, "", url);
    refresh(url);
  }
  if (form) {
    form.addEventListener("input", function (e) {
      if (e.target.type === "search") {
        clearTimeout(typing);
        typing = setTimeout(function () { applyFilter(false); }, TYPE_MS);
      }
    });
    form.addEventListener("change", function (e) {
      if (e.target.type === "checkbox") applyFilter(true);
    });
    form.addEventListener("submit", function (e) { e.preventDefault(); clearTimeout(typing); applyFilter(true); });
    window.addEventListener("popstate", function () { location.reload(); });
  }

  // --- Retry Upload: the admin token is asked once and kept for this tab (sessionStorage) ---
  var dialog = document.getElementById("token-dialog"), waiting = null;
  function askToken(then) {
    waiting = then;
    document.getElementById("token-input").value = "";
    dialog.showModal();
  }
  if (dialog) {
    document.getElementById("token-form").addEventListener("submit", function () {
      var token = document.getElementById("token-input").value.trim();
      if (token && waiting) { sessionStorage.setItem(TOKEN_KEY, token); waiting(token); }
      waiting = null;
    });
    document.getElementById("token-cancel").addEventListener("click", function () {
      waiting = null; dialog.close();
    });
  }
  function retry(profile, button) {
    var token = sessionStorage.getItem(TOKEN_KEY);
    if (!token) { askToken(function (t) { retry(profile, button); }); return; }
    button.disabled = true;
    fetch("/api/v1/profiles/" + encodeURIComponent(profile) + "/retry", {
      method: "POST", credentials: "same-origin",
      headers: { "Authorization": "Bearer " + token, "Content-Type": "application/json" }, body: "{}"
    }).then(function (r) {
      return r.json().then(function (d) { return { status: r.status, d: d }; });
    }).then(function (a) {
      button.disabled = false;
      if (a.status === 202) {
        say("Retry Upload started for " + profile + ": " + a.d.retrying + " gateways.", false);
        poll();
      } else if (a.status === 401 || (a.status === 403 && /token/.test(a.d.error || "") && !/disabled/.test(a.d.error || ""))) {
        sessionStorage.removeItem(TOKEN_KEY);
        say("Retry Upload refused: " + a.d.error + ". Enter the token again.", true);
      } else {
        say("Retry Upload refused: " + (a.d.error || "HTTP " + a.status), true);
      }
    }).catch(function () { button.disabled = false; say("Retry Upload failed: the daemon did not answer.", true); });
  }

  document.addEventListener("click", function (e) {
    var target = e.target.closest ? e.target.closest("button") : null;
    if (!target) return;
    if (target.classList.contains("expand")) toggle(target);
    else if (target.hasAttribute("data-retry")) retry(target.getAttribute("data-retry"), target);
  });

  stamp(true);
  setInterval(poll, POLL_MS);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) poll(); });
})();
