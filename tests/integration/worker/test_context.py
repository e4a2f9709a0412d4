"""The worker's per-process handles across a fork (billiard forks replacement pool children
from a main process that already holds its status manager's connection)."""

from __future__ import annotations

import os
from typing import Any

from backend.worker import context


def test_a_forked_child_builds_its_own_status_connection(redis_client: Any) -> None:
    parent = context.status_manager()
    assert parent.redis.ping()
    pid = os.fork()
    if pid == 0:  # the child: exit code 0 only if it has its own manager and connection
        code = 1
        try:
            child = context.status_manager()
            if child is not parent and child.redis.connection is not parent.redis.connection:
                child.redis.set("test:fork", "child")
                code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    # The parent's held connection was not disturbed by the child.
    assert context.status_manager() is parent
    assert parent.redis.get("test:fork") == "child"
