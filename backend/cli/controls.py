"""`python -m backend queues|breakers|tasks|outbox ...`: the operators' controls from a shell,
through the same code as the API (backend/platform/controls.py). Actions are logged and
audited with who did it: `cli:<login>` unless `--actor` says otherwise. Output is JSON."""

from __future__ import annotations

import argparse
import getpass
import importlib
import json
import sys
from typing import Any

from backend.adapters.redis_clients import get_redis
from backend.core.errors import PlatformError, TaskNotFound
from backend.core.logging import configure_logging
from backend.core.settings import settings
from backend.platform import controls
from backend.platform.enqueue import CeleryTaskService
from backend.platform.outbox import Outbox

COMMANDS = ("queues", "breakers", "tasks", "outbox")


def _acting(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--actor", default=None, help="who acts, for the audit (cli:<login>)")
    return parser


def add_parsers(sub: Any) -> None:
    queues = sub.add_parser("queues", help="list, pause, resume or purge a queue")
    queues_sub = queues.add_subparsers(dest="action", required=True)
    queues_sub.add_parser("list", help="depth, oldest age and paused state of every queue")
    for action, text in (
        ("pause", "workers stop taking its messages (they stay) until resumed"),
        ("resume", "workers take its messages again"),
        ("purge", "remove its waiting messages; their tasks become REVOKED"),
    ):
        _acting(queues_sub.add_parser(action, help=text)).add_argument("name")
    breakers = sub.add_parser("breakers", help="list, open, close or reset a circuit breaker")
    breakers_sub = breakers.add_subparsers(dest="action", required=True)
    breakers_sub.add_parser("list", help="every configured breaker's state")
    for action, text in (
        ("open", "open it and hold it open until closed"),
        ("close", "close it"),
        ("reset", "close it and clear its counters"),
    ):
        _acting(breakers_sub.add_parser(action, help=text)).add_argument("name")
    tasks = sub.add_parser("tasks", help="show or cancel a task")
    tasks_sub = tasks.add_subparsers(dest="action", required=True)
    tasks_sub.add_parser("show", help="a task's status and history").add_argument("task_id")
    cancel = _acting(
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
    actor = getattr(args, "actor", None) or f"cli:{getpass.getuser()}"
    client = get_redis()
    try:
        print(json.dumps(_dispatch(args, client, actor), indent=2, default=str))
    except PlatformError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    return 0


def _dispatch(args: argparse.Namespace, client: Any, actor: str) -> Any:
    if args.command == "queues":
        queue_controls = controls.QueueControls(client)
        if args.action == "list":
            service = CeleryTaskService(client)
            paused = queue_controls.paused()
            return [
                {**info, "paused": name in paused}
                for name, info in service.status.queues_status().items()
            ]
        method = {"pause": queue_controls.pause, "resume": queue_controls.resume,
                  "purge": queue_controls.purge}[args.action]  # fmt: skip
        return method(args.name, actor)
    if args.command == "breakers":
        if args.action == "list":
            return controls.breaker_states(client)
        return controls.set_breaker(client, args.name, args.action, actor)
    if args.command == "tasks":
        service = CeleryTaskService(client)
        if args.action == "show":
            record = service.status.get(args.task_id)
            if record is None:
                raise TaskNotFound(args.task_id)
            return record
        previous = service.cancel(args.task_id, terminate=args.terminate, requested_by=actor)
        controls.record_action(client, actor, "task_cancel", args.task_id, terminate=args.terminate)
        return {"task_id": args.task_id, "previous_state": previous, "state": "REVOKED"}
    return Outbox.backlog()
