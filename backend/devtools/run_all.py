"""Run the whole stack locally (`make up`): Redis, SMTP sink, API, worker, beat and Flower.

A small supervisor: one terminal, every process's output prefixed with its name, Ctrl-C stops all.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit, urlunsplit

from backend.devtools.commands import (
    api_command,
    beat_command,
    flower_command,
    migrate_command,
    smtp_sink_command,
    token_command,
    worker_command,
)
from backend.devtools.redis_server import RedisServer, free_port, redis_answers

ROOT = Path(__file__).resolve().parents[2]
VAR_DIR = ROOT / "var"
DEFAULT_REDIS_PORT = 6379
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
STOP_TIMEOUT_S = 10.0
READY_TIMEOUT_S = 60.0
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

_print_lock = threading.Lock()


class StartupError(Exception):
    """A step before the stack is up failed; the message says which."""


class Shutdown(Exception):
    """Raised in the main thread by SIGINT (Ctrl-C) or SIGTERM, to unwind and stop everything."""


def say(line: str, name: str = "run_all") -> None:
    # A closed terminal or pipe must not abort the shutdown of the children.
    with _print_lock, contextlib.suppress(OSError):
        print(f"{name:>8} | {line}", flush=True)


def _pump(name: str, stream: IO[bytes]) -> None:
    for raw in iter(stream.readline, b""):
        say(raw.decode(errors="replace").rstrip(), name)
    stream.close()


class Supervisor:
    """Long-running children, each in its own process group, and their output threads."""

    def __init__(self) -> None:
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self._pumps: list[threading.Thread] = []

    def spawn(self, name: str, command: list[str]) -> None:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            # Own group: the terminal's Ctrl-C reaches only us, and we stop children in order.
            start_new_session=True,
        )
        assert process.stdout is not None
        pump = threading.Thread(target=_pump, args=(name, process.stdout), daemon=True)
        pump.start()
        self.children[name] = process
        self._pumps.append(pump)

    def exited(self) -> tuple[str, int] | None:
        for name, process in self.children.items():
            code = process.poll()
            if code is not None:
                return name, code
        return None

    def stop_all(self) -> None:
        # SIGTERM goes to each group leader only: a Celery worker's warm shutdown lets running
        # tasks finish, whereas its pool processes die at once on a SIGTERM of their own.
        for process in self.children.values():
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for name, process in self.children.items():
            if process.returncode is not None:
                continue  # reaped earlier: its group id may belong to someone else by now
            if not _exited_unreaped(process.pid, deadline):
                say(f"{name} still running after {STOP_TIMEOUT_S:.0f} s: SIGKILL")
            # The leader is not reaped yet, so the group is still its own: this also ends
            # whatever the child left behind in it.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        for pump in self._pumps:
            pump.join(timeout=1)


def _exited_unreaped(pid: int, deadline: float) -> bool:
    """Wait until `pid` exits or `deadline` passes, leaving it unreaped (a zombie) either way."""
    while True:
        if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def _ensure_redis(url: str) -> RedisServer | None:
    """None if `url` answers; else a Redis of our own, persistent in var/redis."""
    if redis_answers(url):
        return None
    port = DEFAULT_REDIS_PORT if _port_is_free(DEFAULT_REDIS_PORT) else free_port()
    say(f"no Redis answers at {_redacted(url)}: starting one on port {port} (data in var/redis)")
    return RedisServer(port, data_dir=VAR_DIR / "redis", persistent=True)


def _run_once(name: str, command: list[str], timeout: float, *, quiet_stdout: bool) -> str:
    """Run a short command to completion and return its stdout; StartupError if it fails."""
    result = subprocess.run(command, capture_output=True, timeout=timeout, check=False)
    stdout = result.stdout.decode(errors="replace")
    for line in result.stderr.decode(errors="replace").splitlines():
        say(line, name)
    if result.returncode != 0 or not quiet_stdout:
        for line in stdout.splitlines():
            say(line, name)
    if result.returncode != 0:
        shown = " ".join(["python", *command[1:]])
        raise StartupError(f"`{shown}` failed with exit code {result.returncode}")
    return stdout


def _wait_for_port(port: int, supervisor: Supervisor) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline and supervisor.exited() is None:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.2)


def _dotenv_sets(name: str) -> bool:
    path = ROOT / ".env"
    if not path.exists():
        return False
    return any(line.strip().startswith(f"{name}=") for line in path.read_text().splitlines())


def _raise_shutdown(signum: int, frame: object) -> None:
    raise Shutdown


def main() -> int:
    os.chdir(ROOT)  # .env, var/ and the children's imports are all relative to the repo root
    VAR_DIR.mkdir(exist_ok=True)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")  # children's lines reach us as they happen
    # Set explicitly: a shell that starts us in the background leaves SIGINT ignored. SIGHUP
    # (terminal closed) reaches only us, the children being in sessions of their own.
    for signum in STOP_SIGNALS:
        signal.signal(signum, _raise_shutdown)

    # The default is production (secure by default); `make up` is local development unless
    # the environment or .env says otherwise.
    if "ENVIRONMENT" not in os.environ and not _dotenv_sets("ENVIRONMENT"):
        os.environ["ENVIRONMENT"] = "development"
    # Imported here, after chdir, so that Settings reads this repo's .env.
    from backend.core.settings import Settings

    settings = Settings()
    redis_server: RedisServer | None = None
    supervisor = Supervisor()
    try:
        redis_server = _ensure_redis(settings.redis.url)
        redis_url = redis_server.url if redis_server else settings.redis.url
        os.environ["REDIS_URL"] = redis_url
        os.environ["ENVIRONMENT"] = settings.app.environment
        flower_password = settings.flower.password or secrets.token_urlsafe(12)
        os.environ["FLOWER_PASSWORD"] = flower_password

        mail_note = f"SMTP {settings.smtp.host}:{settings.smtp.port} (real server, not started)"
        if settings.smtp.host in LOCAL_HOSTS:
            mailbox = Path(os.environ.setdefault("MAILBOX_DIR", str(VAR_DIR / "mailbox")))
            supervisor.spawn("smtp", smtp_sink_command(settings.smtp.port))
            mail_note = f"SMTP sink on 127.0.0.1:{settings.smtp.port}, messages in {mailbox}"

        say("migrating the database")
        _run_once("migrate", migrate_command(), timeout=300, quiet_stdout=False)

        supervisor.spawn("api", api_command(settings.api.port))
        supervisor.spawn("worker", worker_command())
        supervisor.spawn("beat", beat_command())
        supervisor.spawn(
            "flower",
            flower_command(
                port=settings.flower.port, user=settings.flower.user, password=flower_password
            ),
        )
        # The token command may log to stdout too; the token is its last line.
        output = _run_once(
            "token", token_command("operator", "operator"), timeout=60, quiet_stdout=True
        )
        token = (output.strip().splitlines() or ["(none)"])[-1]
        _wait_for_port(settings.api.port, supervisor)

        if (exited := supervisor.exited()) is None:
            api = f"http://127.0.0.1:{settings.api.port}"
            redis_note = "started by run_all, data in var/redis" if redis_server else "existing"
            banner = [
                f"API        {api}",
                f"API docs   {api}/docs",
                f"Metrics    {api}/metrics",
                f"Flower     http://127.0.0.1:{settings.flower.port}  "
                f"(user {settings.flower.user}, password {flower_password})",
                f"Operator token (Authorization: Bearer ...):\n{token}",
                f"Redis      {_redacted(redis_url)} ({redis_note})",
                f"Mail       {mail_note}",
                "Ctrl-C to stop",
            ]
            with _print_lock, contextlib.suppress(OSError):
                print("\n" + "\n".join(banner) + "\n", flush=True)
        while exited is None:
            time.sleep(0.5)
            exited = supervisor.exited()
        name, code = exited
        say(f"{name} exited on its own with code {code}: stopping everything")
        return 1
    except Shutdown:
        say("stopping")
        return 0
    except StartupError as error:
        say(f"{error}: stopping everything")
        return 1
    finally:
        # A second Ctrl-C must not cut the shutdown short and leave orphans behind.
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)
        supervisor.stop_all()
        if redis_server is not None:
            redis_server.stop()
        say("stopped")


if __name__ == "__main__":
    sys.exit(main())
