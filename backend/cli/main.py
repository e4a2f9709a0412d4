"""The `python -m backend` command line: token, migrate, dead-letter, batch, keys, check-config,
audit, and the operators' controls: queues, breakers, tasks, outbox.

Each command imports what it needs when it runs, so `--help` and `token` start fast."""

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
    token.add_argument("--email", default=None, help="the account's own e-mail address")
    sub.add_parser("migrate", help="apply database migrations")
    from backend.cli.acting import add_actor

    dead = sub.add_parser("dead-letter", help="list, replay or discard dead-lettered tasks")
    dead_sub = dead.add_subparsers(dest="action", required=True)
    dead_list = add_actor(
        dead_sub.add_parser("list", help="open entries, newest first, as JSON lines")
    )
    dead_list.add_argument("--name")
    dead_list.add_argument("--reason", choices=[r.value for r in DeadLetterReason])
    dead_list.add_argument("--limit", type=int, default=50)
    dead_list.add_argument("--raw", action="store_true", help="unmasked arguments (audited)")
    add_actor(dead_sub.add_parser("replay", help="replay one entry")).add_argument("task_id")
    replay_all = add_actor(
        dead_sub.add_parser("replay-all", help="replay every open entry that matches")
    )
    replay_all.add_argument("--name")
    replay_all.add_argument("--queue")
    replay_all.add_argument("--reason", choices=[r.value for r in DeadLetterReason])
    add_actor(dead_sub.add_parser("discard", help="discard one entry")).add_argument("task_id")
    batch = sub.add_parser("batch", help="submit a file of cases for triage and follow it")
    batch_sub = batch.add_subparsers(dest="action", required=True)
    from backend.cli.batch import add_arguments, submit_command

    add_arguments(batch_sub.add_parser("submit", help="submit a JSONL/JSON/CSV file of cases"))
    from backend.cli.keys import add_arguments as add_keys_arguments

    add_keys_arguments(sub.add_parser("keys", help="generate, rotate or count the DATA_KEYS"))
    from backend.cli import controls

    controls.add_parsers(sub)
    from backend.cli.security import add_arguments as add_security_arguments

    add_security_arguments(sub)
    args = parser.parse_args(argv)

    if args.command == "token":
        from backend.core.errors import InvalidToken
        from backend.core.security.tokens import issue_token

        try:
            print(issue_token(args.user, args.role, ttl_s=args.ttl, email=args.email))
        except (ValueError, InvalidToken) as exc:
            print(f"cannot issue a token: {exc}", file=sys.stderr)
            return 2
        return 0
    if args.command == "check-config":
        from backend.cli.security import run_check_config

        return run_check_config(args)
    if args.command == "audit":
        from backend.cli.security import run_audit

        return run_audit(args)
    if args.command == "migrate":
        from backend.core.db.migrate import upgrade

        upgrade()
        return 0
    if args.command == "dead-letter":
        from backend.cli.dead_letters import run_dead_letter

        return run_dead_letter(args)
    if args.command == "batch":
        return submit_command(args)
    if args.command == "keys":
        from backend.cli.keys import run_keys

        return run_keys(args)
    if args.command in controls.COMMANDS:
        return controls.run(args)
    return 2
