// The Hallmark auditor console: plain JavaScript, no framework, no build.
// Pages are routes of the URL fragment (#/entry/rekor-v1/12). All
// verification is in verify.js; this file fetches and shows.

import {
  b64decode, b64encode, cryptoAvailable, hex, leafHash, loadTrustedRoot,
  verifyCheckpoint, verifyConsistency, verifyInclusion,
} from "./verify.js";

const TRUST_KEY = "hallmark.console.trustedRoot";
const main = () => document.getElementById("main");

// h builds an element; children are nodes or strings (never HTML).
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children.flat()) if (c) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

function show(...nodes) { main().replaceChildren(...nodes); }

async function api(path) {
  const r = await fetch(path, { headers: { Accept: "application/json" } });
  const text = await r.text();
  let body;
  try { body = JSON.parse(text); } catch { body = null; }
  if (!r.ok) throw new Error(`${path}: ${r.status} ${body && body.message ? body.message : text.slice(0, 200)}`);
  if (body === null) throw new Error(`${path}: not JSON`);
  return body;
}

async function fetchText(path) {
  const r = await fetch(path);
  const t = await r.text();
  if (!r.ok) throw new Error(`${path}: ${r.status} ${t.slice(0, 200)}`);
  return t;
}

// where is a path of a log's own API (its checkpoint, proofs).
function where(log, path) { return (log.prefix || "") + path; }

function fmtTime(t) { return t ? new Date(t).toISOString().replace(".000Z", "Z") : "—"; }

function verdict(id) {
  const el = h("div", { id, class: "verdict pending", role: "status" }, "Verifying…");
  return {
    el,
    ok(msg, detail) { el.className = "verdict ok"; el.replaceChildren("✔ " + msg, detail ? h("span", { class: "reason" }, detail) : ""); el.dataset.state = "verified"; },
    fail(msg, reason) { el.className = "verdict fail"; el.replaceChildren("✘ " + msg, h("span", { class: "reason" }, reason)); el.dataset.state = "failed"; },
  };
}

// ---- trust root ----

let trust = null; // { keys, source, label }

async function getTrust() {
  if (trust) return trust;
  const own = localStorage.getItem(TRUST_KEY);
  if (own) {
    const t = await loadTrustedRoot(own);
    trust = { ...t, source: "auditor", label: "your own trusted_root.json (kept in this browser)" };
  } else {
    const text = await fetchText("api/trusted_root.json");
    const t = await loadTrustedRoot(text);
    trust = { ...t, source: "server", label: "the trusted_root.json this server serves, taken on trust from the server" };
  }
  const b = document.getElementById("trust-banner");
  b.hidden = false;
  b.className = trust.source === "server" ? "banner" : "banner ok";
  b.replaceChildren("Log keys: ", h("strong", {}, trust.label), ". ",
    trust.source === "server" ? h("a", { href: "#/trust" }, "Supply your own trusted_root.json") : h("a", { href: "#/trust" }, "Change"));
  return trust;
}

let logsCache = null;
async function getLogs() {
  if (!logsCache) logsCache = await api("api/logs");
  return logsCache;
}
async function getLog(name) {
  const l = (await getLogs()).find((x) => x.name === name);
  if (!l) throw new Error(`no log named ${JSON.stringify(name)}`);
  return l;
}

// ---- pages ----

async function pageLogs() {
  const logs = await getLogs();
  const rows = logs.map((l) => {
    const cell = h("td", { class: "cp-status" }, "verifying…");
    checkLatest(l, cell);
    return h("tr", {},
      h("td", {}, h("a", { href: `#/log/${encodeURIComponent(l.name)}` }, l.name)),
      h("td", {}, l.kind), h("td", { class: "mono" }, l.url), h("td", {}, String(l.size)),
      h("td", {}, l.size > 0 ? h("a", { href: `#/entry/${encodeURIComponent(l.name)}/${l.size - 1}` }, "latest entry") : "—"),
      cell);
  });
  show(h("h1", {}, "Logs"),
    searchForm("", "auto"),
    h("table", { id: "logs" }, h("tr", {}, ["Log", "Kind", "URL", "Entries", "", "Latest checkpoint"].map((t) => h("th", {}, t))), rows));
}

async function checkLatest(l, cell) {
  try {
    const t = await getTrust();
    const cp = await verifyCheckpoint(await fetchText(where(l, "/checkpoint")), t, l.origin);
    cell.className = "ok-text";
    cell.textContent = `✔ size ${cp.size}, signed by ${cp.verifiedBy.name}`;
  } catch (e) {
    cell.className = "fail-text";
    cell.textContent = `✘ ${e.message}`;
  }
}

const TYPES = [["auto", "Guess"], ["hash", "Artifact hash"], ["email", "Email"], ["subject", "URI / workflow"], ["key", "Public key (PEM)"], ["uuid", "Entry UUID"], ["index", "Log index"]];

function searchForm(q, type) {
  const input = h("input", { type: "search", name: "q", id: "search-q", value: q, placeholder: "sha256:…, alice@corp.example, https://github.com/org/repo/.github/workflows/…, entry UUID, index" });
  const sel = h("select", { name: "type", id: "search-type" }, TYPES.map(([v, t]) => h("option", { value: v, selected: v === type }, t)));
  return h("form", {
    class: "search", id: "search-form",
    onsubmit: (ev) => { ev.preventDefault(); location.hash = `#/search?q=${encodeURIComponent(input.value.trim())}&type=${sel.value}`; },
  }, input, sel, h("button", { type: "submit" }, "Search"));
}

async function pageSearch(params) {
  const q = params.get("q") || "", type = params.get("type") || "auto";
  const out = h("div", { id: "results" });
  show(h("h1", {}, "Search"), searchForm(q, type), out);
  if (!q) { out.append(h("p", { class: "muted" }, "Search every log by artifact hash (sha256:…), identity (email, URI, workflow), public key, entry UUID or log index.")); return; }
  out.append(h("p", {}, "Searching…"));
  const r = await api(`api/search?q=${encodeURIComponent(q)}&type=${encodeURIComponent(type)}&details=1`);
  out.replaceChildren(
    h("p", { id: "result-count" }, `${r.results.length} ${r.results.length === 1 ? "entry" : "entries"} found as ${r.type}`,
      r.complete ? "" : " (more match: the list is cut)", r.not_searched.length ? `; no search index in ${r.not_searched.join(", ")}` : ""),
    resultsTable(r.results));
  if ((r.type === "email" || r.type === "subject") && r.results.length) {
    out.prepend(h("p", {}, h("a", { href: `#/identity/${encodeURIComponent(q)}` }, `Everything signed as ${q}, over time →`)));
  }
}

function resultsTable(results) {
  return h("table", { class: "results" },
    h("tr", {}, ["Log", "Index", "Integrated", "Identity", "Issuer", "Entry ID"].map((t) => h("th", {}, t))),
    results.map((x) => h("tr", {},
      h("td", {}, x.log), h("td", {}, h("a", { href: `#/entry/${encodeURIComponent(x.log)}/${x.index}`, class: "entry-link" }, String(x.index))),
      h("td", {}, fmtTime(x.integrated_time)),
      h("td", {}, (x.subjects || []).map((s) => h("div", {}, h("a", { href: `#/identity/${encodeURIComponent(s)}` }, s)))),
      h("td", {}, x.issuer || ""), h("td", { class: "mono" }, x.entry_id || ""))));
}

async function pageEntry(logName, index) {
  const log = await getLog(logName);
  const v = verdict("verdict");
  const steps = h("ol", { class: "steps", id: "steps" });
  const details = h("div", {});
  show(h("h1", {}, `${log.name} entry ${index}`), v.el, steps, details);
  const step = (ok, text) => steps.append(h("li", { class: ok ? "ok-text" : "fail-text" }, (ok ? "✔ " : "✘ ") + text));
  let e;
  try {
    e = await api(`api/entry?log=${encodeURIComponent(log.name)}&index=${index}`);
  } catch (err) {
    v.fail("Entry not found", err.message);
    return;
  }
  renderEntry(details, log, e);
  if (!cryptoAvailable()) { v.fail("Not verified", "WebCrypto (crypto.subtle) is unavailable: this page is not a secure context. Serve the console over HTTPS (or open it on localhost)."); return; }
  try {
    const t = await getTrust();
    step(true, `trust root: ${t.keys.length} log keys from ${t.label}`);
    const leaf = await leafHash(b64decode(e.leaf_input));
    step(true, `leaf hash computed here from the entry's ${b64decode(e.leaf_input).length} bytes: ${hex(leaf)}`);
    let cp;
    try {
      cp = await verifyCheckpoint(await fetchText(where(log, "/checkpoint")), t, log.origin);
    } catch (err) { throw new Error(`checkpoint: ${err.message}`); }
    step(true, `checkpoint of size ${cp.size} signed by ${cp.verifiedBy.name} (${cp.verifiedBy.key.baseUrl || "trusted key"}), signature verified here`);
    if (BigInt(index) >= cp.size) throw new Error(`the checkpoint (size ${cp.size}) does not cover index ${index} yet`);
    const p = await api(where(log, `/proof/inclusion?index=${index}&tree_size=${cp.size}`));
    const hashes = (p.hashes || []).map(b64decode);
    if (p.leaf_hash && b64encode(leaf) !== p.leaf_hash) step(false, `the server says the leaf hash is ${hex(b64decode(p.leaf_hash))}; the entry it served hashes to ${hex(leaf)}`);
    try {
      await verifyInclusion(index, cp.size, leaf, hashes, cp.root);
    } catch (err) { throw new Error(`inclusion proof: ${err.message}`); }
    step(true, `inclusion proof (${hashes.length} hashes) leads to the checkpoint's root ${b64encode(cp.root)}`);
    v.ok(`Verified: entry ${index} is in ${log.name} at tree size ${cp.size}`, `Checkpoint signed by ${cp.verifiedBy.name}; proof checked in this browser.`);
  } catch (err) {
    step(false, err.message);
    v.fail("Not verified", err.message);
  }
}

function kv(rows) {
  return h("table", { class: "kv" }, rows.filter(Boolean).map(([k, val]) => h("tr", {}, h("td", { class: "k" }, k), h("td", {}, val))));
}

function renderEntry(el, log, e) {
  el.append(h("h2", {}, "Entry"), kv([
    ["Log", `${log.name} (${log.kind})`], ["Index", String(e.index)],
    e.entry_id && ["Entry ID (UUID)", h("span", { class: "mono", id: "entry-id" }, e.entry_id)],
    ["Integrated", fmtTime(e.integrated_time)],
    e.ct && ["CT timestamp", fmtTime(e.ct.timestamp)], e.ct && ["CT entry type", e.ct.precert ? "precertificate" : "certificate"],
    e.decode_error && ["Decoding", h("span", { class: "fail-text" }, e.decode_error)],
  ]));
  e.certificates.forEach((c, i) => {
    el.append(h("h2", {}, i === 0 ? "Signing certificate" : `Certificate ${i + 1}`), kv([
      ["Identity", h("span", { id: i === 0 ? "identity" : undefined }, c.sans.map((s) => h("div", {}, h("a", { href: `#/identity/${encodeURIComponent(s)}` }, s))))],
      ["OIDC issuer", c.oidc_issuer || "—"], ["Subject", c.subject || "—"], ["Issued by", c.issuer],
      ["Valid", `${fmtTime(c.not_before)} → ${fmtTime(c.not_after)}`], ["Serial", h("span", { class: "mono" }, c.serial)],
      ["SHA-256", h("span", { class: "mono" }, c.sha256)],
      ...c.extensions.map((x) => [`${x.name} (${x.oid})`, x.value]),
      ...c.scts.map((s, j) => [`SCT ${j + 1}`, `${fmtTime(s.timestamp)} by ${s.log || "log " + s.log_id.slice(0, 16) + "…"}`]),
      c.error && ["Decoding", h("span", { class: "fail-text" }, c.error)],
    ]));
  });
  if (e.body) {
    let body = e.body;
    try { body = JSON.stringify(JSON.parse(e.body), null, 2); } catch { /* not JSON */ }
    el.append(h("h2", {}, "Body"), h("pre", { id: "body" }, body));
  } else {
    el.append(h("h2", {}, "Leaf input (base64)"), h("pre", {}, e.leaf_input));
  }
}

async function pageIdentity(q) {
  const out = h("div", {});
  show(h("h1", {}, "Identity ", h("span", { class: "mono", id: "identity-name" }, q)), out);
  const type = q.includes("://") ? "subject" : "email";
  const r = await api(`api/search?q=${encodeURIComponent(q)}&type=${type}&details=1`);
  const dated = r.results.filter((x) => x.integrated_time).sort((a, b) => a.integrated_time < b.integrated_time ? 1 : -1);
  const byDay = new Map();
  for (const x of dated) { const d = x.integrated_time.slice(0, 10); byDay.set(d, (byDay.get(d) || 0) + 1); }
  out.append(h("p", { id: "result-count" }, `${r.results.length} ${r.results.length === 1 ? "entry" : "entries"} signed as ${q}`, r.complete ? "" : " (more match: the list is cut)"),
    barChart([...byDay.entries()].reverse().map(([d, n]) => ({ label: d, parts: [{ key: "entries", n }] })), "entries per day"),
    resultsTable(dated.concat(r.results.filter((x) => !x.integrated_time))));
}

async function pageLog(name) {
  const log = await getLog(name);
  const v = verdict("history-verdict");
  const tbl = h("table", { id: "checkpoints" }, h("tr", {}, ["Size", "Time", "Signature", "Consistent with the next newer"].map((t) => h("th", {}, t))));
  const charts = h("div", {});
  const witness = h("div", {});
  show(h("h1", {}, `${log.name} — checkpoints`), h("p", {}, `${log.kind} log at `, h("span", { class: "mono" }, log.url)), v.el, witness, charts, h("h2", {}, "Checkpoint history"), tbl);
  const [hist, stats] = await Promise.all([api(`api/checkpoints?log=${encodeURIComponent(name)}`), api(`api/stats?log=${encodeURIComponent(name)}`)]);
  renderCharts(charts, stats);
  if (!cryptoAvailable()) { v.fail("Not verified", "WebCrypto (crypto.subtle) is unavailable: serve the console over HTTPS."); return; }
  const t = await getTrust();
  let failures = 0;
  let latest;
  try {
    latest = await verifyCheckpoint(await fetchText(where(log, "/checkpoint")), t, log.origin);
  } catch (e) {
    v.fail("Latest checkpoint not verified", e.message);
    return;
  }
  if (hist.cosigned) {
    try {
      const c = await verifyCheckpoint(hist.cosigned, t, log.origin);
      witness.append(h("h2", {}, "Witness cosignatures"), h("ul", { id: "cosignatures" }, c.cosignatures.length
        ? c.cosignatures.map((s) => h("li", {}, `${s.name} (key ${s.keyID}) — witness keys are not in trusted_root.json: listed, not verified`))
        : h("li", {}, "none yet")));
    } catch (e) { witness.append(h("p", { class: "fail-text" }, `cosigned checkpoint: ${e.message}`)); }
  }
  // Verify each stored checkpoint's signature, and consistency from each
  // to the next newer (the newest to the latest served): a chain of proofs
  // shows one linear history.
  let newer = latest;
  const shown = hist.checkpoints.slice(0, 50);
  for (const s of shown) {
    const sig = h("td", {}, "…"), cons = h("td", {}, "…");
    tbl.append(h("tr", {}, h("td", {}, String(s.size)), h("td", {}, fmtTime(s.time)), sig, cons));
    let cp;
    try {
      cp = await verifyCheckpoint(s.note, t, log.origin);
      sig.className = "ok-text"; sig.textContent = `✔ ${cp.verifiedBy.name}`;
    } catch (e) { failures++; sig.className = "fail-text"; sig.textContent = `✘ ${e.message}`; continue; }
    try {
      if (cp.size > newer.size) throw new Error(`size ${cp.size} is beyond the newer checkpoint's ${newer.size}`);
      const p = cp.size === newer.size || cp.size === 0n ? { hashes: [] } : await api(where(log, `/proof/consistency?first_size=${cp.size}&second_size=${newer.size}`));
      await verifyConsistency(cp.size, newer.size, cp.root, newer.root, (p.hashes || []).map(b64decode));
      cons.className = "ok-text"; cons.textContent = `✔ to size ${newer.size}`;
    } catch (e) { failures++; cons.className = "fail-text"; cons.textContent = `✘ ${e.message}`; }
    newer = cp;
  }
  if (failures) v.fail("History not verified", `${failures} check(s) failed: see the table`);
  else v.ok(`Verified: ${shown.length} checkpoints form one history up to size ${latest.size}`, `Latest signed by ${latest.verifiedBy.name}; signatures and consistency proofs checked in this browser.`);
}

const COLORS = ["#0969da", "#bf3989", "#1a7f37", "#9a6700", "#8250df", "#cf222e", "#57606a"];

// barChart draws stacked bars as inline SVG: bars [{label, parts:[{key,n}]}].
function barChart(bars, title) {
  const W = 760, H = 180, pad = 30;
  const max = Math.max(1, ...bars.map((b) => b.parts.reduce((a, p) => a + p.n, 0)));
  const keys = [...new Set(bars.flatMap((b) => b.parts.map((p) => p.key)))];
  const bw = bars.length ? (W - pad) / bars.length : 0;
  const g = svg("svg", { class: "chart", width: W, height: H + 20, viewBox: `0 0 ${W} ${H + 20}`, role: "img", "aria-label": title });
  g.append(svg("text", { x: 4, y: 12 }, `${title} (max ${max})`));
  bars.forEach((b, i) => {
    let y = H;
    for (const p of b.parts) {
      const bh = (p.n / max) * (H - pad);
      y -= bh;
      g.append(svg("rect", { x: pad + i * bw + 1, y, width: Math.max(1, bw - 2), height: bh, fill: COLORS[keys.indexOf(p.key) % COLORS.length] },
        svg("title", {}, `${b.label}: ${p.key} ${p.n}`)));
    }
    if (bars.length <= 24 || i % Math.ceil(bars.length / 12) === 0) g.append(svg("text", { x: pad + i * bw, y: H + 14 }, b.label.slice(5)));
  });
  // Colour swatches as SVG: the CSP forbids inline styles.
  const legend = h("div", { class: "legend" }, keys.length > 1 ? keys.map((k, i) => h("span", {},
    svg("svg", { width: 12, height: 12 }, svg("rect", { width: 12, height: 12, fill: COLORS[i % COLORS.length] })), " ", k)) : []);
  return h("div", {}, g, legend);
}

function renderCharts(el, stats) {
  const hour = (t) => t.slice(0, 13).replace("T", " ") + "h";
  el.append(h("h2", {}, "Entries per hour"),
    stats.hours.length ? barChart(stats.hours.map((x) => ({ label: hour(x.hour), parts: [{ key: "entries", n: x.entries }] })), "entries per hour") : h("p", { class: "muted" }, "no entries"));
  const byHour = new Map();
  for (const x of stats.issuers) {
    const k = hour(x.hour);
    if (!byHour.has(k)) byHour.set(k, []);
    byHour.get(k).push({ key: x.issuer, n: x.entries });
  }
  el.append(h("h2", {}, `Entries per hour and identity issuer (latest entries from index ${stats.from})`),
    byHour.size ? barChart([...byHour.entries()].map(([label, parts]) => ({ label, parts })), "entries per issuer") : h("p", { class: "muted" }, "no entries"));
}

function pageTrust() {
  const ta = h("textarea", { id: "trust-json", placeholder: "Paste trusted_root.json here" }, localStorage.getItem(TRUST_KEY) || "");
  const msg = h("p", { id: "trust-msg" });
  const file = h("input", { type: "file", accept: ".json,application/json", onchange: async () => { ta.value = await file.files[0].text(); } });
  const use = async () => {
    try {
      const t = await loadTrustedRoot(ta.value);
      const bad = t.keys.filter((k) => k.error);
      localStorage.setItem(TRUST_KEY, ta.value);
      trust = null;
      await getTrust();
      msg.className = "ok-text";
      msg.textContent = `Using your trusted_root.json: ${t.keys.length - bad.length} usable log keys` + (bad.length ? `; ignored: ${bad.map((k) => k.error).join("; ")}` : "");
    } catch (e) { msg.className = "fail-text"; msg.textContent = e.message; }
  };
  const reset = async () => { localStorage.removeItem(TRUST_KEY); trust = null; ta.value = ""; await getTrust(); msg.className = ""; msg.textContent = "Using the server's trusted_root.json again (taken on trust)."; };
  show(h("h1", {}, "Trust root"),
    h("p", {}, "The console verifies checkpoint signatures with the log keys (tlogs and ctlogs) of a Sigstore trusted_root.json. ",
      "By default it uses the one this server serves — which proves only that the server is consistent with itself. ",
      "Paste or upload the trusted_root.json you got out of band (e.g. from your TUF repository) to verify against keys you trust; it is kept in this browser's localStorage."),
    h("div", { class: "card" }, file, ta, h("p", {}, h("button", { id: "trust-use", onclick: use }, "Use this trusted_root.json"), " ",
      h("button", { id: "trust-reset", onclick: reset }, "Use the server's"))), msg);
  getTrust().then((t) => {
    main().append(h("h2", {}, "Current log keys"), h("table", {}, h("tr", {}, ["Kind", "Base URL", "Key", "SHA-256 of the key"].map((x) => h("th", {}, x))),
      t.keys.map((k) => h("tr", {}, h("td", {}, k.kind), h("td", { class: "mono" }, k.baseUrl), h("td", {}, k.error ? h("span", { class: "fail-text" }, k.error) : k.details), h("td", { class: "mono" }, hex(k.spkiHash))))));
  }, (e) => main().append(h("p", { class: "fail-text" }, e.message)));
}

// pageAlerts shows the alerts of the `hallmark monitor` beside this log
// (console.monitor_url), fetched by the server: they are the monitor's
// findings, taken on its word, not verified here.
async function pageAlerts() {
  const status = h("div", { id: "alerts-status", class: "verdict pending", role: "status" }, "Asking the monitor…");
  const out = h("div", {});
  show(h("h1", {}, "Monitor alerts"), status, out);
  // state: none (no monitor configured), unreachable, alerts or clear.
  const set = (state, cls, msg, reason) => {
    status.className = `verdict ${cls}`; status.dataset.state = state;
    status.replaceChildren(msg, h("span", { class: "reason" }, reason));
  };
  const a = await api("api/alerts");
  if (!a.configured) {
    set("none", "pending", "No monitor configured",
      "Set console.monitor_url in hallmark-log's configuration to the metrics address of a `hallmark monitor` following these logs (docs/auditing.md).");
    return;
  }
  if (a.error) {
    set("unreachable", "fail", "✘ Monitor unreachable", `${a.monitor_url}: ${a.error}. Alerts it may have raised cannot be shown.`);
    return;
  }
  const follows = `The monitor at ${a.monitor_url} follows: ${a.logs.join(", ") || "no logs"}. Its findings are shown as it reports them, not verified here.`;
  if (!a.alerts.length) { set("clear", "ok", "✔ No alerts", follows); return; }
  set("alerts", "fail", `✘ ${a.alerts.length} recent alert(s)`, follows);
  out.append(h("table", { id: "alerts" }, h("tr", {}, ["Time", "Log", "Type", "Message", "Evidence"].map((x) => h("th", {}, x))),
    a.alerts.map((x) => h("tr", { class: "alert" }, h("td", {}, fmtTime(x.time)), h("td", {}, x.log), h("td", { class: "mono" }, x.type), h("td", {}, x.message),
      h("td", {}, x.new_checkpoint
        ? h("details", {}, h("summary", {}, "checkpoints"), h("p", {}, "last verified:"), h("pre", {}, x.verified_checkpoint || "(none)"), h("p", {}, "served:"), h("pre", {}, x.new_checkpoint))
        : x.index !== undefined ? `entry ${x.index}: ${(x.subjects || []).join(", ")} (${x.issuer || "no issuer"})` : "")))));
}

// ---- routing ----

async function route() {
  const hash = location.hash || "#/";
  const [path, query] = hash.slice(1).split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(query || "");
  try {
    switch (parts[0]) {
      case undefined: await pageLogs(); break;
      case "search": await pageSearch(params); break;
      case "entry": await pageEntry(parts[1], parts[2]); break;
      case "identity": await pageIdentity(parts.slice(1).join("/")); break;
      case "log": await pageLog(parts[1]); break;
      case "trust": pageTrust(); break;
      case "alerts": await pageAlerts(); break;
      default: show(h("h1", {}, "Not found"), h("p", {}, h("a", { href: "#/" }, "Logs")));
    }
  } catch (e) {
    main().append(h("div", { class: "verdict fail", id: "error" }, "Error", h("span", { class: "reason" }, e.message)));
  }
}

function init() {
  if (!cryptoAvailable()) {
    const b = document.getElementById("crypto-banner");
    b.hidden = false;
    b.textContent = "WebCrypto (crypto.subtle) is unavailable: this page is not a secure context. Nothing can be verified here. " +
      "Serve the console over HTTPS (or open it as http://localhost or http://127.0.0.1).";
  } else {
    getTrust().catch((e) => {
      const b = document.getElementById("trust-banner");
      b.hidden = false; b.className = "banner fail"; b.textContent = `Trust root: ${e.message}`;
    });
  }
  document.getElementById("quick-search").addEventListener("submit", (ev) => {
    ev.preventDefault();
    location.hash = `#/search?q=${encodeURIComponent(document.getElementById("quick-q").value.trim())}`;
  });
  window.addEventListener("hashchange", route);
  route();
}

init();
