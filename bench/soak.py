"""Soak run: thousands of tasks through the real stack while workers are SIGKILLed and Redis
restarts, then count what was lost, what ran twice, how fast work recovered, and how closely
the shared SMTP rate limit held.

    cd /work/main && .venv/bin/python bench/soak.py [--cases N] [--kills K] [--smtp-rate R]
        [--workers W] [--submit-s S] [--database-url URL] [--quick]

Everything runs in a temp dir: a persistent Redis of its own (AOF, so a graceful restart keeps
the queues), a fresh migrated SQLite DB (or --database-url, which must be an empty database),
an in-process SMTP server that records each message's receipt time and recipients, the API
(uvicorn), W prefork workers (concurrency 2, every queue; each runs its reaper thread every
2 s) and beat.

Load: N triage cases through POST /api/triage and /api/triage/batch (half each), each with a
unique client_email and an Idempotency-Key, at a steady pace over --submit-s. Each case is a
`triage.classify_case` task and then one `notifications.send_email`, so 2 N tasks and N
e-mails, one per recipient. A 5xx or a dropped connection is retried with the same key.

Chaos, spread over the submission window: K SIGKILLs, alternately one pool child of the
busiest worker and a whole worker's process group (a replacement worker starts at once), and
one Redis restart (stop, 5 s down, start on the same port and data dir).

Report (printed, and JSON in bench/results/soak.json): cases lost, duplicate e-mails,
redelivered tasks, time from each kill to the next start of every task the kill interrupted,
time for work to flow again after the Redis restart, and the observed e-mail rate against the
limit over the middle 80 % of the e-mail stream. Every child process is stopped on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: bench/ and backend/ import from the repo root
    sys.path.insert(0, str(ROOT))

from bench.run import (  # noqa: E402 - after the path fix above
    code_state,
    exact_command,
    fmt_num,
    guarded_run,
    machine,
    percentile,
    say,
    set_environment,
    wait_until,
)

if TYPE_CHECKING:
    from aiosmtpd.smtp import SMTP, Envelope, Session

    from bench.procs import Child, Children

RESULTS_PATH = ROOT / "bench" / "results" / "soak.json"
KEY_PREFIX = "ltqsoak:"
HOST = "127.0.0.1"
BATCH_SIZE = 10
CLIENTS = 12
REDIS_DOWN_S = 5.0
READY_TIMEOUT_S = 90.0
REQUEST_TIMEOUT_S = 30.0
GIVE_UP_S = 120.0
SETTLE_S = 3.0
BUSY_CPU_S = 0.03  # CPU a pool child used in 0.3 s to count as running a task
TRIAGE_TASK = "triage.classify_case"
EMAIL_TASK = "notifications.send_email"
RUNNING = ("STARTED", "PROGRESS")
FINAL = ("SUCCESS", "FAILURE", "REVOKED")
# Case texts without personal data; the rules engine gives them different areas and urgencies.
CASE_TEXTS = (
    ("Demissão sem justa causa", "Empregado dispensado sem receber verbas rescisórias e FGTS."),
    ("Cobrança indevida", "Consumidor teve o nome negativado por dívida já quitada com o banco."),
    ("Pensão alimentícia", "Pedido urgente de alimentos; audiência marcada para amanhã cedo."),
    ("Execução fiscal", "Município cobra IPTU de imóvel vendido há cinco anos, com penhora."),
)


# --- the SMTP side effect ----------------------------------------------------------------------


class MailRecorder:
    """aiosmtpd handler that keeps (receipt time, recipients, Message-ID) of every message."""

    def __init__(self) -> None:
        self.received: list[tuple[float, tuple[str, ...], str | None]] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        at = time.time()
        message_id = None
        for line in (envelope.original_content or b"").split(b"\r\n"):
            if not line:
                break  # end of headers
            if line.lower().startswith(b"message-id:"):
                message_id = line[11:].strip().decode(errors="replace")
        with self._lock:
            self.received.append((at, tuple(envelope.rcpt_tos), message_id))
        return "250 Message accepted for delivery"

    def snapshot(self) -> list[tuple[float, tuple[str, ...], str | None]]:
        with self._lock:
            return list(self.received)


# --- load: cases through the HTTP API ------------------------------------------------------------


@dataclass
class Unit:
    """One request: a single case or a batch, sent at `due` s after the start, retried as is."""

    index: int
    due: float
    emails: list[str]
    key: str

    @property
    def batch(self) -> bool:
        return len(self.emails) > 1


@dataclass
class LoadStats:
    cases_submitted: int = 0
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    connection_errors: int = 0
    units_retried: int = 0
    accepted: dict[str, str] = field(default_factory=dict)  # case id -> e-mail
    task_ids: dict[str, str] = field(default_factory=dict)  # case id -> triage task id
    queued_false: int = 0
    replayed: int = 0  # the final 202 said created=false: an earlier, failed try had created it
    rejected: list[str] = field(default_factory=list)
    given_up: int = 0
    timeline: list[tuple[float, int]] = field(default_factory=list)  # (time, status or 0)
    started_at: float = 0.0  # epoch
    elapsed_s: float = 0.0


def plan_units(cases: int, submit_s: float, run_id: str) -> list[Unit]:
    """Per 2 x BATCH_SIZE cases: BATCH_SIZE single requests, then one batch of BATCH_SIZE."""
    rate = cases / submit_s
    units: list[Unit] = []
    i = 0
    while i < cases:
        size = BATCH_SIZE if (i // BATCH_SIZE) % 2 == 1 else 1
        size = min(size, cases - i)
        emails = [f"soak{run_id}-{j}@example.com" for j in range(i, i + size)]
        units.append(Unit(len(units), i / rate, emails, f"soak-{run_id}-{len(units)}"))
        i += size
    return units


def unit_body(unit: Unit) -> tuple[str, bytes]:
    def case(email: str) -> dict[str, str]:
        n = int(email.split("-", 1)[1].split("@", 1)[0])
        title, text = CASE_TEXTS[n % len(CASE_TEXTS)]
        return {"title": f"{title} #{n}", "description": text, "client_email": email}

    if unit.batch:
        return "/api/triage/batch", json.dumps({"cases": [case(e) for e in unit.emails]}).encode()
    return "/api/triage", json.dumps(case(unit.emails[0])).encode()


class Connection:
    """One keep-alive connection to the API, reopened after any transport error."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        from bench.httpload import exchange

        if self.streams is None:
            self.streams = await asyncio.open_connection(HOST, self.port)
        reader, writer = self.streams
        return await asyncio.wait_for(exchange(reader, writer, request), REQUEST_TIMEOUT_S)

    def reset(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
        self.streams = None


def record_accepted(unit: Unit, body: bytes, stats: LoadStats) -> None:
    data = json.loads(body)
    items = data["items"] if unit.batch else [{"index": 0, **data}]
    for item in items:
        if item.get("error"):
            stats.rejected.append(str(item["error"].get("code")))
            continue
        stats.accepted[item["case_id"]] = unit.emails[item["index"]]
        stats.task_ids[item["case_id"]] = item["task_id"]
        stats.queued_false += item.get("queued") is False
        stats.replayed += item.get("created") is False


async def submit(unit: Unit, conn: Connection, token: str, stats: LoadStats) -> None:
    """Send one unit; retry a 5xx, a 429 or a transport error with the same Idempotency-Key."""
    from bench.httpload import build_request

    path, body = unit_body(unit)
    request = build_request(HOST, conn.port, path, body, token, {"Idempotency-Key": unit.key})
    stats.cases_submitted += len(unit.emails)
    deadline = time.monotonic() + GIVE_UP_S
    delay, tries = 0.25, 0
    while True:
        tries += 1
        stats.units_retried += tries == 2
        try:
            status, answer = await conn.exchange(request)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError):
            conn.reset()
            stats.connection_errors += 1
            status = 0
        else:
            stats.requests += 1
            stats.statuses[status] += 1
        stats.timeline.append((time.time(), status))
        if status == 202:
            record_accepted(unit, answer, stats)
            return
        if status and status < 500 and status != 429:
            stats.rejected.append(f"http {status}: {answer[:200].decode(errors='replace')}")
            return
        if time.monotonic() > deadline:
            stats.given_up += len(unit.emails)
            return
        await asyncio.sleep(delay)
        delay = min(delay * 2, 2.0)


async def run_load(port: int, token: str, units: list[Unit], stats: LoadStats) -> None:
    """Release each unit at its due time to CLIENTS connections, which send and retry."""
    queue: asyncio.Queue[Unit | None] = asyncio.Queue()

    async def client() -> None:
        conn = Connection(port)
        try:
            while (unit := await queue.get()) is not None:
                await submit(unit, conn, token, stats)
        finally:
            conn.reset()

    clients = [asyncio.ensure_future(client()) for _ in range(CLIENTS)]
    start = time.perf_counter()
    stats.started_at = time.time()
    for unit in units:
        wait = start + unit.due - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        queue.put_nowait(unit)
    for _ in clients:
        queue.put_nowait(None)
    await asyncio.gather(*clients)
    stats.elapsed_s = time.perf_counter() - start


# --- the stack and the chaos ---------------------------------------------------------------------


@dataclass
class Worker:
    child: Child
    hostname: str


@dataclass
class ChaosEvent:
    kind: str  # pool-child | worker | redis
    at: float  # epoch seconds of the kill (or of the Redis stop)
    target: str = ""
    pids: list[int] = field(default_factory=list)
    back_at: float | None = None  # Redis answered again
    note: str = ""


class Stack:
    """The processes of one run (Redis outside: the caller owns it) and the chaos applied."""

    def __init__(self, children: Children, redis_server: Any, api_port: int) -> None:
        from backend.adapters.redis_clients import get_redis
        from backend.platform.status import TaskStatusManager

        self.children = children
        self.redis_server = redis_server
        self.api_port = api_port
        self.status = TaskStatusManager(get_redis())
        self.workers: list[Worker] = []
        self.events: list[ChaosEvent] = []
        self.beat: Child | None = None
        # Chaos and the supervisor both start and stop processes.
        self.lock = threading.RLock()
        self._seq = 0

    def start_api_and_beat(self) -> None:
        from backend.devtools.commands import api_command, beat_command

        api = self.children.start("api", api_command(self.api_port))
        self.beat = self.children.start("beat", beat_command())

        def healthy() -> bool:
            if not api.alive:
                raise RuntimeError(f"API exited during start:\n{api.log_tail()}")
            url = f"http://{HOST}:{self.api_port}/health"
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    return bool(response.status == 200)
            except OSError:
                return False

        wait_until(healthy, READY_TIMEOUT_S, "GET /health")

    def start_worker(self, *, wait: bool) -> Worker:
        from backend.devtools.commands import worker_command

        self._seq += 1
        hostname = f"soak{self._seq}@soak"
        command = worker_command(concurrency=2, hostname=hostname, loglevel="WARNING")
        worker = Worker(self.children.start(f"worker{self._seq}", command), hostname)
        self.workers.append(worker)
        if wait:
            self.wait_ready([worker])
        return worker

    def wait_ready(self, workers: list[Worker]) -> None:
        def ready() -> bool:
            dead = [w for w in workers if not w.child.alive]
            if dead:
                raise RuntimeError(f"{dead[0].hostname} exited:\n{dead[0].child.log_tail()}")
            live = {w["hostname"] for w in self.status.live_workers()}
            return all(w.hostname in live for w in workers)

        wait_until(ready, READY_TIMEOUT_S, f"workers {[w.hostname for w in workers]}")

    def busiest(self) -> tuple[Worker, int]:
        """The pool child that used the most CPU in the last 0.3 s (and its worker): the
        likeliest to be running a task. Looks again, up to 5 s, while every child is idle."""
        from bench.procs import cpu_seconds

        deadline = time.monotonic() + 5.0
        while True:
            alive = [w for w in self.workers if w.child.alive]
            before = {w.hostname: w.child.cpu_by_pid() for w in alive}
            time.sleep(0.3)
            best: tuple[float, Worker, int] | None = None
            for w in alive:
                for pid, secs in before[w.hostname].items():
                    used = cpu_seconds(pid) - secs
                    if pid != w.child.pid and (best is None or used > best[0]):
                        best = (used, w, pid)
            if best is None:
                raise RuntimeError("no live worker with a pool child to kill")
            if best[0] >= BUSY_CPU_S or time.monotonic() > deadline:
                return best[1], best[2]

    def kill_pool_child(self) -> ChaosEvent:
        with self.lock:
            worker, pid = self.busiest()
            at = time.time()
            os.kill(pid, signal.SIGKILL)
        return ChaosEvent("pool-child", at, worker.hostname, [pid])

    def kill_worker(self) -> ChaosEvent:
        from bench.procs import group_members

        with self.lock:
            worker, _ = self.busiest()
            pids = group_members(worker.child.pid)
            at = time.time()
            self.children.kill(worker.child)
            self.workers.remove(worker)
            replacement = self.start_worker(wait=False)
        return ChaosEvent("worker", at, worker.hostname, pids,
                          note=f"replaced by {replacement.hostname}")  # fmt: skip

    def supervise(self, stop: threading.Event) -> None:
        """Restart beat or a worker that exits on its own, as a process manager would, and
        log it as an event (UNPLANNED EXITS must be none): a worker gone is capacity gone, so
        without this one platform crash would hide every later measurement."""
        from backend.devtools.commands import beat_command

        while not stop.wait(1.0):
            with self.lock:
                if self.beat is not None and not self.beat.alive:
                    self.events.append(self._exit_event("beat-exit", self.beat, "beat"))
                    self.children.stop(self.beat)
                    self.beat = self.children.start("beat", beat_command())
                for worker in [w for w in self.workers if not w.child.alive]:
                    event = self._exit_event("worker-exit", worker.child, worker.hostname)
                    self.children.stop(worker.child)
                    self.workers.remove(worker)
                    event.note += f" | replaced by {self.start_worker(wait=False).hostname}"
                    self.events.append(event)

    @staticmethod
    def _exit_event(kind: str, child: Child, target: str) -> ChaosEvent:
        """The exit, with the process's last critical log line (the reason it gave)."""
        lines = child.log_tail(400).splitlines()
        reason = next((ln for ln in reversed(lines) if "critical" in ln.lower()), "")
        say(f"  {target} exited on its own (code {child.process.returncode}): restarting it")
        return ChaosEvent(kind, time.time(), target, [child.pid], note=reason[:300])

    def restart_redis(self) -> ChaosEvent:
        at = time.time()
        self.redis_server.stop()
        time.sleep(REDIS_DOWN_S)
        self.redis_server.start()
        return ChaosEvent("redis", at, "redis", back_at=time.time())


def chaos_plan(kills: int, submit_s: float) -> list[tuple[float, str]]:
    """Kills alternate pool child / whole worker; the Redis restart sits in the middle; all
    spread evenly over 10-90 % of the submission window."""
    kinds = ["pool-child" if k % 2 == 0 else "worker" for k in range(kills)]
    kinds.insert(len(kinds) // 2 + len(kinds) % 2, "redis")
    step = 0.8 / max(len(kinds) - 1, 1)
    return [(submit_s * (0.1 + step * i), kind) for i, kind in enumerate(kinds)]


def run_chaos(stack: Stack, plan: list[tuple[float, str]], stop: threading.Event) -> None:
    start = time.monotonic()
    actions: dict[str, Callable[[], ChaosEvent]] = {
        "pool-child": stack.kill_pool_child,
        "worker": stack.kill_worker,
        "redis": stack.restart_redis,
    }
    for offset, kind in plan:
        if stop.wait(max(0.0, start + offset - time.monotonic())):
            return
        try:
            event = actions[kind]()
        except Exception as exc:  # a failed action is reported, the run goes on
            event = ChaosEvent(kind, time.time(), note=f"failed: {exc!r}")
        stack.events.append(event)
        say(f"  chaos t+{time.monotonic() - start:5.1f}s {event.kind} {event.target} "
            f"{event.pids or ''} {event.note}")  # fmt: skip


# --- reading the outcome -----------------------------------------------------------------------


@dataclass
class TaskRecord:
    task_id: str
    name: str
    state: str
    attempts: int
    finished_ms: int | None
    result: Any
    history: list[dict[str, Any]]  # oldest first, "at" in epoch ms


def load_records(stack: Stack) -> dict[str, TaskRecord]:
    """Every task record of the run, with its raw history, in pipelined chunks."""
    r = stack.status.redis
    k = stack.status.keys
    ids = [str(i) for i in r.zrange(k.index_all, 0, -1)]  # type: ignore[union-attr]
    out: dict[str, TaskRecord] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        pipe = r.pipeline(transaction=False)
        for task_id in chunk:
            pipe.hgetall(k.task(task_id))
            pipe.lrange(k.history(task_id), 0, -1)
        raw = pipe.execute()
        for n, task_id in enumerate(chunk):
            rec, hist = raw[2 * n], raw[2 * n + 1]
            if not rec:
                continue
            entries = sorted((json.loads(h) for h in hist), key=lambda e: int(e["at"]))
            out[task_id] = TaskRecord(
                task_id,
                rec.get("name", ""),
                rec.get("state", ""),
                int(rec.get("attempts") or 0),
                int(rec["finished_at"]) if rec.get("finished_at") else None,
                json.loads(rec["result"]) if rec.get("result") else None,
                entries,
            )
    return out


def case_statuses() -> dict[str, str]:
    from sqlalchemy import select

    from backend.core.db.models import Case
    from backend.core.db.session import session_scope

    with session_scope() as session:
        return {row.id: row.status for row in session.execute(select(Case.id, Case.status))}


def wait_for_drain(
    stats: LoadStats, mail: MailRecorder, timeout_s: float, stall_s: float
) -> dict[str, Any]:
    """Until every accepted case is triaged and its e-mail received, or no progress for
    `stall_s`, or `timeout_s`."""
    started = last_change = time.monotonic()
    last = (-1, -1)
    wanted = set(stats.accepted.values())
    while True:
        statuses = case_statuses()
        triaged = sum(statuses.get(c) == "triaged" for c in stats.accepted)
        mailed = len(wanted & {r for _, rcpts, _ in mail.snapshot() for r in rcpts})
        now = time.monotonic()
        if (triaged, mailed) != last:
            last, last_change = (triaged, mailed), now
        done = triaged == mailed == len(stats.accepted)
        if done or now - last_change > stall_s or now - started > timeout_s:
            time.sleep(SETTLE_S)  # late duplicates
            return {"complete": done, "waited_s": round(now - started, 1),
                    "stalled": not done and now - last_change > stall_s}  # fmt: skip
        time.sleep(1.0)


def lost_and_duplicates(
    stats: LoadStats, mail: MailRecorder, records: dict[str, TaskRecord], started_at: float
) -> dict[str, Any]:
    """Cases not triaged or not e-mailed (with the stuck task's history, times relative to
    the start of the load), duplicate e-mails, redeliveries, unfinished tasks."""
    statuses = case_statuses()
    received = mail.snapshot()
    per_recipient = Counter(r for _, rcpts, _ in received for r in rcpts)
    not_triaged: Counter[str] = Counter()
    not_mailed: Counter[str] = Counter()
    lost: list[dict[str, Any]] = []
    duplicated: list[dict[str, Any]] = []
    for case_id, email in stats.accepted.items():
        triage = records.get(stats.task_ids[case_id])
        notify_id = (triage.result or {}).get("notification_task_id") if triage else None
        notify = records.get(notify_id) if notify_id else None
        if statuses.get(case_id) != "triaged":
            not_triaged[f"case {statuses.get(case_id)}, task {triage and triage.state}"] += 1
            stuck = triage
        elif per_recipient[email] == 0:
            not_mailed[f"e-mail task {notify.state if notify else notify_id}"] += 1
            stuck = notify or triage
        else:
            stuck = None
        if stuck is not None and len(lost) < 5:
            lost.append({"case_id": case_id, **evidence(stuck, started_at)})
        if per_recipient[email] > 1 and notify is not None and len(duplicated) < 5:
            times = [round(t - started_at, 2) for t, rcpts, _ in received if email in rcpts]
            duplicated.append({"case_id": case_id, "received_s": times,
                               **evidence(notify, started_at)})  # fmt: skip
    accepted_emails = set(stats.accepted.values())
    triage_recs = [r for r in records.values() if r.name == TRIAGE_TASK]
    email_recs = [r for r in records.values() if r.name == EMAIL_TASK]
    return {
        "cases_lost": sum(not_triaged.values()) + sum(not_mailed.values()),
        "not_triaged_by_state": dict(not_triaged),
        "triaged_not_mailed_by_state": dict(not_mailed),
        "lost_examples": lost,
        "duplicate_examples": duplicated,
        "cases_in_db_not_accepted": len(set(statuses) - set(stats.accepted)),
        "emails_received": sum(per_recipient.values()),
        "emails_to_unknown_recipients": sum(
            c for r, c in per_recipient.items() if r not in accepted_emails
        ),
        "duplicate_emails": sum(c - 1 for c in per_recipient.values() if c > 1),
        "recipients_with_duplicates": sum(1 for c in per_recipient.values() if c > 1),
        "triage_tasks": len(triage_recs),
        "email_tasks": len(email_recs),
        "triage_redelivered": sum(1 for r in triage_recs if r.attempts > 1),
        "triage_extra_attempts": sum(max(0, r.attempts - 1) for r in triage_recs),
        "email_redelivered": sum(1 for r in email_recs if r.attempts > 1),
        "unfinished_tasks_by_name_state": dict(
            Counter(f"{r.name} {r.state}" for r in records.values() if r.state not in FINAL)
        ),
        "failed_tasks_by_name": dict(
            Counter(r.name for r in records.values() if r.state == "FAILURE")
        ),
    }


def interrupted_by(
    record: TaskRecord, event: ChaosEvent, time_limit_s: float
) -> tuple[str, float | None]:
    """Was the task running on the killed worker at the kill; if so, seconds to its next start.

    Running = its last entry at or before the kill is STARTED/PROGRESS and its last start was
    on that worker, less than the task's hard time limit before the kill ("stale" if longer:
    that record says running, but no process can still be running it). After a pool-child
    kill, a task that writes anything but a new start (progress, a deferral, success) was on
    the surviving child. Returns ("", None), ("stale", None) or ("hit", seconds or None).
    """
    at_ms = event.at * 1000
    before = [e for e in record.history if e["at"] <= at_ms]
    starts = [e for e in before if e["state"] == "STARTED"]
    if not before or before[-1]["state"] not in RUNNING or not starts:
        return "", None
    if not str(starts[-1]["detail"]).endswith(f" on {event.target}"):
        return "", None
    if at_ms - starts[-1]["at"] > time_limit_s * 1000:
        return "stale", None
    for entry in record.history:
        if entry["at"] <= at_ms or entry["state"] in ("RECEIVED", "REQUEUED"):
            continue
        if entry["state"] == "STARTED":
            return "hit", (entry["at"] - at_ms) / 1000
        if event.kind == "pool-child":
            return "", None
    return "hit", None


def evidence(record: TaskRecord, ref_at: float) -> dict[str, Any]:
    """A task's record and history, times in seconds relative to `ref_at` (a kill, say)."""
    return {
        "task_id": record.task_id, "name": record.name, "state": record.state,
        "attempts": record.attempts,
        "history": [(e["state"], round(e["at"] / 1000 - ref_at, 2), e["detail"])
                    for e in record.history],
    }  # fmt: skip


def recovery(records: dict[str, TaskRecord], events: list[ChaosEvent]) -> dict[str, Any]:
    from backend.platform.catalogue import TASK_SPECS

    per_kill: list[dict[str, Any]] = []
    times: list[float] = []
    never = 0
    for event in events:
        if event.kind not in ("pool-child", "worker") or event.note.startswith("failed"):
            continue
        found: list[float] = []
        missing: list[TaskRecord] = []
        stale: list[TaskRecord] = []
        for record in records.values():
            spec = TASK_SPECS.get(record.name)
            hit, took = interrupted_by(record, event, spec.time_limit_s if spec else 3600.0)
            if hit == "stale":
                stale.append(record)
            elif hit and took is None:
                missing.append(record)
            elif hit and took is not None:
                found.append(took)
        times += found
        never += len(missing)
        per_kill.append({
            "kind": event.kind, "target": event.target, "at": event.at,
            "interrupted": len(found) + len(missing), "stale": len(stale),
            "never_restarted": [evidence(r, event.at) for r in missing[:3]],
            "stale_running_records": [evidence(r, event.at) for r in stale[:3]],
            "recovery_s": sorted(round(t, 2) for t in found),
        })  # fmt: skip
    ordered = sorted(times)
    return {
        "kills": per_kill,
        "interrupted_tasks": len(times) + never,
        "never_restarted": never,
        "median_s": statistics.median(ordered) if ordered else None,
        "p90_s": percentile(ordered, 90) if ordered else None,
        "worst_s": ordered[-1] if ordered else None,
    }


def requeues(records: dict[str, TaskRecord], started_at: float) -> dict[str, Any]:
    """What the workers' reaper threads re-queued (REQUEUED history entries) and what the
    orphan sweep published again (REPUBLISHED), by second of the run."""

    def times(state: str) -> list[float]:
        return sorted(
            round(e["at"] / 1000 - started_at, 1)
            for r in records.values()
            for e in r.history
            if e["state"] == state
        )

    at, again = times("REQUEUED"), times("REPUBLISHED")
    return {"requeued": len(at), "at_s_after_start": at, "republished": len(again),
            "republished_at_s": again}  # fmt: skip


def after_redis(
    records: dict[str, TaskRecord], events: list[ChaosEvent], stats: LoadStats, mail: MailRecorder
) -> dict[str, Any] | None:
    """How long after Redis answered again the first task started, e-mail arrived, 202 came."""
    event = next((e for e in events if e.kind == "redis" and e.back_at), None)
    if event is None or event.back_at is None:
        return None
    back = event.back_at

    def first_after(times: Sequence[float]) -> float | None:
        later = [t for t in times if t > back]
        return round(min(later) - back, 2) if later else None

    starts = [
        e["at"] / 1000
        for r in records.values()
        if r.name in (TRIAGE_TASK, EMAIL_TASK)
        for e in r.history
        if e["state"] == "STARTED"
    ]
    outage = [s for t, s in stats.timeline if event.at <= t <= back]
    return {
        "down_s": round(back - event.at, 2),
        "first_task_start_s": first_after(starts),
        "first_email_s": first_after([t for t, _, _ in mail.snapshot()]),
        "first_202_s": first_after([t for t, s in stats.timeline if s == 202]),
        "answers_while_down": dict(Counter(outage)),
    }


def rate_error(mail: MailRecorder, records: dict[str, TaskRecord], limit: float) -> dict[str, Any]:
    """Observed e-mails/s over the middle 80 % of the stream, against the limit.

    `rate_flowing` leaves out pauses over 1 s (the Redis outage, kills); `min_backlog` is the
    fewest triaged-but-unsent e-mails at any point of the window: above 0, the limit (not the
    supply) was the bottleneck throughout. `max_in_any_1s` must not exceed the limit.
    """
    times = sorted(t for t, _, _ in mail.snapshot())
    if len(times) < 20:
        return {"emails": len(times)}
    lo, hi = int(0.1 * len(times)), int(0.9 * len(times)) - 1
    span = times[hi] - times[lo]
    pauses = sum(
        b - a for a, b in zip(times[lo:hi], times[lo + 1 : hi + 1], strict=True) if b - a > 1
    )
    ready = sorted(
        r.finished_ms / 1000 for r in records.values()
        if r.name == TRIAGE_TASK and r.finished_ms and (r.result or {}).get("notification_task_id")
    )  # fmt: skip
    backlog = []
    j = 0
    for i in range(lo, hi + 1):
        while j < len(ready) and ready[j] <= times[i]:
            j += 1
        backlog.append(j - i)
    rate = (hi - lo) / span if span > 0 else float("nan")
    flowing = (hi - lo) / (span - pauses) if span > pauses else float("nan")
    return {
        "limit_per_s": limit,
        "emails": len(times),
        "window_s": round(span, 2),
        "rate": round(rate, 3),
        "relative_error": round(rate / limit - 1, 4),
        "pauses_over_1s_s": round(pauses, 2),
        "rate_flowing": round(flowing, 3),
        "relative_error_flowing": round(flowing / limit - 1, 4),
        "min_backlog": min(backlog),
        "max_in_any_1s": most_within(times, 1.0),
        "max_in_any_5s_per_s": most_within(times, 5.0) / 5,
    }


def most_within(times: Sequence[float], window_s: float) -> int:
    """Most events in any window of `window_s` seconds (`times` sorted)."""
    most, k = 0, 0
    for i, t in enumerate(times):
        while times[k] <= t - window_s:
            k += 1
        most = max(most, i - k + 1)
    return most


# --- report --------------------------------------------------------------------------------------


def render(res: dict[str, Any]) -> str:
    load, out = res.get("load", {}), res.get("outcome", {})
    rec, rate, red = res.get("recovery", {}), res.get("rate", {}), res.get("redis_restart") or {}
    head = (
        f"soak: {res['params']['cases']} cases, {res['params']['workers']} workers, "
        f"{res['params']['kills']} kills + 1 Redis restart, SMTP limit "
        f"{res['params']['smtp_rate']}/s, wall {res.get('wall_s', 0):.0f} s"
    )
    if not load:
        return "\n".join([head, *(f"  FAILURE: {f}" for f in res.get("failures", []))])
    lines = [
        head,
        f"  submitted {load.get('cases_submitted')} cases in {load.get('requests')} requests "
        f"({load.get('elapsed_s', 0):.0f} s): accepted {load.get('accepted')}, "
        f"statuses {load.get('statuses')}, connection errors {load.get('connection_errors')}, "
        f"queued:false {load.get('queued_false')}, replayed {load.get('replayed')}, "
        f"given up {load.get('given_up')}",
        f"  tasks: {out.get('triage_tasks')} triage + {out.get('email_tasks')} e-mail; drain "
        f"{res.get('drain')}",
        f"  LOST: {out.get('cases_lost')} {out.get('not_triaged_by_state') or ''}"
        f"{out.get('triaged_not_mailed_by_state') or ''}",
        f"  DUPLICATE E-MAILS: {out.get('duplicate_emails')} (recipients "
        f"{out.get('recipients_with_duplicates')}); to unknown recipients "
        f"{out.get('emails_to_unknown_recipients')}",
        f"  redelivered: triage {out.get('triage_redelivered')} "
        f"(+{out.get('triage_extra_attempts')} attempts), e-mail {out.get('email_redelivered')};"
        f" unfinished {out.get('unfinished_tasks_by_name_state')}; "
        f"failed {out.get('failed_tasks_by_name')}",
        f"  RECOVERY after kill: median {fmt_num(rec.get('median_s'), 2)} s, worst "
        f"{fmt_num(rec.get('worst_s'), 2)} s over {rec.get('interrupted_tasks')} interrupted "
        f"tasks ({rec.get('never_restarted')} never restarted)",
    ]
    for kill in rec.get("kills", []):
        times = kill["recovery_s"]
        lines.append(
            f"    {kill['kind']:<10} {kill['target']:<12} interrupted {kill['interrupted']}, "
            f"recovered in {times[0] if times else '-'}..{times[-1] if times else '-'} s; "
            f"stale running records {kill.get('stale')}"
        )
    reaper = res.get("reaper", {})
    lines.append(
        f"  REAPER: requeued {reaper.get('requeued')} messages, at (s after start) "
        f"{reaper.get('at_s_after_start')}; orphans published again "
        f"{reaper.get('republished')} at {reaper.get('republished_at_s')}"
    )
    lines += [
        f"  REDIS restart: down {red.get('down_s')} s; after it, first start "
        f"{red.get('first_task_start_s')} s, first e-mail {red.get('first_email_s')} s, first "
        f"202 {red.get('first_202_s')} s; answers while down {red.get('answers_while_down')}",
        f"  RATE: {rate.get('rate')}/s vs {rate.get('limit_per_s')}/s over "
        f"{rate.get('window_s')} s (error {rate.get('relative_error')}); flowing "
        f"{rate.get('rate_flowing')}/s (error {rate.get('relative_error_flowing')}); max in "
        f"any 1 s {rate.get('max_in_any_1s')}, per s in any 5 s "
        f"{rate.get('max_in_any_5s_per_s')}; min backlog {rate.get('min_backlog')}",
    ]
    exits = Counter(e["kind"] for e in res.get("chaos", []) if e["kind"].endswith("-exit"))
    if exits:
        lines.append(f"  UNPLANNED EXITS (restarted by the soak): {dict(exits)}")
    lines += [f"  WARNING: {w}" for w in res.get("warnings", [])]
    lines += [f"  FAILURE: {f}" for f in res.get("failures", [])]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--cases", type=int, default=2500, help="triage cases (2 tasks each)")
    p.add_argument("--kills", type=int, default=4, help="SIGKILLs (pool child, worker, ...)")
    p.add_argument("--smtp-rate", type=int, default=20, help="shared SMTP limit, per second")
    p.add_argument("--workers", type=int, default=3, help="prefork workers, concurrency 2")
    p.add_argument("--submit-s", type=float, default=90.0, help="submission window, seconds")
    p.add_argument("--drain-timeout-s", type=float, default=300.0)
    p.add_argument("--stall-s", type=float, default=90.0, help="give up after no progress")
    p.add_argument("--database-url", help="postgresql+psycopg://... (an empty database)")
    p.add_argument("--quick", action="store_true", help="200 cases, 2 kills, 20 s: a smoke run")
    args = p.parse_args(argv)
    if args.quick:
        args.cases, args.kills, args.submit_s, args.smtp_rate = 200, 2, 20.0, 10
        args.workers = min(args.workers, 2)
    return args


def configure(args: argparse.Namespace, redis_url: str, tmp: Path, smtp_port: int) -> None:
    """bench/run.py's environment, then this run's prefix, limits, SMTP and fast recovery."""
    set_environment(redis_url, tmp)
    os.environ.update({
        "KEY_PREFIX": KEY_PREFIX,
        "DATABASE_URL": args.database_url or f"sqlite:///{tmp / 'soak.db'}",
        "SMTP_HOST": HOST,
        "SMTP_PORT": str(smtp_port),
        "RATE_LIMITS": json.dumps({"smtp": f"{args.smtp_rate}/second", "llm": "60/minute"}),
        "API_RATE_LIMITS": "{}",  # one client submits everything; the API limit is not tested
        "TRIAGE_ENGINE": "rules",
        "OPERATOR_EMAILS": "[]",
        "REAPER_INTERVAL_S": "2",
        # Lost messages (a broker connection broken mid-delivery) come back within a minute.
        "ORPHAN_AFTER_S": "30",
        "ORPHAN_SWEEP_INTERVAL_S": "10",
        "WORKER_HEARTBEAT_S": "1",
        "WORKER_HEARTBEAT_TTL_S": "4",
        "MAILBOX_DIR": str(tmp / "mailbox"),
    })  # fmt: skip


def soak(args: argparse.Namespace, stack: Stack, mail: MailRecorder) -> dict[str, Any]:
    from backend.core.security.tokens import issue_token

    res: dict[str, Any] = {}
    stack.start_api_and_beat()
    for _ in range(args.workers):
        stack.start_worker(wait=False)
    stack.wait_ready(list(stack.workers))
    say(f"stack up: API :{stack.api_port}, {args.workers} workers, beat; submitting")
    units = plan_units(args.cases, args.submit_s, secrets.token_hex(3))
    stats = LoadStats()
    stop = threading.Event()
    plan = chaos_plan(args.kills, args.submit_s)
    chaos = threading.Thread(target=run_chaos, args=(stack, plan, stop), daemon=True)
    supervisor = threading.Thread(target=stack.supervise, args=(stop,), daemon=True)
    chaos.start()
    supervisor.start()
    try:
        asyncio.run(run_load(stack.api_port, issue_token("soak-client", "client"), units, stats))
        chaos.join()
        say(f"submitted: {len(stats.accepted)} accepted in {stats.elapsed_s:.0f} s; draining")
        res["drain"] = wait_for_drain(stats, mail, args.drain_timeout_s, args.stall_s)
    finally:
        stop.set()
        supervisor.join()
    records = load_records(stack)
    res["load"] = {
        "cases_submitted": stats.cases_submitted, "requests": stats.requests,
        "accepted": len(stats.accepted), "statuses": dict(stats.statuses),
        "connection_errors": stats.connection_errors, "units_retried": stats.units_retried,
        "queued_false": stats.queued_false, "replayed": stats.replayed,
        "rejected": stats.rejected[:10], "given_up": stats.given_up,
        "elapsed_s": round(stats.elapsed_s, 1), "started_at": stats.started_at,
    }  # fmt: skip
    res["chaos"] = [e.__dict__ for e in stack.events]
    res["outcome"] = lost_and_duplicates(stats, mail, records, stats.started_at)
    res["recovery"] = recovery(records, stack.events)
    res["reaper"] = requeues(records, stats.started_at)
    res["redis_restart"] = after_redis(records, stack.events, stats, mail)
    res["rate"] = rate_error(mail, records, float(args.smtp_rate))
    return res


def failures(res: dict[str, Any]) -> list[str]:
    out, rec = res.get("outcome", {}), res.get("recovery", {})
    found = []
    if out.get("cases_lost"):
        found.append(f"{out['cases_lost']} cases lost")
    if out.get("duplicate_emails"):
        found.append(f"{out['duplicate_emails']} duplicate e-mails")
    if rec.get("never_restarted"):
        found.append(f"{rec['never_restarted']} interrupted tasks never restarted")
    if (rec.get("worst_s") or 0) > 60:
        found.append(f"worst recovery {rec['worst_s']:.1f} s > 60 s")
    return found


def _raise_interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    os.chdir(ROOT)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="ltqsoak-"))
    res: dict[str, Any] = {
        "command": exact_command(),
        "params": {k: getattr(args, k) for k in ("cases", "kills", "smtp_rate", "workers",
                                                 "submit_s", "quick")},
        "database": "postgresql" if args.database_url else "sqlite",
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "code_at_start": code_state(),
    }  # fmt: skip
    from aiosmtpd.controller import Controller

    from backend.devtools.redis_server import RedisServer, free_port

    server = RedisServer(data_dir=tmp / "redis", persistent=True)
    mail = MailRecorder()
    smtp = Controller(mail, hostname=HOST, port=free_port())
    smtp.start()
    children: Children | None = None

    def cleanup() -> None:
        if children is not None:
            children.stop_all()
        with contextlib.suppress(Exception):
            smtp.stop()
        server.stop()

    with guarded_run(res, cleanup):
        configure(args, server.url, tmp, smtp.port)
        from backend.devtools.commands import migrate_command
        from bench.procs import Children

        migrated = subprocess.run(migrate_command(), cwd=ROOT, capture_output=True, timeout=120)
        if migrated.returncode != 0:
            raise RuntimeError(f"migrate failed:\n{migrated.stderr.decode()[-2000:]}")
        import redis

        res["machine"] = machine(
            str(redis.Redis.from_url(server.url).info("server")["redis_version"])
        )
        children = Children(dict(os.environ), ROOT, tmp)
        say(f"soak Redis {server.url}, logs in {tmp}")
        res.update(soak(args, Stack(children, server, free_port()), mail))
    res["failures"] = res.get("failures", []) + failures(res)
    res["wall_s"] = round(time.monotonic() - started, 1)
    res["code_at_end"] = code_state()
    if res["code_at_end"] != res["code_at_start"]:
        res.setdefault("warnings", []).append("backend/ changed during the run")
    RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_PATH.write_text(json.dumps(res, indent=2, default=str) + "\n")
    print()
    print(render(res))
    print(f"results: {RESULTS_PATH.relative_to(ROOT)}")
    if res["failures"]:
        print(f"child logs kept in {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if res["failures"] or res.get("interrupted") else 0


if __name__ == "__main__":
    sys.exit(main())
