"""The process command lines that `make up` and the test fixtures share."""

from __future__ import annotations

import sys

from backend.devtools import commands

CELERY = [sys.executable, "-m", "celery", "-A", "backend.platform.celery_app:celery_app"]


def test_api_command_binds_loopback_with_fast_loop_and_no_access_log() -> None:
    assert commands.api_command(8123) == [
        sys.executable, "-m", "uvicorn", "backend.api.app:app",
        "--host", "127.0.0.1", "--port", "8123",
        "--no-access-log", "--loop", "uvloop", "--http", "httptools",
    ]  # fmt: skip


def test_worker_command_defaults_consume_every_queue() -> None:
    command = commands.worker_command()
    assert command == [
        *CELERY, "worker", "-P", "prefork", "-c", "2", "-n", "worker@%h",
        "--without-gossip", "--without-mingle", "-l", "INFO",
    ]  # fmt: skip
    assert "-Q" not in command


def test_worker_command_options_and_extra_args_come_last() -> None:
    command = commands.worker_command(
        queues=["triage", "documents"],
        concurrency=4,
        pool="solo",
        hostname="w1@test",
        loglevel="WARNING",
        extra=["--max-tasks-per-child", "10"],
    )
    assert command[:5] == CELERY
    assert command[command.index("-P") + 1] == "solo"
    assert command[command.index("-c") + 1] == "4"
    assert command[command.index("-n") + 1] == "w1@test"
    assert command[command.index("-l") + 1] == "WARNING"
    assert command[-4:] == ["-Q", "triage,documents", "--max-tasks-per-child", "10"]


def test_empty_queue_list_means_all_queues() -> None:
    assert "-Q" not in commands.worker_command(queues=[])


def test_beat_uses_redbeat() -> None:
    assert commands.beat_command() == [
        *CELERY,
        "beat",
        "-S",
        "backend.worker.scheduler:ResilientRedBeatScheduler",
        "-l",
        "INFO",
    ]


def test_flower_binds_loopback_behind_basic_auth_on_the_apps_broker() -> None:
    command = commands.flower_command(port=5566, user="op", password="s3cret")
    assert command == [
        *CELERY,
        "flower",
        "--port=5566",
        "--address=127.0.0.1",
        "--basic-auth=op:s3cret",
    ]
    assert not any(arg.startswith("--broker") for arg in command)


def test_backend_cli_commands() -> None:
    assert commands.migrate_command() == [sys.executable, "-m", "backend", "migrate"]
    assert commands.token_command("ana", "client") == [
        sys.executable, "-m", "backend", "token", "--user", "ana", "--role", "client"
    ]  # fmt: skip


def test_smtp_sink_command() -> None:
    assert commands.smtp_sink_command(1026) == [
        sys.executable, "-m", "backend.devtools.smtp_sink", "--port", "1026"
    ]  # fmt: skip


def test_commands_return_fresh_lists() -> None:
    first = commands.worker_command()
    first.append("--mutated")
    assert "--mutated" not in commands.worker_command()
