// LTQ operator console: plain JavaScript, no build step. Every figure comes from the /api
// endpoints, called with the operator's token; data is only ever set as text, never as HTML.
"use strict";

const TOKEN_KEY = "ltq.console.token";
const REFRESH_MS = 3000;
const QUEUES = ["triage", "documents", "notifications", "reports", "maintenance"];
const PRIORITIES = ["CRITICAL", "HIGH", "NORMAL", "LOW"];
const FINAL = new Set(["SUCCESS", "FAILURE", "REVOKED"]);

const state = { token: null, filters: {}, selected: null, stream: null, timer: null };

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

// --- sign-in -------------------------------------------------------------------------------

function tokenFromFragment() {
  const match = location.hash.match(/(?:^#|&)token=([^&]+)/);
  if (match) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
    // The fragment never reached the server; keep it out of the history too.
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

function claims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part));
  } catch (error) {
    return null;
  }
}

function signIn(token) {
  const payload = claims(token);
  if (!payload || !payload.sub) {
    showSignIn("That is not a token.");
    return;
  }
  if (payload.role !== "operator" && payload.role !== "admin") {
    showSignIn(`The console needs an operator or admin token (this one is ${payload.role}).`);
    return;
  }
  state.token = token;
  sessionStorage.setItem(TOKEN_KEY, token);
  $("#whoami").textContent = `${payload.sub} (${payload.role})`;
  $("#signin").hidden = true;
  $("#console").hidden = false;
  $("#signout").hidden = false;
  refresh();
}

function showSignIn(message) {
  state.token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  clearTimeout(state.timer);
  stopStream();
  $("#console").hidden = true;
  $("#signout").hidden = true;
  $("#signin").hidden = false;
  $("#whoami").textContent = "";
  say(message || "");
}

// --- API -----------------------------------------------------------------------------------

class ApiError extends Error {}

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: {
      Authorization: `Bearer ${state.token}`,
      "Content-Type": "application/json",
      ...(options.headers || {}),
    },
  });
  if (response.status === 401) {
    showSignIn("The token was refused (expired?). Sign in again.");
    throw new ApiError("unauthenticated");
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const message = (body.error && body.error.message) || `HTTP ${response.status}`;
    throw new ApiError(message);
  }
  return body;
}

async function act(label, path, method = "POST", confirmText = null) {
  if (confirmText && !window.confirm(confirmText)) return;
  try {
    await api(path, { method });
    say(`${label}: done`);
  } catch (error) {
    say(`${label}: ${error.message}`);
  }
  refresh();
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

// --- task detail with live progress (SSE read through fetch, to send the token) ---------------

function stopStream() {
  if (state.stream) state.stream.abort();
  state.stream = null;
}

function renderDetail(task) {
  $("#detail-id").textContent = task.task_id;
  const fields = {
    name: task.name, queue: task.queue, priority: task.priority, owner: task.owner,
    worker: task.worker, attempts: `${task.attempts}/${task.max_attempts}`,
    wait: task.wait_ms === null ? null : seconds(task.wait_ms / 1000),
    run: task.runtime_ms === null ? null : seconds(task.runtime_ms / 1000),
    error: task.error ? `${task.error.type}: ${task.error.message}` : null,
    result: task.result === null || task.result === undefined ? null : JSON.stringify(task.result),
    "retry of": task.retry_of, "retried by": task.retried_by,
  };
  const list = [h("dt", {}, "state"), h("dd", { class: `state state-${task.state}`, id: "detail-state" }, task.state)];
  for (const [key, value] of Object.entries(fields)) {
    if (value !== null && value !== undefined) list.push(h("dt", {}, key), h("dd", {}, value));
  }
  $("#detail-fields").replaceChildren(...list);
  renderProgress(task.progress);
  $("#detail-history").replaceChildren(...(task.history || []).map((e) => h("li", {},
    h("span", { class: `state state-${e.state}` }, e.state), ` ${new Date(e.at).toLocaleTimeString()} ${e.detail || ""}`)));
  const actions = [];
  if (!FINAL.has(task.state)) {
    actions.push(h("button", { type: "button", class: "danger", onclick: () => act("cancel", `/api/tasks/${task.task_id}`, "DELETE", "Cancel this task?") }, "Cancel"));
  } else if (task.state !== "SUCCESS") {
    actions.push(h("button", { type: "button", onclick: () => act("retry", `/api/tasks/retry/${task.task_id}`) }, "Retry"));
  }
  $("#detail-actions").replaceChildren(...actions);
}

function renderProgress(progress) {
  const bar = $("#detail-progress progress");
  const text = $("#detail-progress span");
  if (!progress || progress.current === null) {
    bar.value = 0;
    text.textContent = "no progress reported";
    return;
  }
  bar.max = progress.total || 100;
  bar.value = progress.current;
  text.textContent = `${progress.current}${progress.total ? ` / ${progress.total}` : ""} ${progress.message || ""}`;
}

async function loadDetail(taskId) {
  try {
    const task = await api(`/api/tasks/${taskId}`);
    if (state.selected === taskId) renderDetail(task);
    return task;
  } catch (error) {
    say(`task ${taskId.slice(0, 8)}: ${error.message}`);
    return null;
  }
}

async function follow(taskId) {
  stopStream();
  const controller = new AbortController();
  state.stream = controller;
  $("#detail-live").textContent = "(live)";
  try {
    const response = await fetch(`/api/tasks/${taskId}/stream`, {
      headers: { Authorization: `Bearer ${state.token}` }, signal: controller.signal,
    });
    if (!response.ok || !response.body) throw new ApiError(`stream HTTP ${response.status}`);
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer = (buffer + decoder.decode(value, { stream: true })).replace(/\r\n/g, "\n");
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("\n");
        if (!data || state.selected !== taskId) continue;
        const event = JSON.parse(data);
        if (event.progress_current !== undefined && event.progress_current !== null && event.progress_current !== "") {
          renderProgress({ current: Number(event.progress_current), total: Number(event.progress_total) || null, message: event.progress_message });
        }
        if (event.state && event.event !== undefined) {
          const dd = $("#detail-state");
          if (dd) { dd.textContent = event.state; dd.className = `state state-${event.state}`; }
          if (event.event !== "progress") loadDetail(taskId);
        }
      }
    }
  } catch (error) {
    if (error.name !== "AbortError") say(`live updates stopped: ${error.message}`);
  } finally {
    if (state.stream === controller) {
      state.stream = null;
      $("#detail-live").textContent = "";
      if (state.selected === taskId) loadDetail(taskId);
    }
  }
}

async function select(taskId) {
  state.selected = taskId;
  $("#detail").hidden = false;
  for (const row of document.querySelectorAll("#tasks tr.selected")) row.classList.remove("selected");
  const row = document.querySelector(`#tasks tr[data-task-id="${taskId}"]`);
  if (row) row.classList.add("selected");
  const task = await loadDetail(taskId);
  if (task && !FINAL.has(task.state)) follow(taskId);
  else stopStream();
}

// --- refresh loop --------------------------------------------------------------------------

async function section(name, path, render) {
  try {
    render(await api(path));
    return null;
  } catch (error) {
    return `${name}: ${error.message}`;
  }
}

async function refresh() {
  clearTimeout(state.timer);
  if (!state.token) return;
  const problems = (await Promise.all([
    section("queues", "/api/queues", renderQueues),
    section("workers", "/api/tasks/stats", renderWorkers),
    section("throughput", "/api/throughput?minutes=60", renderChart),
    section("tasks", taskQuery(), renderTasks),
    section("dead letters", "/api/tasks/dead-letter?limit=20", renderDeadLetters),
    section("breakers", "/api/breakers", renderBreakers),
    section("limits", "/api/limits", renderLimits),
    section("outbox", "/api/outbox", renderOutbox),
    section("batches", "/api/batches?limit=10", renderBatches),
    section("audit", "/api/controls/audit?limit=15", renderAudit),
  ])).filter(Boolean);
  if (!state.token) return;
  if (problems.length) say(problems.join("; "));
  $("#refreshed").textContent = `updated ${new Date().toLocaleTimeString()}`;
  state.timer = setTimeout(refresh, REFRESH_MS);
}

// --- start ---------------------------------------------------------------------------------

function start() {
  const queueSelect = $("#task-filters select[name=queue]");
  for (const queue of QUEUES) queueSelect.append(h("option", {}, queue));
  $("#task-filters").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    state.filters = { state: form.get("state"), name: form.get("name").trim(), queue: form.get("queue") };
    refresh();
  });
  $("#signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn($("#token-input").value.trim());
  });
  $("#signout").addEventListener("click", () => showSignIn("Signed out."));
  $("#detail-close").addEventListener("click", () => {
    state.selected = null;
    stopStream();
    $("#detail").hidden = true;
  });
  const token = tokenFromFragment();
  if (token) signIn(token);
  else showSignIn();
}

start();
