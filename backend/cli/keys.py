"""`python -m backend keys generate|rotate|status`: the key-encryption keys (DATA_KEYS).

    keys generate [--id k2]       print a new DATA_KEYS entry (put it first in DATA_KEYS)
    keys rotate                   re-wrap every data key under the newest (first) entry
    keys status                   how many data keys each key-encryption key wraps

Rotation without downtime: put the new entry first in DATA_KEYS (keep the old ones), restart
the processes (rolling), run `keys rotate`, and once `keys status` shows no data key under an
old entry, remove it from DATA_KEYS.

`rotate` is recorded in the audit trail (as an admin from `cli`) before it starts; it does
not start if the row cannot be written.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from backend.cli.acting import add_actor, audit_first


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    generate = sub.add_parser("generate", help="print a new DATA_KEYS entry (id:base64key)")
    generate.add_argument("--id", default=None, help="the key's id (default: random)")
    add_actor(
        sub.add_parser("rotate", help="re-wrap every data key under the newest DATA_KEYS entry")
    )
    sub.add_parser("status", help="data keys per key-encryption key, as JSON")


def run_keys(args: argparse.Namespace) -> int:
    from backend.core.crypto import aead

    if args.action == "generate":
        print(aead.generate_entry(args.id))
        return 0
    from backend.core.crypto import keyring

    if args.action == "rotate":
        from backend.core.enums import AuditAction, ResourceType

        if not audit_first(args, AuditAction.ROTATE_KEYS, ResourceType.DATA_KEYS):
            return 1
        print(json.dumps({"newest": keyring.key_ring().newest_id, **keyring.rotate()}))
        return 0
    print(json.dumps({"newest": keyring.key_ring().newest_id, **keyring.counts_by_kek()}))
    return 0


def ensure_local_key_file(path: Path) -> bool:
    """Write a fresh key-encryption key to `path` (mode 0600) if it does not exist; used by
    `make up` for local runs only. True if it wrote one."""
    from backend.core.crypto import aead

    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(aead.generate_entry("local1") + "\n")
    return True
