// m5c dashboard: polls the JSON of the app that served this file and draws it. URLs are
// relative, so the page works under a path prefix (a reverse proxy, a mounted app).
// Every value from the journal is set with textContent (never parsed as HTML): reply texts and
// quarantined raw text come from outside and are shown exactly as they are.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const PALETTE = ["#3566d6", "#2e9d5b", "#8e44ad", "#e08a1e", "#16a2b8", "#b8336a", "#6d7a8c"];
const state = { campaign: null, interval: 1.0, updates: 0, failures: 0, timer: null };

function $(id) { return document.getElementById(id); }

function fmt(value) {
  if (value === null || value === undefined) return "–";
  if (typeof value === "number") return value.toLocaleString("en-US");
  return String(value);
}

function pad(n) { return String(n).padStart(2, "0"); }

function clock(unix) {
  if (unix === null || unix === undefined) return "–";
  const d = new Date(unix * 1000);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function seconds(value) {
  if (value === null || value === undefined) return "–";
  if (value < 1) return `${Math.round(value * 1000)} ms`;
  if (value < 120) return `${value.toFixed(1)} s`;
  return `${(value / 60).toFixed(1)} min`;
}

function pick(data, path) {
  return path.split(".").reduce((v, k) => (v === null || v === undefined ? v : v[k]), data);
}

function text(id, value) { const el = $(id); if (el) el.textContent = value; }

function el(tag, content, cls) {
  const node = document.createElement(tag);
  if (content !== undefined) node.textContent = content;
  if (cls) node.className = cls;
  return node;
}

async function getJSON(url) {
  const control = new AbortController();
  const timer = setTimeout(() => control.abort(), 10000);
  try {
    const answer = await fetch(url, { signal: control.signal, cache: "no-store" });
    const body = await answer.json();
    if (!answer.ok) throw new Error(body.error || `HTTP ${answer.status}`);
    return body;
  } finally {
    clearTimeout(timer);
  }
}

function fillCampaigns(list) {
  const select = $("campaign");
  const wanted = list.map((c) => String(c.id)).join(",");
  if (select.dataset.ids !== wanted) {
    select.replaceChildren(...list.map((c) => {
      const option = el("option", `#${c.id} ${c.name} (${c.profile})`);
      option.value = String(c.id);
      return option;
    }));
    select.dataset.ids = wanted;
  }
  if (state.campaign === null || !list.some((c) => c.id === state.campaign)) {
    state.campaign = list.length ? list[0].id : null;
  }
  if (state.campaign !== null) select.value = String(state.campaign);
}

function reasons(id, rows, extra) {
  const items = rows.map(([name, count]) => {
    const li = el("li", name || "(no reason)");
    li.appendChild(el("span", fmt(count)));
    return li;
  });
  if (extra) { const li = el("li", "others"); li.appendChild(el("span", fmt(extra))); items.push(li); }
  if (!items.length) items.push(el("li", "none", "sub"));
  $(id).replaceChildren(...items);
}

function width(id, part, whole) {
  $(id).style.width = whole > 0 ? `${(100 * part) / whole}%` : "0";
}

function svg(tag, attrs, content) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (content !== undefined) node.textContent = content;
  return node;
}

// The chart's top and its number of grid steps: round values, whole steps for counts.
function scale(value) {
  if (value <= 0) return { top: 1, steps: 1 };
  const power = 10 ** Math.floor(Math.log10(value));
  for (const m of [1, 2, 4, 5, 8, 10]) {
    const top = m * power;
    if (value <= top) return { top, steps: top <= 5 && Number.isInteger(top) ? top : m === 5 || m === 10 ? 5 : 4 };
  }
  return { top: 10 * power, steps: 5 };
}

function elapsed(total) {
  const s = Math.round(total);
  return s >= 60 ? `${Math.floor(s / 60)}:${pad(s % 60)}` : `${s}s`;
}

// A chart frame: y grid with labels, x labels in time since the first send; returns scales.
function frame(chart, timeline, peak, label) {
  const W = 640, H = 220, L = 48, R = 10, T = 24, B = 28;
  const { top, steps } = scale(peak);
  const n = timeline.points;
  const x = (i) => L + ((W - L - R) * (i + 0.5)) / n;
  const y = (v) => T + (H - T - B) * (1 - v / top);
  const parts = [];
  for (let k = 0; k <= steps; k++) {
    const v = (top * k) / steps;
    parts.push(svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid" }));
    parts.push(svg("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end" }, fmt(Math.round(v * 10) / 10)));
  }
  const ticks = Math.min(6, n);
  for (let k = 0; k < ticks; k++) {
    const i = Math.round((k * (n - 1)) / Math.max(1, ticks - 1));
    parts.push(svg("text", { x: x(i), y: H - 10, "text-anchor": "middle" }, elapsed(i * timeline.bucket)));
  }
  parts.push(svg("line", { x1: L, x2: W - R, y1: y(0), y2: y(0), class: "axis" }));
  parts.push(svg("text", { x: L, y: 12 }, label));
  chart.replaceChildren(...parts);
  return { x, y, step: (W - L - R) / n };
}

function rateChart(timeline) {
  const chart = $("rate-chart");
  const names = Object.keys(timeline.nodes);
  const peak = Math.max(0, ...names.flatMap((n) => timeline.nodes[n]));
  const label = timeline.bucket > 1 ? `msg/s (${timeline.bucket} s buckets)` : "msg/s";
  const { x, y } = frame(chart, timeline, peak, label);
  const legend = [];
  names.forEach((name, k) => {
    const color = PALETTE[k % PALETTE.length];
    const values = timeline.nodes[name];
    const points = values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    chart.appendChild(svg("polyline", { points, fill: "none", stroke: color, "stroke-width": 1.8 }));
    if (values.length <= 60) {
      values.forEach((v, i) => chart.appendChild(svg("circle", { cx: x(i), cy: y(v), r: 2.2, fill: color })));
    }
    const span = el("span");
    const key = el("i", undefined, "key");
    key.style.background = color;
    span.append(key, el("span", name.replace(/^[a-z]+:\/\//, "")));
    span.appendChild(el("b", ` ${fmt(Math.round(values.reduce((a, b) => a + b, 0) * timeline.bucket))}`));
    legend.push(span);
  });
  if (!names.length) legend.push(el("span", "nothing accepted yet", "sub"));
  $("rate-legend").replaceChildren(...legend);
}

function refusalChart(timeline, available) {
  const chart = $("refusal-chart");
  const totals = timeline.throttled.map((t, i) => t + timeline.errors[i]);
  const label = `requests per ${timeline.bucket} s`;
  const { x, y, step } = frame(chart, timeline, Math.max(0, ...totals), label);
  const w = Math.max(1, step * 0.8);
  timeline.throttled.forEach((t, i) => {
    const e = timeline.errors[i];
    if (t) chart.appendChild(svg("rect", { x: x(i) - w / 2, y: y(t), width: w, height: y(0) - y(t), fill: "#e08a1e" }));
    if (e) chart.appendChild(svg("rect", { x: x(i) - w / 2, y: y(t + e), width: w, height: y(t) - y(t + e), fill: "#d64545" }));
  });
  if (!available) chart.appendChild(svg("text", { x: 320, y: 110, "text-anchor": "middle" }, "this journal predates the request log"));
  text("throttled-total", fmt(timeline.throttled.reduce((a, b) => a + b, 0)));
  text("errors-total", fmt(timeline.errors.reduce((a, b) => a + b, 0)));
  const verdicts = Object.entries(timeline.verdicts).map(([k, v]) => `${k} ${fmt(v)}`).join(" · ");
  text("verdicts", verdicts ? `(${verdicts})` : "");
}

function rows(id, items, cells, empty) {
  const body = $(id).querySelector("tbody");
  const out = items.map((item) => {
    const tr = el("tr");
    for (const [value, cls] of cells(item)) tr.appendChild(el("td", value, cls));
    return tr;
  });
  if (!out.length) {
    const tr = el("tr");
    const td = el("td", empty, "none");
    td.colSpan = $(id).querySelectorAll("th").length;
    tr.appendChild(td);
    out.push(tr);
  }
  body.replaceChildren(...out);
}

function render(data) {
  document.querySelectorAll("[data-field]").forEach((node) => {
    node.textContent = fmt(pick(data, node.dataset.field));
  });
  const c = data.campaign, p = data.progress, f = data.funnel, l = data.latency;
  text("campaign-name", `#${c.id} ${c.name} · ${c.profile} · started ${clock(c.created)}`);
  width("progress-bar", p.sent, p.total);
  width("funnel-delivered", f.delivered, f.accepted);
  width("funnel-undelivered", f.undelivered, f.accepted);
  width("funnel-awaiting", f.awaiting, f.accepted);
  reasons("top-failures", f.top_failures, f.other_failures);
  const failed = $("failed-reasons");
  if (data.failed_reasons.length) reasons("failed-reasons", data.failed_reasons, 0);
  else failed.replaceChildren();
  text("p50", seconds(l.p50));
  text("p90", seconds(l.p90));
  text("p99", seconds(l.p99));
  text("pmax", seconds(l.max));
  rateChart(data.timeline);
  refusalChart(data.timeline, data.request_log);
  rows("replies", data.replies.latest, (r) => [
    [clock(r.received)], [r.mobile], [r.ext || "–"],
    [r.content + (r.content_chars > r.content.length ? ` … (${fmt(r.content_chars)} characters)` : "")],
  ], "no reply yet");
  rows("quarantine", data.quarantine.latest, (q) => [
    [String(q.id)], [clock(q.received)], [`${q.kind}${q.format ? " " + q.format : ""}`], [q.reason],
    [q.raw + (q.raw_chars > q.raw.length ? ` … (${fmt(q.raw_chars)} characters)` : ""), "raw"],
  ], "nothing held");
}

function live(ok, message) {
  const node = $("live");
  node.className = `live ${ok ? "ok" : "down"}`;
  node.textContent = message;
}

async function tick() {
  try {
    const list = await getJSON("api/campaigns");
    state.interval = list.interval || state.interval;
    text("journal", list.journal);
    fillCampaigns(list.campaigns);
    const none = state.campaign === null;
    $("empty").hidden = !none;
    $("main").hidden = none;
    if (!none) {
      const data = await getJSON(`api/campaigns/${state.campaign}`);
      render(data);
      document.body.dataset.campaign = String(data.campaign.id);
    }
    state.updates += 1;
    document.body.dataset.updates = String(state.updates);
    live(true, `live · updated ${clock(Date.now() / 1000)}`);
  } catch (err) {
    state.failures += 1;
    live(false, `cannot read the journal (${err.message}); retrying`);
  }
  schedule(state.interval * 1000);
}

function schedule(delay) {
  clearTimeout(state.timer);
  state.timer = setTimeout(tick, delay);
}

document.addEventListener("DOMContentLoaded", () => {
  $("campaign").addEventListener("change", (event) => {
    state.campaign = Number(event.target.value);
    schedule(0);
  });
  tick();
});
