"""`python -m backend queues|breakers|tasks|outbox ...`: the operators' controls from a shell,
through the same code as the API (backend/platform/controls.py). Actions (and reading a task)
are logged and recorded in the SQL audit trail with who did it, as an admin from `cli`
(backend/cli/acting.py); listing queues, breakers and the outbox backlog is not (no personal
data). Output is JSON."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import Any

from backend.adapters.redis_clients import get_redis
from backend.cli.acting import add_actor, cli_context
from backend.core.enums import AuditAction, ResourceType
from backend.core.errors import PlatformError, TaskNotFound
from backend.core.logging import configure_logging
from backend.core.settings import settings
from backend.platform import controls
from backend.platform.audit import AuditContext
from backend.platform.enqueue import CeleryTaskService
from backend.platform.outbox import Outbox

COMMANDS = ("queues", "breakers", "tasks", "outbox")


def add_parsers(sub: Any) -> None:
    queues = sub.add_parser("queues", help="list, pause, resume or purge a queue")
    queues_sub = queues.add_subparsers(dest="action", required=True)
    queues_sub.add_parser("list", help="depth, oldest age and paused state of every queue")
    for action, text in (
        ("pause", "workers stop taking its messages (they stay) until resumed"),
        ("resume", "workers take its messages again"),
        ("purge", "remove its waiting messages; their tasks become REVOKED"),
    ):
        add_actor(queues_sub.add_parser(action, help=text)).add_argument("name")
    breakers = sub.add_parser("breakers", help="list, open, close or reset a circuit breaker")
    breakers_sub = breakers.add_subparsers(dest="action", required=True)
    breakers_sub.add_parser("list", help="every configured breaker's state")
    for action, text in (
        ("open", "open it and hold it open until closed"),
        ("close", "close it"),
        ("reset", "close it and clear its counters"),
    ):
        add_actor(breakers_sub.add_parser(action, help=text)).add_argument("name")
    tasks = sub.add_parser("tasks", help="show or cancel a task")
    tasks_sub = tasks.add_subparsers(dest="action", required=True)
    add_actor(tasks_sub.add_parser("show", help="a task's status and history")).add_argument(
        "task_id"
    )
    cancel = add_actor(
        tasks_sub.add_parser("cancel", help="cancel a queued task (--terminate: running)")
    )
    cancel.add_argument("task_id")
    cancel.add_argument("--terminate", action="store_true", help="stop it even if it runs")
    outbox = sub.add_parser("outbox", help="the outbox backlog")
    outbox.add_subparsers(dest="action", required=True).add_parser(
        "status", help="tasks accepted while Redis was down, not yet published"
    )


def run(args: argparse.Namespace) -> int:
    # Logs (the audit line of each action) on stderr; stdout is the JSON answer.
    configure_logging(settings.app.log_level, json_output=settings.app.log_json)
    for module in settings.tasks.extra_modules:
        importlib.import_module(module)
    client = get_redis()
    try:
        print(json.dumps(_dispatch(args, client, cli_context(args)), indent=2, default=str))
    except PlatformError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    return 0


def _dispatch(args: argparse.Namespace, client: Any, ctx: AuditContext) -> Any:
    if args.command == "queues":
        if args.action == "list":
            service = CeleryTaskService(client)
            paused = controls.QueueControls(client).paused()
            return [
                {**info, "paused": name in paused}
                for name, info in service.status.queues_status().items()
            ]
        return controls.control_queue(client, args.name, args.action, ctx)
    if args.command == "breakers":
        if args.action == "list":
            return controls.breaker_states(client)
        return controls.change_breaker(client, args.name, args.action, ctx)
    if args.command == "tasks":
        service = CeleryTaskService(client)
        if args.action == "show":
            record = ctx.run(
                AuditAction.READ_TASK, ResourceType.TASK, args.task_id,
                service.status.get, args.task_id,
            )  # fmt: skip
            if record is None:
                raise TaskNotFound(args.task_id)
            return record
        previous = ctx.run(
            AuditAction.CANCEL_TASK, ResourceType.TASK, args.task_id,
            service.cancel, args.task_id, terminate=args.terminate, requested_by=ctx.actor,
        )  # fmt: skip
        controls.record_action(
            client, ctx.actor, "task_cancel", args.task_id, terminate=args.terminate
        )
        return {"task_id": args.task_id, "previous_state": previous, "state": "REVOKED"}
    return Outbox.backlog()
