// LTQ operator console: plain JavaScript, no build step. Every figure comes from the /api
// endpoints, called with the operator's token; data is only ever set as text, never as HTML.
// The section renderers and DOM helpers are in sections.js (loaded first).
"use strict";

const TOKEN_KEY = "ltq.console.token";
const REFRESH_MS = 3000;

const state = { token: null, filters: {}, selected: null, stream: null, timer: null };

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
