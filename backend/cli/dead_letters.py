"""`python -m backend dead-letter list|replay|replay-all|discard`: the dead-letter store from
a shell, with the same checks as the API."""

from __future__ import annotations

import argparse
import importlib
import json
import sys

from backend.adapters.redis_clients import get_redis
from backend.core.errors import PlatformError
from backend.core.settings import settings
from backend.platform import dead_letters
from backend.platform.enqueue import CeleryTaskService


def run_dead_letter(args: argparse.Namespace) -> int:
    for module in settings.tasks.extra_modules:  # replay knows the task names the workers know
        importlib.import_module(module)

    def service() -> CeleryTaskService:
        return CeleryTaskService(get_redis())

    try:
        if args.action == "list":
            flt = dead_letters.DeadLetterFilter(name=args.name, reason=args.reason)
            for item in dead_letters.list_entries(flt, limit=args.limit).items:
                print(json.dumps(item))
        elif args.action == "replay":
            print(dead_letters.replay(args.task_id, requested_by="cli", service=service()))
        elif args.action == "replay-all":
            flt = dead_letters.DeadLetterFilter(
                name=args.name, queue=args.queue, reason=args.reason
            )
            print(json.dumps(dead_letters.replay_many(flt, requested_by="cli", service=service())))
        elif args.action == "discard":
            dead_letters.discard(args.task_id)
            print(f"discarded {args.task_id}")
    except PlatformError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    return 0
