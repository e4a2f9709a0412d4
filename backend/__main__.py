"""Command line: `python -m backend token|migrate|dead-letter|batch ...`."""

from __future__ import annotations

import argparse
import sys

from backend.core.enums import DeadLetterReason, Role


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m backend")
    sub = parser.add_subparsers(dest="command", required=True)
    token = sub.add_parser("token", help="print a bearer token and nothing else")
    token.add_argument("--user", required=True)
    token.add_argument("--role", required=True, choices=[r.value for r in Role])
    token.add_argument("--ttl", type=int, default=None, help="lifetime in seconds")
    sub.add_parser("migrate", help="apply database migrations")
    dead = sub.add_parser("dead-letter", help="list, replay or discard dead-lettered tasks")
    dead_sub = dead.add_subparsers(dest="action", required=True)
    dead_list = dead_sub.add_parser("list", help="open entries, newest first, as JSON lines")
    dead_list.add_argument("--name")
    dead_list.add_argument("--reason", choices=[r.value for r in DeadLetterReason])
    dead_list.add_argument("--limit", type=int, default=50)
    dead_sub.add_parser("replay", help="replay one entry").add_argument("task_id")
    replay_all = dead_sub.add_parser("replay-all", help="replay every open entry that matches")
    replay_all.add_argument("--name")
    replay_all.add_argument("--queue")
    replay_all.add_argument("--reason", choices=[r.value for r in DeadLetterReason])
    dead_sub.add_parser("discard", help="discard one entry").add_argument("task_id")
    batch = sub.add_parser("batch", help="submit a file of cases for triage and follow it")
    batch_sub = batch.add_subparsers(dest="action", required=True)
    from backend.cli.batch import add_arguments, submit_command

    add_arguments(batch_sub.add_parser("submit", help="submit a JSONL/JSON/CSV file of cases"))
    args = parser.parse_args(argv)

    if args.command == "token":
        from backend.core.security.tokens import issue_token

        print(issue_token(args.user, args.role, ttl_s=args.ttl))
        return 0
    if args.command == "migrate":
        from backend.core.db.migrate import upgrade

        upgrade()
        return 0
    if args.command == "dead-letter":
        return _dead_letter(args)
    if args.command == "batch":
        return submit_command(args)
    return 2


def _dead_letter(args: argparse.Namespace) -> int:
    import importlib
    import json

    from backend.adapters.redis_clients import get_redis
    from backend.core.errors import PlatformError
    from backend.core.settings import settings
    from backend.platform import dead_letters
    from backend.platform.enqueue import CeleryTaskService

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


if __name__ == "__main__":
    sys.exit(main())
