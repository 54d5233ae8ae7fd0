// galera-lab dashboard: draws each server-sent snapshot (topology as SVG, charts on canvas).
// No library and nothing fetched from elsewhere: the page must work on a machine without
// internet, and it only needs boxes, lines and three small line charts.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const ROLE_FILL = { writer: "#1f8a4c", reader: "#7cc49a", standby: "#c5ccd4", down: "#d9534f" };
const EVENT_COLOR = { writer: "#1f8a4c", vip: "#8e44ad", fault: "#c0392b", heal: "#2f6f8f", node: "#d68910", error: "#c0392b" };
const $ = (id) => document.getElementById(id);

function el(tag, attrs, parent, text) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}

function box(parent, x, y, w, h, fill, stroke, strokeWidth) {
  return el("rect", { x, y, width: w, height: h, rx: 6, fill, stroke: stroke || "#56606b", "stroke-width": strokeWidth || 1 }, parent);
}

function columns(n, width, boxW) {
  const gap = (width - n * boxW) / (n + 1);
  return Array.from({ length: n }, (_, i) => gap + i * (boxW + gap));
}

function backendLine(backends) {
  // "W node1 · R node2 node3 · down node1" from a proxy's backend list
  const by = {};
  for (const b of backends) {
    const key = b.status === "UP" ? (b.role === "writer" ? "W" : "R") : "down";
    (by[key] = by[key] || []).includes(b.name) || by[key].push(b.name);
  }
  return ["W", "R", "down"].filter((k) => by[k]).map((k) => `${k} ${by[k].join(" ")}`).join(" · ");
}

function drawTopology(topo) {
  const svg = $("topology");
  svg.replaceChildren();
  if (!topo) { el("text", { x: 20, y: 40 }, svg, "no status yet"); return; }
  const W = 760, nodeW = 200, proxyW = 260;
  const nodeX = columns(topo.nodes.length, W, nodeW);
  const proxyX = columns(topo.proxies.length, W, proxyW);
  const appY = 12, vipY = 74, proxyY = 140, nodeY = 286;
  const links = el("g", {}, svg);
  // application and VIP
  const app = el("g", { class: "app", "data-testid": "app" }, svg);
  box(app, W / 2 - 110, appY, 220, 40, topo.app.ok ? "#e8f4fd" : "#fbe3e1");
  el("text", { x: W / 2, y: appY + 17, "text-anchor": "middle", class: "title" }, app, `app (${topo.app.kind})`);
  el("text", { x: W / 2, y: appY + 32, "text-anchor": "middle", class: "small" }, app,
     topo.app.ok ? `HTTP ${topo.app.http_status}` : (topo.app.error || `HTTP ${topo.app.http_status}`).slice(0, 40));
  const vip = el("g", { class: "vip", "data-testid": "vip" }, svg);
  box(vip, W / 2 - 130, vipY, 260, 34, topo.vip.sql_ok ? "#f4ecfa" : "#fbe3e1", "#8e44ad");
  el("text", { x: W / 2, y: vipY + 21, "text-anchor": "middle" }, vip,
     `VIP ${topo.vip.address}:${topo.vip.port} → ${topo.vip.holder || "nobody"}`);
  el("line", { x1: W / 2, y1: appY + 40, x2: W / 2, y2: vipY, stroke: "#56606b" }, links);
  // proxies
  const nodeCenter = {};
  topo.nodes.forEach((n, i) => { nodeCenter[n.name] = nodeX[i] + nodeW / 2; });
  topo.proxies.forEach((p, i) => {
    const x = proxyX[i];
    const g = el("g", { class: "proxy", "data-proxy": p.name, "data-vip": p.holds_vip ? "yes" : "no" }, svg);
    box(g, x, proxyY, proxyW, 92, p.ready ? "#fff" : "#fbe3e1", p.holds_vip ? "#8e44ad" : "#56606b", p.holds_vip ? 3 : 1);
    el("text", { x: x + 10, y: proxyY + 18, class: "title" }, g, `${p.name} · ${p.kind}`);
    if (p.holds_vip) {
      el("rect", { x: x + proxyW - 46, y: proxyY + 6, width: 38, height: 16, rx: 8, fill: "#8e44ad" }, g);
      el("text", { x: x + proxyW - 27, y: proxyY + 18, "text-anchor": "middle", class: "badge" }, g, "VIP");
    }
    el("text", { x: x + 10, y: proxyY + 36, class: "small" }, g, p.container === "running" ? backendLine(p.backends) || "no backend UP" : p.container);
    const hg = Object.entries(p.hostgroups || {}).map(([role, names]) => `${role} [${names.join(" ") || "-"}]`).join(" ");
    if (hg) el("text", { x: x + 10, y: proxyY + 54, class: "small" }, g, `hostgroups: ${hg}`.slice(0, 48));
    if (p.cluster && p.cluster.peers) el("text", { x: x + 10, y: proxyY + 72, class: "small" }, g, p.cluster.in_sync ? "ProxySQL cluster in sync" : "ProxySQL cluster NOT in sync");
    if (p.holds_vip) el("line", { x1: W / 2, y1: vipY + 34, x2: x + proxyW / 2, y2: proxyY, stroke: "#8e44ad", "stroke-width": 2 }, links);
    // proxy → node links, one per backend name (writer beats reader, UP beats down)
    const best = {};
    for (const b of p.backends) {
      const rank = (b.status === "UP" ? 2 : 0) + (b.role === "writer" ? 1 : 0);
      if (!(b.name in best) || rank > best[b.name].rank) best[b.name] = { rank, b };
    }
    for (const { b } of Object.values(best)) {
      if (!(b.name in nodeCenter)) continue;
      const up = b.status === "UP", writer = up && b.name === topo.writer && b.role === "writer";
      el("line", { x1: x + proxyW / 2, y1: proxyY + 92, x2: nodeCenter[b.name], y2: nodeY,
                   stroke: up ? (writer ? "#1f8a4c" : "#7cc49a") : "#d9534f", "stroke-width": writer ? 3 : 1.5,
                   "stroke-dasharray": up ? "" : "5 4", opacity: p.holds_vip ? 1 : 0.45 }, links);
    }
  });
  // Galera nodes
  topo.nodes.forEach((n, i) => {
    const x = nodeX[i];
    const g = el("g", { class: "node", "data-node": n.name, "data-role": n.role, "data-state": n.state, "data-testid": `node-${n.name}` }, svg);
    box(g, x, nodeY, nodeW, 100, "#fff", ROLE_FILL[n.role] || "#56606b", n.role === "writer" ? 3 : 1.5);
    el("rect", { x, y: nodeY, width: nodeW, height: 22, rx: 6, fill: ROLE_FILL[n.role] || "#c5ccd4" }, g);
    el("text", { x: x + 10, y: nodeY + 16, class: "title" }, g, `${n.name} · ${n.role.toUpperCase()}`);
    el("text", { x: x + 10, y: nodeY + 42 }, g, n.container === "running" ? n.state.slice(0, 30) : n.container);
    el("text", { x: x + 10, y: nodeY + 60, class: "small" }, g, `${n.cluster_status} · cluster size ${n.size}`);
    el("text", { x: x + 10, y: nodeY + 78, class: "small" }, g, `seqno ${n.seqno}`);
  });
}

function drawChart(canvas, t, values, color, events, windowS) {
  const ctx = canvas.getContext("2d");
  const W = canvas.width, H = canvas.height, L = 40, R = 8, T = 8, B = 18;
  ctx.clearRect(0, 0, W, H);
  // what is drawn, as [bucket start, value] pairs, for tools that read the page (the browser test)
  canvas.dataset.series = JSON.stringify(t.map((s, i) => [s, values[i]]));
  if (!t.length) return;
  const t0 = t[0], t1 = t[t.length - 1] + 1;
  const x = (s) => L + ((s - t0) / (t1 - t0)) * (W - L - R);
  const y = (v) => T + (1 - v) * (H - T - B);
  ctx.font = "10px system-ui, sans-serif";
  ctx.strokeStyle = "#e3e7ec"; ctx.fillStyle = "#7b8794";
  for (const v of [0, 0.5, 1]) {
    ctx.beginPath(); ctx.moveTo(L, y(v)); ctx.lineTo(W - R, y(v)); ctx.stroke();
    ctx.fillText(`${Math.round(v * 100)} %`, 4, y(v) + 3);
  }
  for (let s = 0; s <= windowS; s += 30) ctx.fillText(`-${windowS - s}s`, x(t1 - windowS + s) - 10, H - 4);
  for (const e of events) {
    if (e.at < t0 || e.at > t1 || !(e.kind in EVENT_COLOR) || e.kind === "node") continue;
    ctx.strokeStyle = EVENT_COLOR[e.kind]; ctx.setLineDash([3, 3]);
    ctx.beginPath(); ctx.moveTo(x(e.at), T); ctx.lineTo(x(e.at), H - B); ctx.stroke();
    ctx.setLineDash([]);
  }
  ctx.strokeStyle = color; ctx.lineWidth = 2; ctx.beginPath();
  let pen = false;
  values.forEach((v, i) => {
    if (v === null) { pen = false; return; }
    const px = x(t[i] + 0.5), py = y(v);
    if (pen) ctx.lineTo(px, py); else ctx.moveTo(px, py);
    pen = true;
  });
  ctx.stroke(); ctx.lineWidth = 1;
}

function clock(at) { return new Date(at * 1000).toLocaleTimeString(); }

function renderFaults(faults) {
  const ul = $("faults");
  ul.replaceChildren();
  const shown = faults.filter((f) => f.active || f.error).slice(-8).reverse();
  if (!shown.length) { const li = document.createElement("li"); li.className = "muted"; li.textContent = "none active"; ul.appendChild(li); }
  for (const f of shown) {
    const li = document.createElement("li");
    li.dataset.fault = f.key;
    let text = `${f.name} ${f.target}`;
    if (f.origin && f.origin !== "dashboard") text += ` (from the ${f.origin})`;
    if (f.healing) text += " — healing…";
    else if (f.auto_heal_at) text += ` — auto-heal in ${Math.max(0, Math.round(f.auto_heal_at - Date.now() / 1000))} s`;
    if (f.error) text += ` — ${f.error}`;
    li.textContent = text + " ";
    if (f.active && !f.healing) {
      const b = document.createElement("button");
      b.className = "heal"; b.textContent = "heal"; b.dataset.heal = String(f.id);
      b.onclick = () => post("/api/heal", { id: f.id }, `heal ${f.name} ${f.target}`);
      li.appendChild(b);
    }
    ul.appendChild(li);
  }
}

function renderEvents(events) {
  const ul = $("events");
  ul.replaceChildren();
  for (const e of events.slice(-15).reverse()) {
    const li = document.createElement("li");
    li.className = e.kind;
    const time = document.createElement("time"); time.textContent = clock(e.at);
    li.append(time, e.text);
    ul.appendChild(li);
  }
}

function render(snap) {
  const topo = snap.topology;
  $("project").textContent = topo ? topo.project : "";
  $("stack").textContent = `${snap.tier || ""} · ${snap.app_kind || ""}`;
  $("health").textContent = topo ? (topo.healthy ? "healthy" : "degraded") : "unknown";
  $("health").className = "pill " + (topo && topo.healthy ? "ok" : "bad");
  $("writer").textContent = topo ? (topo.writer || "none") : "…";
  $("vip-holder").textContent = topo ? (topo.vip.holder || "nobody") : "…";
  $("served").textContent = snap.series.writes_served_by || "—";
  $("error").textContent = snap.error || "";
  drawTopology(topo);
  const s = snap.series;
  drawChart($("chart-write"), s.t, s.write_availability, "#1f8a4c", snap.events, snap.window_s);
  drawChart($("chart-read"), s.t, s.read_availability, "#2f6f8f", snap.events, snap.window_s);
  drawChart($("chart-stale"), s.t, s.stale_rate, "#d68910", snap.events, snap.window_s);
  renderFaults(snap.faults);
  renderEvents(snap.events);
  renderWorkshop(snap.workshop);
}

function renderWorkshop(w) {
  // the student's exercise and step (galera-lab workshop); hidden until one is started
  const on = Boolean(w && (w.exercise || w.error));
  $("workshop").hidden = !on;
  if (!on) return;
  if (w.error) { $("workshop-title").textContent = w.error; return; }
  const st = w.step;
  $("workshop-title").textContent = `${w.exercise.title} (${w.completed.length}/${w.total} done)`;
  $("workshop-step").textContent = `step ${st.index}/${st.count}: ${st.title}`;
  $("workshop-explain").textContent = st.explain;
  $("workshop-command").textContent = st.question ? "or in the terminal: galera-lab workshop answer …"
    : (st.command || "") + (st.dashboard ? `${st.command ? " · or the button " : "the button "}"${st.dashboard}"` : "");
  // a question: the answer box (every text here is set with textContent: answers are user input)
  const form = $("workshop-answer");
  const asked = st.question ? `${w.exercise.id}/${st.index}` : "";
  if (form.dataset.asked !== asked) { $("workshop-answer-text").value = ""; form.dataset.asked = asked; }
  form.hidden = !st.question;
  $("workshop-question").textContent = st.question || "";
}

function showVerdict(v) {
  $("workshop-result").textContent = `${v.done ? "done" : "not done"}: ${v.reason}`;
  $("workshop-result").className = v.done ? "ok" : "error";
  $("action").textContent = "";  // the verdict above says it; "check: done" there would read as the step's
  renderWorkshop(v.workshop);
}

async function post(url, body, what) {
  $("action").textContent = `${what}…`;
  try {
    const r = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json", "X-Galera-Lab": "1" },
                                 body: JSON.stringify(body || {}) });
    const data = await r.json();
    $("action").textContent = r.ok ? `${what}: done` : `${what}: ${data.error || r.status}`;
    return data;
  } catch (err) {
    $("action").textContent = `${what}: ${err}`;
  }
}

async function loadButtons() {
  const catalog = await (await fetch("/api/catalog")).json();
  const box = $("buttons");
  let group = null;
  for (const b of catalog) {
    if (b.group !== group) {
      group = b.group;
      const h = document.createElement("div"); h.className = "group"; h.textContent = group; box.appendChild(h);
    }
    const btn = document.createElement("button");
    btn.textContent = b.label; btn.title = b.help; btn.dataset.fault = b.key;
    btn.onclick = async () => {
      btn.disabled = true;
      const auto = Number($("auto-heal").value) || null;
      await post(`/api/faults/${b.key}`, { auto_heal_s: auto }, b.label);
      btn.disabled = false;
    };
    box.appendChild(btn);
  }
}

function connect() {
  const source = new EventSource("/events");
  source.addEventListener("state", (ev) => {
    $("link").textContent = "live"; $("link").className = "pill ok";
    render(JSON.parse(ev.data));
  });
  source.onerror = () => { $("link").textContent = "reconnecting…"; $("link").className = "pill bad"; };
}

$("heal-all").onclick = () => post("/api/heal", {}, "heal all");
$("workshop-check").onclick = async () => {
  $("workshop-check").disabled = true;
  const v = await post("/api/workshop/check", {}, "check");
  if (v && "done" in v) showVerdict(v);
  $("workshop-check").disabled = false;
};
$("workshop-answer").onsubmit = async (ev) => {
  ev.preventDefault();
  $("workshop-answer-submit").disabled = true;
  const v = await post("/api/workshop/answer", { answer: $("workshop-answer-text").value }, "answer");
  if (v && "done" in v) showVerdict(v);
  else if (v && v.error) { $("workshop-result").textContent = `refused: ${v.error}`; $("workshop-result").className = "error"; }
  $("workshop-answer-submit").disabled = false;
};
loadButtons();
connect();
