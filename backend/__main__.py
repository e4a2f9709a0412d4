"""Command line: `python -m backend token|migrate ...`."""

from __future__ import annotations

import argparse
import sys

from backend.enums import Role


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m backend")
    sub = parser.add_subparsers(dest="command", required=True)
    token = sub.add_parser("token", help="print a bearer token and nothing else")
    token.add_argument("--user", required=True)
    token.add_argument("--role", required=True, choices=[r.value for r in Role])
    token.add_argument("--ttl", type=int, default=None, help="lifetime in seconds")
    sub.add_parser("migrate", help="apply database migrations")
    args = parser.parse_args(argv)

    if args.command == "token":
        from backend.security.auth import issue_token

        print(issue_token(args.user, args.role, ttl_s=args.ttl))
        return 0
    if args.command == "migrate":
        from backend.db.migrate import upgrade

        upgrade()
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
