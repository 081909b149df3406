// lastmile's console: a small single-page view over the JSON API
// (docs/console.md). No framework and no build step; every value from the
// API is put into the page as text, never as markup.
"use strict";

const main = document.getElementById("main");
const tokenKey = "lastmile-console-token";

// el builds an element: attributes (on* are listeners) and children (nodes
// or text).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "class") e.className = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function pill(text, kind) { return el("span", { class: "pill " + (kind || "") }, text); }

function when(t) { return t ? new Date(t).toLocaleString() : ""; }

// api calls the JSON API with the token of this tab, asking for one on 401.
async function api(path, body) {
  const headers = {};
  const token = sessionStorage.getItem(tokenKey);
  if (token) headers["Authorization"] = "Bearer " + token;
  const init = { headers };
  if (body !== undefined) {
    init.method = "POST";
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  const data = await resp.json().catch(() => ({}));
  if (resp.status === 401) {
    login(data.error ? data.error.message : "");
    throw new Error("sign in to continue");
  }
  if (!resp.ok) throw new Error(data.error ? data.error.message : resp.status + " " + resp.statusText);
  return data;
}

function login(message) {
  const d = document.getElementById("login");
  document.getElementById("login-error").textContent = message || "";
  if (!d.open) d.showModal();
}

document.getElementById("login-form").addEventListener("submit", () => {
  sessionStorage.setItem(tokenKey, document.getElementById("login-token").value.trim());
  document.getElementById("login-token").value = "";
  route();
});

function show(title, ...content) {
  main.replaceChildren(el("div", {}, el("h1", {}, title), content));
}

function fail(err) {
  main.replaceChildren(el("p", { class: "error", id: "error" }, String(err.message || err)));
}

// ---- APIs ----

async function viewAPIs() {
  const apis = await api("/api/apis");
  const rows = apis.map(a => el("tr", { "data-api": a.id },
    el("td", {}, el("a", { href: "#/api/" + encodeURIComponent(a.id) }, a.name), el("div", { class: "muted mono" }, a.id)),
    el("td", { class: "mono" }, "/" + a.path),
    el("td", {}, a.versionScheme ? a.version + " (" + a.versionScheme + (a.versionParameter ? ": " + a.versionParameter : "") + ")" : ""),
    el("td", {}, a.products.map(p => pill(p.id, p.id === a.openProduct ? "ok" : ""))),
    el("td", {}, a.subscriptionRequired ? pill("key required", "warn") : pill("open", "ok")),
    el("td", { class: "mono" }, a.serviceUrl || "", a.backends.map(b => el("div", {}, "backend: ", el("a", { href: "#/backends" }, b)))),
    el("td", {}, String((a.operations || []).length))));
  show("APIs", el("table", { id: "apis" },
    el("tr", {}, ["API", "Path", "Version", "Products", "Subscription", "Backend", "Operations"].map(h => el("th", {}, h))),
    rows));
}

async function viewAPI(id) {
  const [a, backends] = await Promise.all([api("/api/apis/" + encodeURIComponent(id)), api("/api/backends")]);
  const ops = (a.operations || []).map(o => el("tr", { "data-operation": o.id },
    el("td", { class: "method" }, o.method),
    el("td", { class: "mono" }, el("a", { href: "#/op/" + encodeURIComponent(a.id) + "/" + encodeURIComponent(o.id) }, "/" + a.path + o.urlTemplate)),
    el("td", {}, o.name),
    el("td", {}, o.backends.join(", ")),
    el("td", {}, o.contexts.map(c => pill(c || "(no product)")))));
  show(a.name,
    el("p", {}, el("span", { class: "mono" }, "/" + a.path), " → ", el("span", { class: "mono" }, a.serviceUrl || "(no service URL)")),
    el("p", {}, "Subscription key: ", a.subscriptionRequired ? "required, in header " : "not required; header ",
      el("code", {}, a.subscriptionKeyHeader), " or query ", el("code", {}, a.subscriptionKeyQuery)),
    el("h2", {}, "Operations"),
    el("table", { id: "operations" }, el("tr", {}, ["Method", "URL", "Name", "Backends", "Product contexts"].map(h => el("th", {}, h))), ops),
    a.backends.length ? [el("h2", {}, "Backends its policies name"), backendTable(backends.filter(b => a.backends.includes(b.id)))] : "");
}

// ---- an operation: its effective policy and Try it ----

async function viewOperation(apiID, opID, product) {
  const [a, subs] = await Promise.all([api("/api/apis/" + encodeURIComponent(apiID)), api("/api/subscriptions")]);
  const op = (a.operations || []).find(o => o.id === opID);
  if (!op) throw new Error("no operation " + opID);
  if (product === undefined) product = a.openProduct || "";
  const pol = await api("/api/apis/" + encodeURIComponent(apiID) + "/operations/" + encodeURIComponent(opID) +
    "/policy?product=" + encodeURIComponent(product));

  const contexts = el("select", { id: "policy-context", onchange: e => { location.hash = "#/op/" + encodeURIComponent(apiID) + "/" + encodeURIComponent(opID) + "?product=" + encodeURIComponent(e.target.value); } },
    pol.contexts.map(c => el("option", { value: c, selected: c === pol.product }, c || "(no product)")));
  const sections = ["inbound", "backend", "outbound", "on-error"].map(name => [name, pol.sections[name] || []]).map(([name, steps]) => [
    el("div", { class: "section-name" }, name),
    steps.length ? steps.map(s => el("div", { class: "step scope-" + s.scope, "data-policy": s.name },
      el("span", { class: "origin" }, s.scope + " · ", el("span", { class: "mono" }, s.file + ":" + s.line)),
      el("strong", {}, s.name), s.id ? " #" + s.id : "",
      el("pre", {}, s.source))) : el("div", { class: "muted" }, "(empty)")]);

  show(el("span", {}, el("span", { class: "method" }, op.method), " /" + a.path + op.urlTemplate),
    el("div", { class: "cols" },
      el("div", { id: "policy" }, el("h2", {}, "Effective policy"),
        el("p", {}, "Product context ", contexts, " — global, product, API and operation scopes composed at <base/>."),
        sections,
        el("details", {}, el("summary", {}, "As one document"), el("pre", { id: "policy-document" }, pol.document))),
      el("div", {}, el("h2", {}, "Try it"), tryForm(a, op, subs), el("div", { id: "try-result" }))));
}

function tryForm(a, op, subs) {
  const params = [...op.urlTemplate.matchAll(/\{([^}*]+)\*?\}/g)].map(m => m[1]);
  const inputs = {};
  const fields = params.map(p => { inputs[p] = el("input", { id: "try-param-" + p, value: "1" }); return el("label", {}, p, inputs[p]); });
  const path = el("input", { id: "try-path", class: "mono" });
  const fill = () => {
    // The query part goes too when it has parameters (an OpenAPI operation's
    // required query parameters are template parameters); a SOAP operation's
    // only shows its action.
    let t = op.urlTemplate;
    const q = t.indexOf("?");
    if (q >= 0 && !t.slice(q).includes("{")) t = t.slice(0, q);
    for (const p of params) t = t.replace(new RegExp("\\{" + p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&") + "\\*?\\}"), encodeURIComponent(inputs[p].value));
    path.value = "/" + a.path + t;
  };
  for (const p of params) inputs[p].addEventListener("input", fill);
  fill();
  const method = el("input", { id: "try-method", value: op.method === "*" ? "GET" : op.method });
  const sub = el("select", { id: "try-subscription" }, el("option", { value: "" }, "(no key)"),
    subs.filter(s => s.state === "active").map(s => el("option", { value: s.id }, s.name + " — " + s.scope)));
  if (a.subscriptionRequired && sub.options.length > 1) sub.selectedIndex = 1;
  const headers = el("textarea", { id: "try-headers", placeholder: "Name: value, one a line" });
  const body = el("textarea", { id: "try-body" });
  const send = el("button", { id: "try-send", type: "submit" }, "Send");
  return el("form", { class: "try", id: "try", onsubmit: async e => {
    e.preventDefault();
    send.disabled = true;
    const req = { api: a.id, subscription: sub.value, method: method.value, path: path.value, body: body.value, headers: [] };
    for (const line of headers.value.split("\n")) {
      const i = line.indexOf(":");
      if (i > 0) req.headers.push({ name: line.slice(0, i).trim(), value: line.slice(i + 1).trim() });
    }
    try {
      showTry(await api("/api/try", req));
    } catch (err) {
      document.getElementById("try-result").replaceChildren(el("p", { class: "error" }, err.message));
    } finally {
      send.disabled = false;
    }
  } }, el("div", { class: "row" }, el("label", {}, "Method", method), el("label", {}, "Subscription", sub)),
    fields, el("label", {}, "Request", path), el("label", {}, "Headers", headers), el("label", {}, "Body", body), send);
}

function showTry(r) {
  const t = r.trace || {};
  const entries = Object.entries(t.traceEntries || {}).map(([section, list]) => (list || []).length ? [
    el("div", { class: "section-name" }, section),
    list.map(e => el("div", { class: "entry" + (e.error ? " failed" : ""), "data-source": e.source },
      el("span", { class: "when" }, "+" + e.elapsedMs + " ms" + (e.durationMs !== undefined ? " (" + e.durationMs + " ms)" : "")),
      el("strong", {}, e.source), e.policy ? el("span", { class: "muted mono" }, "  " + e.policy.file + ":" + e.policy.line) : "",
      e.message ? el("div", {}, e.message) : "",
      tokenLines(e), attemptLines(e),
      (e.changes || []).map(c => el("div", { class: "kv mono" }, c.target + (c.name ? " " + c.name : "") + ": " + JSON.stringify(c.from) + " → " + JSON.stringify(c.to))),
      (e.expressions || []).map(x => el("div", { class: "kv mono" }, x.expression + " = " + x.value)),
      e.error ? el("div", { class: "error" }, e.error.reason + ": " + e.error.message) : ""))] : []);
  document.getElementById("try-result").replaceChildren(
    el("h3", {}, "Response ", el("span", { id: "try-status", class: "pill " + (r.status < 400 ? "ok" : "bad") }, String(r.status)),
      el("span", { class: "muted" }, " " + r.durationMs + " ms, " + r.bodyBytes + " bytes")),
    el("pre", { id: "try-headers-out" }, r.headers.map(h => h.name + ": " + h.value).join("\n")),
    el("pre", { id: "try-body-out" }, r.bodyBinary ? "(binary body)" : r.body + (r.bodyTruncated ? "\n…(truncated)" : "")),
    el("h3", {}, "Trace ", el("span", { class: "muted mono" }, t.requestId || "")),
    t.lastError ? el("p", { class: "error" }, "context.LastError: " + t.lastError.source + " " + t.lastError.reason + ": " + t.lastError.message) : "",
    el("div", { id: "try-trace" }, entries));
}

function tokenLines(e) {
  const toks = e.data && e.data.tokens;
  if (!toks) return "";
  return toks.map(k => el("div", { class: "kv token-outcome" }, "token " + (k.clientId || "system") + " → " + k.resource + ": ", pill(k.outcome, k.outcome === "error" ? "bad" : "ok")));
}

function attemptLines(e) {
  const at = e.data && e.data.attempts;
  if (!at) return "";
  return at.map(x => el("div", { class: "kv mono" }, (x.backend ? x.backend + " " : "") + x.url + " → " + (x.status || x.outcome) + " in " + x.durationMs + " ms"));
}

// ---- backends ----

function breaker(b) {
  if (!b) return "";
  return b.open ? pill("open until " + when(b.openUntil), "bad") : pill("closed · " + b.trips + " trips", "ok");
}

function backendTable(bs) {
  return el("table", { class: "backends" },
    el("tr", {}, ["Backend", "URL", "Circuit breaker", "Pool members"].map(h => el("th", {}, h))),
    bs.map(b => el("tr", { "data-backend": b.id }, el("td", { class: "mono" }, b.id), el("td", { class: "mono" }, b.url || ""),
      el("td", {}, breaker(b.circuitBreaker)),
      el("td", {}, (b.pool || []).map(m => el("div", {}, el("span", { class: "mono" }, m.id), " priority " + m.priority + ", weight " + m.weight + " ", breaker(m.circuitBreaker)))))));
}

async function viewBackends() {
  const t = backendTable(await api("/api/backends"));
  t.id = "backends";
  show("Backends", t);
}

// ---- live traffic ----

// chart draws series over time as an SVG line chart.
function chart(points, lines, title) {
  const W = 560, H = 140, P = 28;
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 " + W + " " + H);
  svg.setAttribute("class", "chart");
  svg.setAttribute("width", W);
  svg.setAttribute("height", H);
  const max = Math.max(1e-9, ...lines.flatMap(l => points.map(p => p[l.key])));
  const x = i => P + (W - 2 * P) * i / Math.max(1, points.length - 1);
  const y = v => H - P + 4 - (H - 2 * P) * v / max;
  const add = (tag, attrs, text) => {
    const e = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    svg.append(e);
  };
  add("line", { x1: P, y1: y(0), x2: W - P, y2: y(0), stroke: "#d0d5dd" });
  add("text", { x: 2, y: 12 }, title + " (max " + Math.round(max * 100) / 100 + ")");
  add("text", { x: P, y: H - 4 }, "-" + Math.round((points.length * 10) / 60) + " min");
  add("text", { x: W - P - 20, y: H - 4 }, "now");
  for (const l of lines) {
    add("polyline", { fill: "none", stroke: l.color, "stroke-width": 1.5, points: points.map((p, i) => x(i) + "," + y(p[l.key])).join(" ") });
  }
  return svg;
}

// legend names each line beside a swatch of its colour (an SVG: the
// console's Content-Security-Policy allows no inline style).
function legend(lines) {
  const ns = "http://www.w3.org/2000/svg";
  return el("div", { class: "legend" }, lines.map(l => {
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("width", 12);
    svg.setAttribute("height", 8);
    const line = document.createElementNS(ns, "line");
    for (const [k, v] of Object.entries({ x1: 0, y1: 4, x2: 12, y2: 4, stroke: l.color, "stroke-width": 3 })) line.setAttribute(k, v);
    svg.append(line);
    return el("span", {}, svg, " " + l.label);
  }));
}

async function viewTraffic() {
  const t = await api("/api/traffic");
  const cards = t.apis.map(s => {
    const pts = s.points.map(p => ({ ...p, errRate: p.requests ? (p.errors5xx / p.requests) * 100 : 0 }));
    const rate = [{ key: "perSecond", color: "#1f6feb", label: "requests/s" }];
    const lat = [{ key: "p50Ms", color: "#1a7f37", label: "p50 ms" }, { key: "p99Ms", color: "#cf222e", label: "p99 ms" }];
    const err = [{ key: "errRate", color: "#cf222e", label: "5xx %" }];
    const tot = s.total;
    return el("div", { class: "card", "data-traffic": s.api },
      el("h3", {}, s.api || "(no API)"),
      el("p", { class: "muted" }, tot.requests + " requests in " + t.windowSeconds / 60 + " min · " + tot.perSecond.toFixed(2) + "/s · " +
        tot.errors5xx + " 5xx, " + tot.errors4xx + " 4xx · p50 " + tot.p50Ms + " ms · p99 " + tot.p99Ms + " ms"),
      el("div", { class: "cols" }, el("div", {}, chart(pts, rate, "requests/s"), legend(rate)),
        el("div", {}, chart(pts, lat, "latency ms"), legend(lat))),
      el("div", {}, chart(pts, err, "error rate %"), legend(err)));
  });
  show("Live traffic",
    el("p", { class: "muted" }, "The last " + t.windowSeconds / 60 + " minutes in " + t.bucketSeconds + "-second buckets; refreshed every 5 seconds."),
    cards.length ? cards : el("p", { class: "muted" }, "No requests yet."),
    el("h2", {}, "Last requests"),
    el("table", { id: "recent" }, el("tr", {}, ["Time", "Method", "Path", "API", "Operation", "Subscription", "Status", "ms"].map(h => el("th", {}, h))),
      t.recent.map(r => el("tr", {}, el("td", {}, when(r.time)), el("td", { class: "method" }, r.method), el("td", { class: "mono" }, r.path),
        el("td", {}, r.api), el("td", {}, r.operation), el("td", {}, r.subscription || ""),
        el("td", {}, pill(String(r.status), r.status >= 500 ? "bad" : r.status >= 400 ? "warn" : "ok")), el("td", {}, String(r.durationMs))))));
}

// ---- identity ----

async function viewIdentity() {
  const d = await api("/api/identity");
  const table = (id, heads, rows) => el("table", { id }, el("tr", {}, heads.map(h => el("th", {}, h))), rows);
  show("Identity",
    el("p", {}, "Issuer ", el("code", {}, d.issuer || "(none)"), " · tenant ", el("code", {}, d.tenantId || "")),
    el("h2", {}, "Identities"),
    table("identities", ["Name", "Kind", "Client id", "Object id"], (d.identities || []).concat((d.applications || []).map(a => ({ ...a, app: true }))).map(i =>
      el("tr", {}, el("td", {}, i.name), el("td", {}, i.app ? "application" : i.systemAssigned ? "system-assigned" : "user-assigned"),
        el("td", { class: "mono" }, i.clientId), el("td", { class: "mono" }, i.objectId)))),
    el("h2", {}, "Resources and role assignments"),
    table("resources", ["Resource", "Roles", "Assignments", "Profile"], (d.resources || []).map(r =>
      el("tr", {}, el("td", { class: "mono" }, r.id), el("td", {}, r.roles.join(", ")),
        el("td", {}, r.assignments.map(x => el("div", {}, x.identity + ": " + x.roles.join(", ")))), el("td", {}, (r.tokenProfile || "native") + " " + (r.signingAlgorithm || ""))))),
    el("h2", {}, "Token cache"),
    table("token-cache", ["Identity", "Resource", "State", "Expires", "Next refresh", "Failures"], d.tokenCache.map(c =>
      el("tr", {}, el("td", { class: "mono" }, c.clientId || "system"), el("td", { class: "mono" }, c.resource),
        el("td", {}, pill(c.state, c.state === "fresh" ? "ok" : c.state === "outage" || c.state === "failing" ? "bad" : "warn"), c.lastError ? el("div", { class: "error" }, c.lastError) : ""),
        el("td", {}, when(c.expiresAt)), el("td", {}, when(c.nextRefresh)), el("td", {}, String(c.failures))))),
    el("h2", {}, "Signing keys"),
    d.keySchedule ? el("p", {}, "Rotation every " + d.keySchedule.rotationPeriod + ", next key published " + d.keySchedule.prepublish + " ahead" +
      (d.keySchedule.automatic ? "" : " (manual)") + (d.keySchedule.nextChange ? "; next change " + when(d.keySchedule.nextChange) : "")) : "",
    table("signing-keys", ["kid", "alg", "State", "Created", "Activated", "Retired", "Published until"], (d.signingKeys || []).map(k =>
      el("tr", {}, el("td", { class: "mono" }, k.kid), el("td", {}, k.alg), el("td", {}, pill(k.state, k.state === "current" ? "ok" : "")),
        el("td", {}, when(k.created)), el("td", {}, when(k.activated)), el("td", {}, when(k.retired)), el("td", {}, when(k.publishedUntil))))),
    el("h2", {}, "Recent issuance"),
    table("issuance", ["Time", "Grant", "Client id", "Resource", "kid", "jti", "Result"], (d.recentIssuance || []).map(i =>
      el("tr", {}, el("td", {}, when(i.time)), el("td", {}, i.grant), el("td", { class: "mono" }, i.clientId || "system"), el("td", { class: "mono" }, i.resource),
        el("td", { class: "mono" }, i.kid || ""), el("td", { class: "mono" }, i.jti || ""), el("td", {}, i.error ? el("span", { class: "error" }, i.error) : pill("issued", "ok"))))));
}

// ---- validation ----

async function viewValidation() {
  const v = await api("/api/validation");
  const list = (id, probs) => probs.length ? el("table", { id }, el("tr", {}, ["Where", "Problem"].map(h => el("th", {}, h))),
    probs.map(p => el("tr", {}, el("td", { class: "mono" }, p.file ? p.file + (p.line ? ":" + p.line + ":" + p.column : "") : ""), el("td", {}, p.message)))) :
    el("p", { class: "muted", id }, "None.");
  const lr = v.lastReload;
  show("Validation",
    el("p", {}, "Serving the configuration loaded " + when(v.loaded) + ". ",
      lr ? (lr.ok ? pill("last reload " + when(lr.at) + " succeeded", "ok") : pill("last reload " + when(lr.at) + " failed: still serving the previous configuration", "bad")) : ""),
    lr && lr.needRestart.length ? el("p", { class: "error" }, "Needs a restart: " + lr.needRestart.join(", ")) : "",
    el("h2", {}, "Errors"), list("errors", v.errors),
    el("h2", {}, "Warnings"), list("warnings", v.warnings));
}

// ---- routing ----

let refresh;

async function route() {
  clearInterval(refresh);
  const hash = location.hash || "#/";
  const [path, query] = hash.slice(1).split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(query || "");
  const nav = parts[0] === "api" || parts[0] === "op" || !parts[0] ? "apis" : parts[0];
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.nav === nav);
  try {
    switch (parts[0]) {
      case undefined: await viewAPIs(); break;
      case "api": await viewAPI(parts[1]); break;
      case "op": await viewOperation(parts[1], parts[2], params.has("product") ? params.get("product") : undefined); break;
      case "backends": await viewBackends(); break;
      case "traffic": await viewTraffic(); refresh = setInterval(() => viewTraffic().catch(fail), 5000); break;
      case "identity": await viewIdentity(); break;
      case "validation": await viewValidation(); break;
      default: throw new Error("nothing here");
    }
    document.getElementById("status").textContent = "updated " + new Date().toLocaleTimeString();
  } catch (err) {
    fail(err);
  }
}

window.addEventListener("hashchange", route);
route();
