"""Who acts from the command line, for the audit trail: the OS login (`cli:<login>`) unless
`--actor` names someone, with the admin role (whoever has a shell on the servers can do what
an admin can) and source `cli`. Every command that reads or changes protected data records
its row before it acts, so a command that cannot be audited does nothing and exits 1."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import TYPE_CHECKING

from backend.core.enums import Role

if TYPE_CHECKING:  # imported when a command runs: `--help` and `token` stay fast
    from backend.platform.audit import AuditContext

__all__ = ["SOURCE", "add_actor", "audit_first", "cli_context"]

SOURCE = "cli"


def add_actor(parser: argparse.ArgumentParser, flag: str = "--actor") -> argparse.ArgumentParser:
    parser.add_argument(
        flag, dest="acting", default=None, help="who acts, for the audit (default cli:<login>)"
    )
    return parser


def cli_context(args: argparse.Namespace) -> AuditContext:
    from backend.platform.audit import AuditContext

    actor = getattr(args, "acting", None) or f"cli:{getpass.getuser()}"
    return AuditContext(actor=actor, role=Role.ADMIN.value, source=SOURCE)


def audit_first(args: argparse.Namespace, action: str, resource_type: str) -> bool:
    """Record a command that has no transaction of its own before it runs; False (and why,
    on stderr) if the row could not be written: the command must not run."""
    from backend.core.enums import AuditAction, ResourceType
    from backend.core.errors import AuditUnavailable

    try:
        cli_context(args).record_alone(AuditAction(action), ResourceType(resource_type), None)
    except AuditUnavailable as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return False
    return True
