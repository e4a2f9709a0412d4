"""backend/core/randomness.py: ids from os.urandom read in blocks, never handed out twice."""

from __future__ import annotations

import os
import uuid

from backend.core import randomness


def test_ids_are_version_4_and_never_repeat_across_blocks() -> None:
    ids = [randomness.uuid4() for _ in range(1000)]  # several 4 KiB blocks
    assert all(isinstance(i, uuid.UUID) and i.version == 4 for i in ids)
    assert len(set(ids)) == len(ids)
    tokens = {randomness.token_hex(8) for _ in range(1000)}
    assert len(tokens) == 1000 and all(len(t) == 16 for t in tokens)


def test_a_request_larger_than_a_block_is_served_whole() -> None:
    assert len(randomness.random_bytes(10_000)) == 10_000


def test_a_forked_child_does_not_reuse_its_parents_bytes() -> None:
    randomness.random_bytes(1)  # the parent now holds a partly used block
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.write(write, randomness.random_bytes(16))
        os._exit(0)
    os.close(write)
    child = os.read(read, 16)
    os.waitpid(pid, 0)
    os.close(read)
    assert child != randomness.random_bytes(16)
