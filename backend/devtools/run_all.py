"""Run the whole stack locally (`make up`): Redis, SMTP sink, API, workers, beat and Flower.

One terminal, every process's output prefixed with its name. A process that crashes comes
back after a backoff, each restart logged (backend/devtools/supervisor.py); Ctrl-C stops all,
and so does a crash loop (SUPERVISOR_CRASH_MAX exits within SUPERVISOR_CRASH_WINDOW_S).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from backend.devtools.commands import (
    WORKER_GROUPS,
    api_command,
    beat_command,
    flower_command,
    migrate_command,
    smtp_sink_command,
    token_command,
    worker_command,
)
from backend.devtools.redis_server import RedisServer, free_port, redis_answers
from backend.devtools.supervisor import (
    CrashLoop,
    ProcessProgram,
    RestartPolicy,
    Supervisor,
    say,
)

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_REDIS_PORT = 6379
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
READY_TIMEOUT_S = 60.0
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

_print_lock = threading.Lock()


class StartupError(Exception):
    """A step before the stack is up failed; the message says which."""


class Shutdown(Exception):
    """Raised in the main thread by SIGINT (Ctrl-C) or SIGTERM, to unwind and stop everything."""


class RedisProgram:
    """The Redis `make up` started, supervised like the others; stopped last, by run_all."""

    name = "redis"

    def __init__(self, server: RedisServer) -> None:
        self.server = server

    def start(self) -> None:
        self.server.start()  # blocks until it answers (no-op if it runs)

    def exit_code(self) -> int | None:
        process = self.server.process
        return None if process is None else process.poll()

    def pid(self) -> int | None:
        process = self.server.process
        return None if process is None else process.pid

    def terminate(self) -> None:
        """Left running until the workers have shut down: run_all stops it after them."""

    def kill_group(self) -> None:
        """See terminate."""


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


def _ensure_redis(url: str, var_dir: Path) -> RedisServer | None:
    """None if `url` answers; else a Redis of our own, persistent in <var>/redis, on the
    port `url` names if it is a free local one."""
    if redis_answers(url):
        return None
    parts = urlsplit(url)
    wanted = parts.port or DEFAULT_REDIS_PORT
    local = (parts.hostname or "") in LOCAL_HOSTS
    port = wanted if local and _port_is_free(wanted) else free_port()
    say(f"no Redis answers at {_redacted(url)}: starting one on port {port} in {var_dir}/redis")
    return RedisServer(port, data_dir=var_dir / "redis", persistent=True)


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
    while time.monotonic() < deadline:
        supervisor.tick()
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
    var_dir = settings.supervisor.var_dir
    var_dir.mkdir(parents=True, exist_ok=True)
    redis_server: RedisServer | None = None
    supervisor = Supervisor(
        RestartPolicy(
            crash_max=settings.supervisor.crash_max,
            crash_window_s=settings.supervisor.crash_window_s,
            backoff_base_s=settings.supervisor.backoff_base_s,
            backoff_max_s=settings.supervisor.backoff_max_s,
        ),
        pids_file=var_dir / "run" / "pids.json",
    )
    try:
        redis_server = _ensure_redis(settings.redis.url, var_dir)
        redis_url = redis_server.url if redis_server else settings.redis.url
        os.environ["REDIS_URL"] = redis_url
        os.environ["ENVIRONMENT"] = settings.app.environment
        if settings.privacy.data_keys is None:
            # A local key-encryption key for personal data at rest, made once (mode 0600).
            from backend.cli.keys import ensure_local_key_file

            if ensure_local_key_file(settings.privacy.data_keys_file):
                say(f"created a local data key in {settings.privacy.data_keys_file} (0600)")
        flower_password = settings.flower.password or secrets.token_urlsafe(12)
        os.environ["FLOWER_PASSWORD"] = flower_password
        # The API's HTTP metrics, merged across its processes; emptied at every start.
        metrics_dir = var_dir / "prometheus"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        if redis_server is not None:
            supervisor.spawn(RedisProgram(redis_server))

        mail_note = f"SMTP {settings.smtp.host}:{settings.smtp.port} (real server, not started)"
        if settings.smtp.host in LOCAL_HOSTS:
            mailbox = Path(os.environ.setdefault("MAILBOX_DIR", str(var_dir / "mailbox")))
            supervisor.spawn(ProcessProgram("smtp", smtp_sink_command(settings.smtp.port)))
            mail_note = f"SMTP sink on 127.0.0.1:{settings.smtp.port}, messages in {mailbox}"

        say("migrating the database")
        _run_once("migrate", migrate_command(), timeout=300, quiet_stdout=False)

        api_env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
        supervisor.spawn(ProcessProgram("api", api_command(settings.api.port), api_env))
        autoscale = (settings.pool.max, settings.pool.min)
        for group, queues in WORKER_GROUPS.items():
            command = worker_command(queues=queues, hostname=f"{group}@%h", autoscale=autoscale)
            supervisor.spawn(ProcessProgram(f"w-{group}", command))
        supervisor.spawn(ProcessProgram("beat", beat_command()))
        supervisor.spawn(
            ProcessProgram(
                "flower",
                flower_command(
                    port=settings.flower.port, user=settings.flower.user, password=flower_password
                ),
            )
        )
        # The token command may log to stdout too; the token is its last line.
        output = _run_once(
            "token", token_command("operator", "operator"), timeout=60, quiet_stdout=True
        )
        token = (output.strip().splitlines() or ["(none)"])[-1]
        _wait_for_port(settings.api.port, supervisor)

        api = f"http://127.0.0.1:{settings.api.port}"
        groups = "; ".join(f"{g}: {' '.join(q)}" for g, q in WORKER_GROUPS.items())
        redis_note = f"started by run_all, data in {var_dir}/redis" if redis_server else "existing"
        banner = [
            f"API        {api}",
            f"API docs   {api}/docs",
            f"Metrics    {api}/metrics",
            f"Console    {api}/console#token={token}",
            f"Flower     http://127.0.0.1:{settings.flower.port}  "
            f"(user {settings.flower.user}, password {flower_password})",
            f"Operator token (Authorization: Bearer ...):\n{token}",
            f"Redis      {_redacted(redis_url)} ({redis_note})",
            f"Mail       {mail_note}",
            f"Workers    {groups} (pool autoscaled {settings.pool.min}-{settings.pool.max})",
            "Crashed processes restart; Ctrl-C to stop",
        ]
        with _print_lock, contextlib.suppress(OSError):
            print("\n" + "\n".join(banner) + "\n", flush=True)
        while True:
            time.sleep(0.5)
            supervisor.tick()
    except Shutdown:
        say("stopping")
        return 0
    except CrashLoop as error:
        say(f"{error}: stopping everything")
        return 1
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
