// LTQ operator console: DOM helpers and the renderers of the page's sections (loaded before
// app.js, which signs in, calls the API and refreshes). Data is only ever set as text.
"use strict";

const QUEUES = ["triage", "documents", "notifications", "reports", "maintenance"];
const PRIORITIES = ["CRITICAL", "HIGH", "NORMAL", "LOW"];
const FINAL = new Set(["SUCCESS", "FAILURE", "REVOKED"]);

// --- small helpers -------------------------------------------------------------------------

const $ = (selector) => document.querySelector(selector);

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function cell(value, cls) {
  return h("td", { class: cls }, value === null || value === undefined ? "–" : value);
}

function stateCell(value) {
  return h("td", { class: `state state-${value}`, "data-state": value }, value);
}

function seconds(value) {
  if (value === null || value === undefined) return "–";
  if (value < 60) return `${Number(value).toFixed(value < 10 ? 1 : 0)} s`;
  if (value < 3600) return `${Math.floor(value / 60)} min ${Math.round(value % 60)} s`;
  return `${(value / 3600).toFixed(1)} h`;
}

function since(iso) {
  if (!iso) return "–";
  return `${seconds((Date.now() - Date.parse(iso)) / 1000)} ago`;
}

function say(message) {
  $("#status").textContent = message || "";
}

function replaceRows(tbody, rows) {
  tbody.replaceChildren(...rows);
}

// --- sections ------------------------------------------------------------------------------

function renderQueues(data) {
  const rows = data.queues.map((q) => {
    const paused = q.paused;
    return h("tr", { "data-queue": q.queue },
      cell(q.queue),
      cell(q.depth, "num"),
      PRIORITIES.map((p) => cell(q.depth_by_priority[p] || 0, "num")),
      cell(seconds(q.oldest_age_s)),
      h("td", { class: `state state-${paused ? "paused" : "active"}` }, paused ? "paused" : "active"),
      cell(q.workers.length ? q.workers.join(", ") : "none"),
      h("td", {},
        paused
          ? h("button", { type: "button", onclick: () => act(`resume ${q.queue}`, `/api/queues/${q.queue}/resume`) }, "Resume")
          : h("button", { type: "button", onclick: () => act(`pause ${q.queue}`, `/api/queues/${q.queue}/pause`) }, "Pause"),
        h("button", {
          type: "button", class: "danger",
          onclick: () => act(`purge ${q.queue}`, `/api/queues/${q.queue}/purge`, "POST",
            `Purge every waiting message of ${q.queue}? Their tasks become REVOKED.`),
        }, "Purge")));
  });
  replaceRows($("#queues tbody"), rows);
}

function renderWorkers(stats) {
  const rows = (stats.workers || []).map((w) => h("tr", { "data-worker": w.hostname },
    cell(w.hostname),
    cell((w.queues || []).join(", ")),
    cell(w.pool_processes ?? w.concurrency, "num"),
    cell(w.busy ?? 0, "num"),
    cell(w.autoscale ? `${w.autoscale[0]}–${w.autoscale[1]}` : "fixed"),
    cell(w.started_at ? seconds(Date.now() / 1000 - w.started_at) : null)));
  replaceRows($("#workers tbody"), rows.length ? rows : [h("tr", {}, h("td", { colSpan: 6 }, "no live worker"))]);
}

function renderChart(data) {
  const svg = $("#chart");
  const ns = "http://www.w3.org/2000/svg";
  const minutes = data.minutes;
  const width = 600, height = 160, bottom = 140, left = 30;
  const totals = minutes.map((m) => (m.SUCCESS || 0) + (m.FAILURE || 0) + (m.REVOKED || 0));
  const top = Math.max(1, ...totals);
  const step = (width - left - 4) / Math.max(1, minutes.length);
  const nodes = [];
  const line = document.createElementNS(ns, "line");
  for (const [k, v] of Object.entries({ x1: left, y1: bottom, x2: width, y2: bottom, class: "axis" })) line.setAttribute(k, v);
  nodes.push(line);
  const label = (x, y, text) => {
    const t = document.createElementNS(ns, "text");
    t.setAttribute("x", x); t.setAttribute("y", y); t.textContent = text;
    return t;
  };
  nodes.push(label(2, 12, String(top)), label(2, bottom, "0"), label(left, 155, "-60 min"), label(width - 30, 155, "now"));
  minutes.forEach((m, i) => {
    let y = bottom;
    for (const kind of ["SUCCESS", "FAILURE", "REVOKED"]) {
      const n = m[kind] || 0;
      if (!n) continue;
      const barHeight = (n / top) * (bottom - 10);
      y -= barHeight;
      const rect = document.createElementNS(ns, "rect");
      rect.setAttribute("x", left + i * step + 1);
      rect.setAttribute("y", y);
      rect.setAttribute("width", Math.max(1, step - 2));
      rect.setAttribute("height", barHeight);
      rect.setAttribute("class", kind.toLowerCase());
      const title = document.createElementNS(ns, "title");
      title.textContent = `${m.minute}: ${n} ${kind}`;
      rect.append(title);
      nodes.push(rect);
    }
  });
  svg.replaceChildren(...nodes);
  const done = minutes.reduce((sum, m) => sum + (m.SUCCESS || 0) + (m.FAILURE || 0), 0);
  const failed = minutes.reduce((sum, m) => sum + (m.FAILURE || 0), 0);
  $("#rates").textContent = `${done} finished, failure rate ${done ? ((100 * failed) / done).toFixed(1) : "0.0"} %`;
}

function taskQuery() {
  const params = new URLSearchParams({ limit: "30" });
  for (const [key, value] of Object.entries(state.filters)) if (value) params.set(key, value);
  return `/api/tasks?${params}`;
}

function renderTasks(page) {
  const rows = page.items.map((t) => h("tr", {
    class: `clickable${state.selected === t.task_id ? " selected" : ""}`,
    "data-task-id": t.task_id,
    onclick: () => select(t.task_id),
  },
  cell(t.task_id.slice(0, 8)), cell(t.name), cell(t.queue), cell(t.priority), stateCell(t.state),
  cell(`${t.attempts}/${t.max_attempts}`, "num"), cell(since(t.created_at)),
  cell(t.runtime_ms === null ? null : seconds(t.runtime_ms / 1000))));
  replaceRows($("#tasks tbody"), rows);
}

function renderDeadLetters(page) {
  const rows = page.items.map((d) => h("tr", { "data-dead-letter": d.task_id },
    cell(d.task_id.slice(0, 8)), cell(d.name), cell(d.queue), cell(d.reason),
    cell(d.error ? `${d.error.type}: ${d.error.message}`.slice(0, 80) : null),
    cell(d.attempts, "num"), cell(since(d.created_at)),
    d.replayed_as
      ? h("td", { class: "replayed muted", "data-replayed-as": d.replayed_as }, `replayed as ${d.replayed_as.slice(0, 8)}`)
      : h("td", {},
        h("button", { type: "button", class: "replay", onclick: () => act(`replay ${d.task_id.slice(0, 8)}`, `/api/tasks/dead-letter/${d.task_id}/replay`, "POST", `Replay ${d.name} (${d.task_id})?`) }, "Replay"),
        h("button", { type: "button", class: "danger discard", onclick: () => act(`discard ${d.task_id.slice(0, 8)}`, `/api/tasks/dead-letter/${d.task_id}`, "DELETE", `Discard ${d.task_id}? It can no longer be replayed.`) }, "Discard"))));
  replaceRows($("#dead-letters tbody"), rows.length ? rows : [h("tr", {}, h("td", { colSpan: 8 }, "empty"))]);
}

function renderBreakers(data) {
  const rows = data.breakers.map((b) => h("tr", { "data-breaker": b.breaker },
    cell(b.breaker), stateCell(b.state + (b.forced ? " (held)" : "")),
    cell(b.consecutive_failures, "num"), cell(`${b.window_failures}/${b.window_calls}`, "num"),
    h("td", {}, ["open", "close", "reset"].map((action) => h("button", {
      type: "button", onclick: () => act(`${action} ${b.breaker}`, `/api/breakers/${b.breaker}/${action}`),
    }, action)))));
  replaceRows($("#breakers tbody"), rows);
}

function renderLimits(data) {
  replaceRows($("#limits tbody"), data.limits.map((l) => h("tr", {},
    cell(l.service), cell(l.limit), cell(l.per_key), cell(`${l.deferred_by_limit} / ${l.deferred_by_breaker}`, "num"))));
}

function renderOutbox(data) {
  $("#outbox").textContent = data.pending
    ? `${data.pending} task(s) accepted while Redis was down wait to be published; the oldest for ${seconds(data.oldest_age_s)}.`
    : "Empty: every accepted task is on its queue.";
}

function renderBatches(data) {
  const rows = data.items.map((b) => h("tr", { "data-batch": b.batch_id },
    cell(b.batch_id.slice(0, 8)), stateCell(b.status), cell(b.done, "num"), cell(b.failed, "num"),
    cell(b.pending, "num"), cell(b.total, "num")));
  replaceRows($("#batches tbody"), rows.length ? rows : [h("tr", {}, h("td", { colSpan: 6 }, "none yet"))]);
}

function renderAudit(data) {
  $("#audit").replaceChildren(...data.items.map((a) => h("li", {},
    `${new Date(Number(a.at)).toLocaleTimeString()} ${a.actor}: ${a.action} ${a.target}`,
    a.removed !== undefined ? ` (${a.removed} removed, ${a.revoked} revoked)` : "")));
}

