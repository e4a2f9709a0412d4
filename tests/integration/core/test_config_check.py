"""Finding 2: insecure by default. ENVIRONMENT defaults to production, and in production the
API, a worker, beat and Flower refuse to start (one clear line, a non-zero exit) with a
published or weak secret, an open Flower, a development-only setting or plain transport to
another host. `python -m backend check-config` says the same without starting anything."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from typing import Any

import pytest

from backend.core.security.config_check import EXIT_CONFIG
from backend.core.settings import DEFAULT_JWT_SECRET
from tests.support.environment import ROOT
from tests.support.processes import ApiProcess

STRONG = {
    "JWT_SECRET": secrets.token_urlsafe(40),
    "ID_SECRET": secrets.token_urlsafe(40),
    "PUBLIC_BASE_URL": "https://triagem.example.com",
}


def production(**overrides: str | None) -> dict[str, str]:
    """The test run's environment as production: no test instruments, strong secrets."""
    env = {k: v for k, v in os.environ.items() if k not in ("EXTRA_TASK_MODULES",)}
    env.update(ENVIRONMENT="production", **STRONG)
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run(
    args: list[str], env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def celery(*args: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "backend.platform.celery_app:celery_app", *args]


def test_check_config_without_environment_or_secret_fails_naming_the_secret() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("ENVIRONMENT", "JWT_SECRET")}
    done = run([sys.executable, "-m", "backend", "check-config"], env)
    assert done.returncode == 1
    assert "ENVIRONMENT=production" in done.stdout
    assert "FATAL JWT_SECRET" in done.stdout


def test_check_config_passes_a_sound_production_configuration() -> None:
    env = production(FLOWER_PASSWORD=secrets.token_urlsafe(24))
    done = run([sys.executable, "-m", "backend", "check-config"], env)
    assert done.returncode == 0, done.stdout
    assert "0 fatal" in done.stdout


@pytest.mark.parametrize(
    ("overrides", "names"),
    [
        ({"JWT_SECRET": DEFAULT_JWT_SECRET}, "JWT_SECRET"),
        ({"JWT_SECRET": "short-secret"}, "JWT_SECRET"),
        ({"JWT_SECRET": None}, "JWT_SECRET"),
        ({"ID_SECRET": None}, "ID_SECRET"),
    ],
)
def test_the_api_refuses_to_start_in_production(
    overrides: dict[str, str | None], names: str
) -> None:
    api = ApiProcess(env=production(**overrides)).start(wait=False)
    try:
        code = api.wait_exit()
    finally:
        api.stop()
    assert code != 0
    lines = [line for line in api.output().splitlines() if "refusing to start" in line]
    assert len(lines) == 1 and names in lines[0], api.output()[-3000:]


def test_the_api_starts_in_production_with_a_sound_configuration(redis_server: Any) -> None:
    api = ApiProcess(env=production()).start()
    api.stop()


@pytest.mark.parametrize(
    ("command", "overrides", "names"),
    [
        (celery("worker", "--pool=solo"), {"EXTRA_TASK_MODULES": "tests.support.tasks"},
         "EXTRA_TASK_MODULES"),
        (celery("worker", "--pool=solo"), {"REDIS_URL": "redis://10.20.30.40:6379/0"},
         "REDIS_URL"),
        (celery("worker", "--pool=solo"), {"SMTP_HOST": "smtp.example.com"}, "SMTP_HOST"),
        (celery("beat"), {"REDIS_URL": "redis://10.20.30.40:6379/0"}, "REDIS_URL"),
        (celery("flower"), {"FLOWER_PASSWORD": None}, "FLOWER_PASSWORD"),
        (celery("flower"), {"FLOWER_PASSWORD": secrets.token_urlsafe(24),
                            "FLOWER_ADDRESS": "0.0.0.0"}, "FLOWER_ADDRESS"),
    ],
)  # fmt: skip
def test_workers_beat_and_flower_refuse_to_start_in_production(
    command: list[str], overrides: dict[str, str | None], names: str
) -> None:
    done = run(command, production(**overrides))
    assert done.returncode == EXIT_CONFIG, done.stderr[-2000:]
    refusals = [line for line in done.stderr.splitlines() if "refusing to start" in line]
    assert len(refusals) == 1 and names in refusals[0]


def test_insecure_transport_is_allowed_when_asked_for() -> None:
    env = production(REDIS_URL="redis://10.20.30.40:6379/0", ALLOW_INSECURE_TRANSPORT="1")
    done = run([sys.executable, "-m", "backend", "check-config", "--process", "worker"], env)
    assert "REDIS_URL" not in done.stdout and done.returncode == 0, done.stdout


def test_workers_and_beat_need_no_signing_key() -> None:
    env = production(JWT_SECRET=None, ID_SECRET=None)
    done = run(
        [sys.executable, "-m", "backend", "check-config", "--process", "worker",
         "--process", "beat"], env,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout
