"""`python -m backend check-config` and `python -m backend audit export|verify`. Reading the
trail is itself recorded in it (as an admin from `cli`) before anything is read."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

import orjson

from backend.cli.acting import add_actor, audit_first

__all__ = ["add_arguments", "run_audit", "run_check_config"]


def _when(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def add_arguments(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from backend.core.security.config_check import Process

    check = sub.add_parser(
        "check-config", help="print the configuration verdicts; exit 1 if any is fatal"
    )
    check.add_argument(
        "--process",
        action="append",
        choices=[p.value for p in Process],
        help="only the verdicts of this process (repeatable; default: all)",
    )
    audit = sub.add_parser("audit", help="export or verify the audit trail")
    audit_sub = audit.add_subparsers(dest="action", required=True)
    export = audit_sub.add_parser("export", help="rows as JSON lines, oldest first")
    export.add_argument("--since", type=_when, required=True)
    export.add_argument("--until", type=_when)
    export.add_argument("--actor", dest="filter_actor", help="only this actor's rows")
    export.add_argument("--action", dest="audit_action")
    export.add_argument("--output", "-o", help="file to write (default: stdout)")
    add_actor(export, "--as")  # `--actor` filters the rows here
    add_actor(
        audit_sub.add_parser("verify", help="check the hash chain; exit 1 on a changed or lost row")
    )


def run_check_config(args: argparse.Namespace) -> int:
    from backend.core.security.config_check import Process, verdicts
    from backend.core.settings import Settings

    cfg = Settings()
    processes = [Process(p) for p in args.process] if args.process else None
    found = verdicts(cfg, processes)
    print(f"ENVIRONMENT={cfg.app.environment}")
    for verdict in found:
        print(verdict.line())
    fatal = sum(v.fatal for v in found)
    print(f"{fatal} fatal, {len(found) - fatal} warning(s)")
    return 1 if fatal else 0


def run_audit(args: argparse.Namespace) -> int:
    from backend.core.enums import AuditAction, ResourceType
    from backend.platform import audit

    action = AuditAction.VERIFY_AUDIT if args.action == "verify" else AuditAction.EXPORT_AUDIT
    if not audit_first(args, action, ResourceType.AUDIT):
        return 1
    if args.action == "verify":
        result = audit.verify()
        if result.ok:
            print(f"audit trail intact: {result.rows} rows")
            return 0
        print(f"audit trail broken at row {result.seq}: {result.problem}", file=sys.stderr)
        return 1
    flt = audit.AuditFilter(
        actor=args.filter_actor, action=args.audit_action, since=args.since, until=args.until
    )
    out = open(args.output, "wb") if args.output else sys.stdout.buffer  # noqa: SIM115
    try:
        cursor, count = 0, 0
        while True:
            items, next_seq = audit.page(flt, after_seq=cursor, limit=1000)
            for item in items:
                out.write(orjson.dumps(item) + b"\n")
            count += len(items)
            if next_seq is None:
                break
            cursor = next_seq
    finally:
        if args.output:
            out.close()
        else:
            out.flush()
    print(f"{count} rows", file=sys.stderr)
    return 0
