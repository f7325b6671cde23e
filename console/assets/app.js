// leadscore console: a single page over /console/api/. Every value received is
// put in the page as text (textContent, attributes), never parsed as HTML.
"use strict";

const SVGNS = "http://www.w3.org/2000/svg";
let session = null;   // GET /console/api/session
let timer = null;     // the current page's refresh timer
let source = null;    // the live feed's EventSource

// el builds an element: el("td", {class: "num"}, "text", child…).
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  setAttrs(e, attrs);
  for (const k of kids) add(e, k);
  return e;
}
function svg(tag, attrs, ...kids) {
  const e = document.createElementNS(SVGNS, tag);
  setAttrs(e, attrs);
  for (const k of kids) add(e, k);
  return e;
}
function setAttrs(e, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    e.setAttribute(k, String(v));
  }
}
function add(e, k) {
  if (k === null || k === undefined || k === false) return;
  if (Array.isArray(k)) { for (const x of k) add(e, x); return; }
  e.append(k instanceof Node ? k : document.createTextNode(String(k)));
}

async function getJSON(path) {
  const r = await fetch(path, {credentials: "same-origin", headers: {"Accept": "application/json"}});
  if (r.status === 401) { location.href = "/console/login"; throw new Error("not logged in"); }
  const body = await r.json();
  if (!r.ok) throw new Error((body.error && body.error.message) || ("HTTP " + r.status));
  return body;
}

function fmtTime(iso) {
  if (!iso) return "—";
  const d = typeof iso === "number" ? new Date(iso) : new Date(iso);
  if (isNaN(d)) return String(iso);
  return d.toISOString().replace("T", " ").slice(0, 16) + " UTC";
}
function fmtNum(x, digits) {
  if (x === null || x === undefined) return "—";
  return Number(x).toLocaleString("en-US", {maximumFractionDigits: digits === undefined ? 2 : digits});
}
function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const d = seconds / 86400;
  if (d >= 1) return fmtNum(d, 1) + " days";
  const h = seconds / 3600;
  if (h >= 1) return fmtNum(h, 1) + " h";
  return fmtNum(seconds / 60, 1) + " min";
}
function leadHref(id) { return "#/lead/" + encodeURIComponent(id); }
// Account ids may hold "/" (a groupId such as "acme/emea"): encoded, they
// stay one path segment of the hash.
function accountHref(id) { return "#/account/" + encodeURIComponent(id); }
function accountLink(id, cls) { return el("a", {href: accountHref(id), class: cls || "account-link", "data-account": id}, id); }
function leadLink(id, cls) { return el("a", {href: leadHref(id), class: cls || "lead-link", "data-lead": id}, id); }
function card(k, v, id) { return el("div", {class: "card"}, el("div", {class: "v", id: id}, v), el("div", {class: "k"}, k)); }
function table(id, head, rows) {
  return el("table", {id: id},
    el("thead", null, el("tr", null, head.map(h => el("th", {class: h.num ? "num" : null}, h.t || h)))),
    el("tbody", null, rows));
}
function show(...nodes) {
  const m = document.getElementById("main");
  m.replaceChildren();
  add(m, nodes);
}
function stop() {
  if (timer) { clearInterval(timer); timer = null; }
  if (source) { source.close(); source = null; }
}

// ---------------------------------------------------------------------------
// Funnel

async function pageFunnel(params) {
  const days = params.get("days") || "30";
  const sel = el("select", {id: "period"}, [7, 30, 90, 365].map(d =>
    el("option", {value: d, selected: String(d) === days}, "last " + d + " days")));
  sel.addEventListener("change", () => { location.hash = "#/funnel?days=" + sel.value; });
  const holder = el("div", {id: "funnel"});
  show(el("h2", null, "Funnel"), el("div", {class: "controls"}, "Period (event time):", sel,
    el("span", {class: "muted", id: "funnel-at"})), holder);
  const model = params.get("model");
  const draw = async () => {
    const f = await getJSON("/console/api/funnel?days=" + encodeURIComponent(days));
    holder.setAttribute("data-changes", f.changes);
    document.getElementById("funnel-at").textContent = "from " + fmtTime(f.from) + " to " + fmtTime(f.at) +
      " · " + fmtNum(f.changes, 0) + " stage changes read" + (f.caught_up ? "" : " · still reading the topic's history: counts are partial");
    if (f.models.length === 0) { holder.replaceChildren(el("p", {class: "muted"}, "No stage change yet.")); return; }
    const nodes = [];
    if (f.models.length > 1) {
      const ms = el("select", {id: "model-select"}, f.models.map(m => el("option", {value: m.model, selected: m.model === model}, "model " + m.model)));
      ms.addEventListener("change", () => { location.hash = "#/funnel?days=" + days + "&model=" + encodeURIComponent(ms.value); });
      nodes.push(el("div", {class: "controls"}, "Model:", ms));
    }
    const mf = f.models.find(m => m.model === model) || f.models[0];
    nodes.push(el("div", {class: "cards"},
      card(session.mql.toUpperCase() + " → " + session.sql.toUpperCase() + " rate", mf.rate === null ? "—" : fmtNum(mf.rate * 100, 1) + " %", "mql-rate"),
      card("entered " + session.mql.toUpperCase(), fmtNum(mf.entered_mql, 0), "entered-mql"),
      card(session.mql.toUpperCase() + " → " + session.sql.toUpperCase(), fmtNum(mf.mql_to_sql, 0), "mql-to-sql"),
      card("median time to " + session.sql.toUpperCase(), fmtDuration(mf.time_to_sql_seconds), "time-to-sql")));
    const counted = mf.stages.filter((s, i) => i > 0);
    const max = Math.max(1, ...counted.map(s => s.leads));
    const W = 520, rowH = 22;
    const chart = svg("svg", {class: "chart", width: W + 200, height: counted.length * rowH + 10, id: "funnel-chart"},
      counted.map((s, i) => [
        svg("text", {x: 8, y: i * rowH + 20}, s.stage),
        svg("rect", {class: "bar", x: 110, y: i * rowH + 8, height: rowH - 6, width: Math.max(1, W * s.leads / max)}),
        svg("text", {x: 116 + W * s.leads / max, y: i * rowH + 20}, fmtNum(s.leads, 0))]));
    nodes.push(el("div", {class: "row"},
      el("div", null, el("h3", null, "Leads per stage now"),
        table("funnel-stages", ["stage", {t: "leads", num: true}], counted.map(s =>
          el("tr", {"data-stage": s.stage}, el("td", null, el("a", {href: "#/leaders?stage=" + encodeURIComponent(s.stage)}, s.stage)),
            el("td", {class: "num count"}, String(s.leads))))),
        el("p", {class: "muted"}, "Leads that never changed stage (" + mf.stages[0].stage + ") are not counted.")),
      el("div", null, el("h3", null, " "), chart)));
    nodes.push(el("h3", null, "Conversions in the period"),
      table("funnel-flows", ["from", "to", {t: "changes", num: true}], mf.flows.map(x =>
        el("tr", null, el("td", null, x.from), el("td", null, x.to), el("td", {class: "num"}, String(x.count))))));
    holder.replaceChildren(...nodes);
  };
  await draw();
  timer = setInterval(() => draw().catch(showError), 5000);
}

// ---------------------------------------------------------------------------
// Live handoffs

function pageLive(params) {
  // Account changes come too where a model scores accounts: their stages
  // join the stage filter, and a kind filter tells them from the leads'.
  const accounts = session.account_stages.length > 0;
  const stageOpts = s => el("option", {value: s, selected: params.get("stage") === s}, s);
  const stageSel = el("select", {id: "filter-stage"}, el("option", {value: ""}, "any stage"),
    accounts ? [el("optgroup", {label: "lead stages"}, session.stages.map(stageOpts)),
      el("optgroup", {label: "account stages"}, session.account_stages.map(stageOpts))] : session.stages.map(stageOpts));
  const dirSel = el("select", {id: "filter-direction"}, el("option", {value: ""}, "both directions"),
    el("option", {value: "up", selected: params.get("direction") === "up"}, "up (handoffs)"),
    el("option", {value: "down", selected: params.get("direction") === "down"}, "down (regressions)"));
  const kindSel = el("select", {id: "filter-kind", hidden: !accounts}, el("option", {value: ""}, "leads and accounts"),
    el("option", {value: "lead", selected: params.get("kind") === "lead"}, "leads"),
    el("option", {value: "account", selected: params.get("kind") === "account"}, "accounts"));
  const status = el("span", {id: "live-status", class: "muted"}, "connecting…");
  const list = el("ul", {id: "live-feed", class: "feed"});
  const apply = () => {
    for (const li of list.children) li.hidden = !matches(li);
  };
  const matches = li => (!stageSel.value || li.dataset.from === stageSel.value || li.dataset.to === stageSel.value) &&
    (!dirSel.value || li.dataset.direction === dirSel.value) && (!kindSel.value || li.dataset.kind === kindSel.value);
  stageSel.addEventListener("change", apply);
  dirSel.addEventListener("change", apply);
  kindSel.addEventListener("change", apply);
  show(el("h2", null, "Live handoffs"), el("div", {class: "controls"}, "Stage (from or to):", stageSel, dirSel, kindSel, status), list);
  const addItem = li => {
    li.hidden = !matches(li);
    list.prepend(li);
    while (list.children.length > 200) list.lastElementChild.remove();
  };
  const move = c => el("span", null, c.from, " → ", el("span", {class: c.direction === "up" ? "dir-up" : "dir-down"}, c.to));
  const addChange = (c, backlog) => addItem(el("li", {class: "change" + (backlog ? " backlog" : ""), "data-kind": "lead", "data-id": c.id,
    "data-lead": c.lead_id, "data-from": c.from, "data-to": c.to, "data-direction": c.direction, "data-produced": c.produced_ms,
    "data-received": Date.now()},
    el("span", {class: "muted"}, fmtTime(c.event_time)),
    leadLink(c.lead_id),
    move(c),
    el("span", {class: "pill"}, causeText(c.cause)),
    el("span", {class: "muted"}, "score " + fmtNum(c.score) + " · fit " + fmtNum(c.fit) + (c.grade ? " (" + c.grade + ")" : ""))));
  const addAccountChange = (c, backlog) => addItem(el("li", {class: "change account-change" + (backlog ? " backlog" : ""), "data-kind": "account",
    "data-id": c.id, "data-account": c.account_id, "data-from": c.from, "data-to": c.to, "data-direction": c.direction,
    "data-produced": c.produced_ms, "data-received": Date.now()},
    el("span", {class: "muted"}, fmtTime(c.event_time)),
    el("span", {class: "pill kind"}, "account"),
    accountLink(c.account_id),
    move(c),
    el("span", {class: "pill"}, causeText(c.cause)),
    el("span", {class: "muted"}, "engagement " + fmtNum(c.engagement) + " · " + c.engaged_members + " engaged member" +
      (c.engaged_members === 1 ? "" : "s") + " · fit " + fmtNum(c.fit) + (c.grade ? " (" + c.grade + ")" : ""))));
  source = new EventSource("/console/api/stream");
  source.addEventListener("backlog", e => addChange(JSON.parse(e.data), true));
  source.addEventListener("change", e => addChange(JSON.parse(e.data), false));
  source.addEventListener("account-backlog", e => addAccountChange(JSON.parse(e.data), true));
  source.addEventListener("account-change", e => addAccountChange(JSON.parse(e.data), false));
  source.addEventListener("ready", () => { status.textContent = "live"; });
  source.onerror = () => { status.textContent = "reconnecting…"; };
}

function causeText(c) {
  if (!c) return "";
  let s = c.kind;
  if (c.rule) s += ": " + c.rule;
  if (c.feedback) s += ": " + c.feedback;
  if (c.reason) s += " (" + c.reason + ")";
  return s;
}

// ---------------------------------------------------------------------------
// Leaderboards

async function pageLeaders(params) {
  const stage = params.get("stage") || session.sql;
  const sel = el("select", {id: "leader-stage"}, session.stages.map(s => el("option", {value: s, selected: s === stage}, s)));
  sel.addEventListener("change", () => { location.hash = "#/leaders?stage=" + encodeURIComponent(sel.value); });
  const holder = el("div");
  show(el("h2", null, "Leaderboards"), el("div", {class: "controls"}, "Stage:", sel, el("span", {class: "muted", id: "leaders-at"})), holder);
  const draw = async () => {
    const t = await getJSON("/console/api/leaders?limit=50&stage=" + encodeURIComponent(stage));
    document.getElementById("leaders-at").textContent = "scores at " + fmtTime(t.at);
    if (t.leads.length === 0) { holder.replaceChildren(el("p", {class: "muted", id: "leaders-empty"}, "No lead in " + stage + ".")); return; }
    holder.replaceChildren(table("leaders", ["#", "lead", {t: "score", num: true}, {t: "fit", num: true}, "grade", "last activity", "next time-driven change"],
      t.leads.map((l, i) => el("tr", {"data-lead": l.lead_id},
        el("td", {class: "num"}, String(i + 1)), el("td", null, leadLink(l.lead_id)),
        el("td", {class: "num score"}, fmtNum(l.score)), el("td", {class: "num"}, fmtNum(l.fit)),
        el("td", null, l.grade || "—"), el("td", null, fmtTime(l.last_activity)), el("td", null, fmtTime(l.next_change_at))))));
  };
  await draw();
  timer = setInterval(() => draw().catch(showError), 5000);
}

// ---------------------------------------------------------------------------
// Accounts (account-based scoring)

function noAccounts(title) {
  show(el("h2", null, title), el("p", {class: "muted", id: "accounts-none"},
    "No model in force scores accounts: its rules have no accounts section (see docs/models.md, Accounts)."));
}

async function pageAccounts(params) {
  if (session.account_stages.length === 0) { noAccounts("Accounts"); return; }
  // No stage asked: the server picks the highest stage that holds accounts.
  let stage = params.get("stage") || "";
  const sel = el("select", {id: "account-stage"}, session.account_stages.map(s => el("option", {value: s, selected: s === stage}, s)));
  sel.addEventListener("change", () => { location.hash = "#/accounts?stage=" + encodeURIComponent(sel.value); });
  const holder = el("div");
  show(el("h2", null, "Accounts"), el("div", {class: "controls"}, "Account stage:", sel, el("span", {class: "muted", id: "accounts-at"})), holder);
  const draw = async () => {
    const t = await getJSON("/console/api/accounts?limit=50" + (stage ? "&stage=" + encodeURIComponent(stage) : ""));
    stage = t.stage;
    sel.value = t.stage;
    document.getElementById("accounts-at").textContent = "engagement at " + fmtTime(t.at);
    if (t.accounts.length === 0) { holder.replaceChildren(el("p", {class: "muted", id: "accounts-empty"}, "No account in " + t.stage + ".")); return; }
    holder.replaceChildren(table("accounts", ["#", "account", {t: "engagement", num: true}, {t: "engaged members", num: true}, "roles covered",
      {t: "fit", num: true}, "grade", "stage since"],
      t.accounts.map((a, i) => el("tr", {"data-account": a.account_id},
        el("td", {class: "num"}, String(i + 1)), el("td", null, accountLink(a.account_id)),
        el("td", {class: "num engagement"}, fmtNum(a.engagement)),
        el("td", {class: "num"}, a.engaged_members + " of " + a.members),
        el("td", null, a.roles.join(", ") || "—"),
        el("td", {class: "num"}, fmtNum(a.fit)), el("td", null, a.grade || "—"), el("td", null, fmtTime(a.stage_since))))));
  };
  await draw();
  timer = setInterval(() => draw().catch(showError), 5000);
}

async function pageAccount(id) {
  if (session.account_stages.length === 0) { noAccounts("Account " + id); return; }
  const a = await getJSON("/console/api/account?id=" + encodeURIComponent(id));
  show(
    el("h2", {id: "account-id", "data-account": a.account_id}, a.account_id),
    el("p", {class: "muted"}, el("a", {href: "#/accounts?stage=" + encodeURIComponent(a.stage)}, "the accounts in " + a.stage),
      " · model " + a.model_version),
    el("div", {class: "cards"},
      card("account stage", a.stage, "account-stage"),
      card("since", fmtTime(a.stage_since), "account-since"),
      card("engagement", fmtNum(a.engagement), "account-engagement"),
      card("fit", fmtNum(a.fit) + (a.grade ? " (" + a.grade + ")" : ""), "account-fit"),
      card("engaged members", a.engaged_members + " of " + a.members.length, "account-engaged"),
      card("next time-driven change", fmtTime(a.next_change_at), "account-next")),
    el("div", {class: "row"},
      el("div", null, el("h3", null, "Members (highest score first)"),
        a.members.length === 0 ? el("p", {class: "muted"}, "No current member.") :
          table("account-members", ["lead", {t: "score", num: true}, "role"], a.members.map(m =>
            el("tr", {"data-lead": m.lead_id}, el("td", null, leadLink(m.lead_id)), el("td", {class: "num"}, fmtNum(m.score)),
              el("td", null, m.role || "—"))))),
      el("div", null, el("h3", null, "Buying group"),
        el("p", {id: "account-roles"}, a.roles.length ? "roles covered: " + a.roles.join(", ") : "no role covered yet"),
        el("p", {class: "muted"}, a.engaged_members + " engaged member" + (a.engaged_members === 1 ? "" : "s") +
          " (score at or above the model's engaged score)"))),
    el("h3", null, "Transitions (newest first)"),
    a.recent_transitions.length === 0 ? el("p", {class: "muted", id: "account-transitions-none"}, "No account stage change yet.") :
      table("account-transitions", ["when", "from → to", "cause", "trigger event", {t: "engagement", num: true}, "members who made it"],
        a.recent_transitions.map(t => el("tr", {"data-id": t.id}, el("td", null, fmtTime(t.at)),
          el("td", null, t.from, " → ", el("span", {class: t.direction === "up" ? "dir-up" : "dir-down"}, t.to)),
          el("td", null, causeText(t.cause)), el("td", {class: "muted"}, t.trigger_event_id || "—"),
          el("td", {class: "num"}, fmtNum(t.engagement)),
          el("td", null, (t.members || []).map((m, i) => [i > 0 ? ", " : null, leadLink(m.lead_id), " " + fmtNum(m.score)]))))));
}

// ---------------------------------------------------------------------------
// A lead

async function pageLead(id) {
  const v = await getJSON("/console/api/lead?id=" + encodeURIComponent(id));
  const l = v.lead;
  const sum = l.breakdown.reduce((a, c) => a + c.points, 0);
  const erase = el("button", {id: "erase", class: "danger", type: "button"}, "Erase this lead…");
  const confirmBtn = el("button", {id: "erase-confirm", class: "danger", type: "button", hidden: true}, "Erase now (cannot be undone)");
  const eraseMsg = el("span", {id: "erase-result", class: "muted"});
  erase.addEventListener("click", () => { confirmBtn.hidden = false; });
  confirmBtn.addEventListener("click", async () => {
    const r = await fetch("/console/api/erase?id=" + encodeURIComponent(l.lead_id),
      {method: "POST", credentials: "same-origin", headers: {"X-CSRF-Token": session.csrf}});
    const body = await r.json();
    eraseMsg.textContent = r.ok ? "erased " + body.lead_id : "not erased: " + ((body.error && body.error.message) || r.status);
    confirmBtn.hidden = true;
  });
  const ids = l.identities || {};
  show(
    el("h2", {id: "lead-id", "data-lead": l.lead_id, "data-at": Date.parse(l.at), "data-score": l.score}, l.lead_id),
    l.requested_id ? el("p", {class: "muted"}, "requested as " + l.requested_id) : null,
    el("div", {class: "cards"},
      card("score now", fmtNum(l.score), "lead-score"),
      card("stage", l.stage, "lead-stage"),
      card("fit", fmtNum(l.fit), "lead-fit"),
      card("grade", l.grade || "—", "lead-grade"),
      card("last activity", fmtTime(l.last_activity), "lead-last"),
      card("next time-driven change", fmtTime(l.next_change_at), "lead-next"),
      v.account ? card("account", accountLink(v.account), "lead-account") : null),
    el("h3", null, "Score over time"),
    chartLead(v.history),
    el("p", {class: "muted"}, "Known scores: each recent transition and the last update; the curve between them is the decay (half-life " +
      (v.history.half_life_ms ? fmtDuration(v.history.half_life_ms / 1000) : "none") + "), events in between are not kept. Model " + l.model_version + "."),
    el("div", {class: "row"},
      el("div", null, el("h3", null, "Why: the breakdown"),
        table("breakdown", ["rule", {t: "points", num: true}],
          l.breakdown.map(c => el("tr", {"data-rule": c.rule}, el("td", null, c.rule), el("td", {class: "num points", "data-points": c.points}, fmtNum(c.points))))
            .concat([el("tr", {class: "total"}, el("th", null, "sum = score"), el("th", {class: "num", id: "breakdown-sum", "data-sum": sum}, fmtNum(sum)))]))),
      el("div", null, el("h3", null, "Identities"),
        el("ul", {id: "identities"},
          ids.user_id ? el("li", null, "user: " + ids.user_id) : null,
          (ids.emails || []).map(e => el("li", null, "e-mail: " + e)),
          (ids.anonymous_ids || []).map(a => el("li", null, "anonymous: " + a)))),
      el("div", null, el("h3", null, "Fit " + fmtNum(l.fit) + (l.grade ? ", grade " + l.grade : "")),
        table("fit-rules", ["fit rule", "trait", "value", {t: "points", num: true}],
          v.fit_rules.map(r => el("tr", {class: r.matched ? "matched" : "muted"}, el("td", null, r.name), el("td", null, r.trait),
            el("td", null, r.value === null ? "—" : r.value), el("td", {class: "num"}, r.matched ? fmtNum(r.points) : "·")))))),
    el("h3", null, "Transitions (newest first)"),
    table("transitions", ["when", "from → to", "cause", {t: "score", num: true}, {t: "fit", num: true}, "top contributors"],
      l.recent_transitions.map(t => el("tr", {"data-id": t.id}, el("td", null, fmtTime(t.at)),
        el("td", null, t.from, " → ", el("span", {class: t.direction === "up" ? "dir-up" : "dir-down"}, t.to)),
        el("td", null, causeText(t.cause)), el("td", {class: "num"}, fmtNum(t.score)), el("td", {class: "num"}, fmtNum(t.fit)),
        el("td", {class: "muted"}, (t.contributors || []).map(c => c.rule + " " + fmtNum(c.points)).join(", "))))),
    el("h3", null, "Sales feedback"),
    v.feedback.length === 0 ? el("p", {class: "muted", id: "feedback-none"}, "No sales feedback among the recent transitions.") :
      table("feedback", ["when", "feedback", "reason", "moved to"], v.feedback.map(t => el("tr", null, el("td", null, fmtTime(t.at)),
        el("td", null, t.cause.feedback), el("td", null, t.cause.reason || "—"), el("td", null, t.to)))),
    el("h3", null, "Activity (rule hits, lifetime)"),
    el("p", {class: "muted"}, v.hits.map(h => h.rule + " ×" + h.count).join(" · ") || "none"),
    el("h3", null, "Erase (right to be forgotten)"),
    el("div", {class: "controls"}, erase, confirmBtn, eraseMsg));
}

// chartLead draws the score over time: stage bands, thresholds, the curve and
// the known points.
function chartLead(h) {
  const W = 960, H = 300, L = 48, R = 16, T = 22, B = 28;
  const t0 = Math.min(...h.bands.map(b => b.from), ...h.points.map(p => p.at));
  const t1 = h.now;
  const span = Math.max(1, t1 - t0);
  const scores = h.curve.map(s => s.score).concat(h.points.map(p => p.score));
  const ths = h.thresholds;
  let lo = Math.min(0, ...scores), hi = Math.max(10, ...scores, ...ths.map(t => t.score));
  hi += (hi - lo) * 0.08;
  const x = t => L + (W - L - R) * (t - t0) / span;
  const y = s => T + (H - T - B) * (hi - s) / (hi - lo);
  const stages = session.stages;
  const g = svg("svg", {id: "score-chart", class: "chart", width: W, height: H, viewBox: "0 0 " + W + " " + H});
  h.bands.forEach(b => {
    const i = Math.max(0, stages.indexOf(b.stage));
    add(g, svg("rect", {class: "band band" + (i % 6), x: x(b.from), y: T, width: Math.max(0, x(b.to) - x(b.from)), height: H - T - B, "data-stage": b.stage},
      svg("title", null, b.stage + ": " + fmtTime(b.from) + " – " + fmtTime(b.to))));
    add(g, svg("text", {x: x(b.from) + 4, y: T - 6}, b.stage));
  });
  const seen = {};
  ths.forEach(t => {
    const k = t.score + t.kind;
    if (seen[k]) { seen[k].textContent += ", " + t.stage; return; }
    add(g, svg("line", {class: "threshold " + t.kind, x1: L, x2: W - R, y1: y(t.score), y2: y(t.score)}));
    seen[k] = svg("text", {x: W - R - 4, y: y(t.score) - 3, "text-anchor": "end"}, t.kind + " " + t.score + ": " + t.stage);
    add(g, seen[k]);
  });
  add(g, svg("line", {class: "axis", x1: L, x2: W - R, y1: y(0), y2: y(0)}));
  add(g, svg("line", {class: "axis", x1: L, x2: L, y1: T, y2: H - B}));
  [lo, (lo + hi) / 2, hi].forEach(s => add(g, svg("text", {x: L - 6, y: y(s) + 4, "text-anchor": "end"}, fmtNum(s, 0))));
  add(g, svg("text", {x: L, y: H - 8}, fmtTime(t0)));
  add(g, svg("text", {x: W - R, y: H - 8, "text-anchor": "end"}, "now " + fmtTime(t1)));
  let d = "";
  h.curve.forEach((s, i) => { d += (i === 0 ? "M" : "L") + x(s.at).toFixed(1) + " " + y(s.score).toFixed(1) + " "; });
  add(g, svg("path", {class: "curve", d: d}));
  h.points.forEach(p => add(g, svg("circle", {class: "point " + p.kind, cx: x(p.at), cy: y(p.score), r: 4.5, "data-at": p.at, "data-score": p.score},
    svg("title", null, fmtTime(p.at) + ": " + fmtNum(p.score) + (p.label ? " (" + p.label + ")" : "")))));
  if (h.last_activity > 0 && h.last_activity >= t0) {
    add(g, svg("line", {class: "axis", x1: x(h.last_activity), x2: x(h.last_activity), y1: H - B, y2: H - B + 6}));
  }
  return g;
}

// ---------------------------------------------------------------------------
// Health

async function pageHealth() {
  const holder = el("div");
  show(el("h2", null, "Health"), holder);
  const draw = async () => {
    const h = await getJSON("/console/api/health");
    const m = h.metrics;
    const nodes = [el("div", {class: "cards"},
      card("ready", h.readiness.ready ? "yes" : "NO", "ready"),
      card("events/s", m.events_per_second === null ? "…" : fmtNum(m.events_per_second, 0), "events-rate"),
      card("consumer lag (records)", fmtNum(m.lag, 0), "lag"),
      card("consumed since start", fmtNum(Object.values(m.consumed).reduce((a, b) => a + b, 0), 0), "consumed"),
      card("stage changes since start", fmtNum(m.transitions, 0), "transitions"))];
    nodes.push(el("div", {class: "row"},
      el("div", null, el("h3", null, "Readiness"), table("readiness", ["check", "state"],
        Object.entries(h.readiness.checks).map(([k, v]) => el("tr", null, el("td", null, k), el("td", {class: v === "ok" ? "" : "error"}, v))))),
      el("div", null, el("h3", null, "Consumed by outcome"), table("outcomes", ["outcome", {t: "records", num: true}],
        Object.entries(m.consumed).map(([k, v]) => el("tr", null, el("td", null, k), el("td", {class: "num"}, fmtNum(v, 0))))))),
      el("h3", null, "Lag per partition"), table("lag-partitions", ["topic", "partition", {t: "lag", num: true}],
        m.lag_partitions.map(p => el("tr", null, el("td", null, p.topic), el("td", null, p.partition), el("td", {class: "num"}, fmtNum(p.lag, 0))))));
    const dl = h.dead_letters;
    nodes.push(el("h3", null, "Dead letters by reason"),
      table("dead-reasons", ["reason", {t: "this process", num: true}, {t: "on the topic", num: true}],
        Object.keys(Object.assign({}, m.dead_letters, dl ? dl.by_reason : {})).sort().map(r =>
          el("tr", {"data-reason": r}, el("td", null, r), el("td", {class: "num"}, fmtNum(m.dead_letters[r] || 0, 0)),
            el("td", {class: "num"}, dl ? fmtNum(dl.by_reason[r] || 0, 0) : "—")))));
    nodes.push(el("h3", null, "Latest dead letters"));
    if (!dl || dl.latest.length === 0) nodes.push(el("p", {class: "muted"}, "None."));
    else dl.latest.forEach(x => nodes.push(el("div", {class: "dead-letter"},
      el("p", null, el("span", {class: "pill"}, x.reason), " ", x.message, x.field ? " (field " + x.field + ")" : "",
        el("span", {class: "muted"}, " · " + x.source.topic + "/" + x.source.partition + "@" + x.source.offset + " · " + fmtTime(x.at) +
          " · " + x.payload_size + " bytes" + (x.payload_truncated ? ", truncated" : ""))),
      el("pre", {class: "payload"}, x.payload))));
    holder.replaceChildren(...nodes);
  };
  await draw();
  timer = setInterval(() => draw().catch(showError), 2000);
}

// ---------------------------------------------------------------------------
// Rules

async function pageRules() {
  const r = await getJSON("/console/api/rules");
  show(el("h2", null, "Rules — model " + r.version), el("p", {class: "muted"}, "As `leadscore rules check` summarises the rules in force."),
    el("pre", {id: "rules-summary"}, r.summary));
}

// ---------------------------------------------------------------------------
// Routing

function showError(err) {
  show(el("p", {class: "error", id: "page-error"}, "Error: " + err.message));
}

async function route() {
  stop();
  const hash = location.hash || "#/funnel";
  const [path, query] = hash.slice(1).split("?");
  const params = new URLSearchParams(query || "");
  const page = path.split("/")[1] || "funnel";
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.page === page);
  try {
    switch (page) {
      case "live": pageLive(params); break;
      case "leaders": await pageLeaders(params); break;
      case "lead": await pageLead(decodeURIComponent(path.slice("/lead/".length))); break;
      case "accounts": await pageAccounts(params); break;
      case "account": await pageAccount(decodeURIComponent(path.slice("/account/".length))); break;
      case "health": await pageHealth(); break;
      case "rules": await pageRules(); break;
      default: await pageFunnel(params);
    }
  } catch (err) {
    showError(err);
  }
}

document.addEventListener("DOMContentLoaded", async () => {
  try {
    session = await getJSON("/console/api/session");
  } catch (err) {
    showError(err);
    return;
  }
  document.getElementById("model").textContent = "model " + session.model_version;
  document.getElementById("logout").hidden = !session.auth;
  // The Accounts page only where a model scores accounts.
  document.getElementById("nav-accounts").hidden = session.account_stages.length === 0;
  document.getElementById("find").addEventListener("submit", e => {
    e.preventDefault();
    const id = document.getElementById("find-id").value.trim();
    if (id) location.hash = leadHref(id);
  });
  window.addEventListener("hashchange", route);
  route();
});
