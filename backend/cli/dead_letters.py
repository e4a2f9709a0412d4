"""`python -m backend dead-letter list|replay|replay-all|discard`: the dead-letter store from
a shell, with the same checks as the API, each command in the audit trail (as an admin from
`cli`, backend/cli/acting.py): replays and discards in the entry's own transaction, a list
(masked, or `--raw`) recorded before it is read."""

from __future__ import annotations

import argparse
import importlib
import json
import sys

from backend.adapters.redis_clients import get_redis
from backend.cli.acting import cli_context
from backend.core.enums import AuditAction, ResourceType
from backend.core.errors import PlatformError
from backend.core.settings import settings
from backend.platform import dead_letters
from backend.platform.enqueue import CeleryTaskService


def run_dead_letter(args: argparse.Namespace) -> int:
    for module in settings.tasks.extra_modules:  # replay knows the task names the workers know
        importlib.import_module(module)

    def service() -> CeleryTaskService:
        return CeleryTaskService(get_redis())

    ctx = cli_context(args)
    try:
        if args.action == "list":
            flt = dead_letters.DeadLetterFilter(name=args.name, reason=args.reason)
            action = (
                AuditAction.READ_DEAD_LETTER_ARGS if args.raw else AuditAction.LIST_DEAD_LETTERS
            )
            ctx.record_alone(action, ResourceType.DEAD_LETTER, None)
            for item in dead_letters.list_entries(flt, limit=args.limit, raw=args.raw).items:
                print(json.dumps(item))
        elif args.action == "replay":
            print(
                dead_letters.replay(
                    args.task_id, requested_by=ctx.actor, service=service(), audit=ctx
                )
            )
        elif args.action == "replay-all":
            flt = dead_letters.DeadLetterFilter(
                name=args.name, queue=args.queue, reason=args.reason
            )
            replayed = dead_letters.replay_many(
                flt, requested_by=ctx.actor, service=service(), audit=ctx
            )
            print(json.dumps(replayed))
        elif args.action == "discard":
            dead_letters.discard(args.task_id, ctx)
            print(f"discarded {args.task_id}")
    except PlatformError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    return 0
