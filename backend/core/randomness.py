"""Random ids from the OS's CSPRNG, read in blocks: `uuid4()` and `token_hex(n)` as the standard
library's, one `os.urandom` call per 4 KiB instead of one per id.

Why (issue 13): `os.urandom` releases the GIL for its system call. Under load the API's event
loop made four such calls per request (request id, trace and span ids, task id), and each time
the audit writer thread took the GIL and kept it for up to the switch interval (5 ms) before
the loop ran again: most of the API's latency under 20 clients. The bytes are the same
`os.urandom` bytes, each handed out once; a forked child starts with a fresh block.
"""

from __future__ import annotations

import os
import threading
import uuid

__all__ = ["random_bytes", "token_hex", "uuid4"]

_BLOCK = 4096


class _Pool:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.buf = b""
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n > _BLOCK:
            return os.urandom(n)
        with self.lock:
            if self.pos + n > len(self.buf):
                self.buf, self.pos = os.urandom(_BLOCK), 0
            out = self.buf[self.pos : self.pos + n]
            self.pos += n
            return out


_pool = _Pool()
# A forked child must not hand out the bytes its parent hands out too.
os.register_at_fork(after_in_child=_pool.reset)


def random_bytes(n: int) -> bytes:
    """`n` bytes from os.urandom, never handed out twice in this process."""
    return _pool.take(n)


def token_hex(nbytes: int) -> str:
    """As secrets.token_hex."""
    return _pool.take(nbytes).hex()


def uuid4() -> uuid.UUID:
    """As uuid.uuid4."""
    return uuid.UUID(bytes=_pool.take(16), version=4)
