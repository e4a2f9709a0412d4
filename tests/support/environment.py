"""The test run's environment, set before anything imports `backend` (settings are read once).

Nothing is started here: ports and folders are chosen, and the variables point at them. The
integration and end-to-end conftests start the Redis and create the database on first use,
so `pytest tests/unit` starts no server. We never touch a Redis we did not start.
"""

from __future__ import annotations

import base64
import os
import tempfile
from pathlib import Path

from backend.devtools.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]


def prepare() -> Path:
    """Choose a private folder and free ports, and set every variable the tests rely on."""
    tmp = Path(tempfile.mkdtemp(prefix="ltq-tests-"))
    os.environ.update(
        ENVIRONMENT="test",
        JWT_SECRET="test-secret-0123456789-0123456789-abcdef",
        WEBHOOK_SECRET="test-webhook-secret-0123456789-abcdef",
        REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
        DATABASE_URL=f"sqlite:///{tmp / 'test.db'}",
        KEY_PREFIX="ltqtest:",
        # The run's key-encryption key (personal data at rest), fresh per run.
        DATA_KEYS=f"test1:{base64.b64encode(os.urandom(32)).decode()}",
        REPORTS_DIR=str(tmp / "reports"),
        UPLOADS_DIR=str(tmp / "uploads"),
        EXTRA_TASK_MODULES="tests.support.tasks",
        LOG_LEVEL="WARNING",
        WORKER_HEARTBEAT_S="1",
        WORKER_HEARTBEAT_TTL_S="4",
        # Tests remove messages on purpose; the orphan sweep is tested on its own.
        ORPHAN_AFTER_S="86400",
        PYTHONPATH=str(ROOT),
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(free_port()),
        OPERATOR_EMAILS='["ops@example.com"]',
        # Tests fail tasks on purpose; the failure alert is tested on a worker of its own.
        NOTIFY_OPERATORS_ON_FAILURE="false",
        PUBLIC_BASE_URL="http://testserver",
        # A breaker for the test service that test_circuit_breaker trips (fast cool-down).
        BREAKERS='{"llm": {}, "smtp": {}, "testsvc": {"fail_max": 3, "cooldown_s": 2}}',
        # Tests submit in bursts; the API limits are tested with small ones of their own.
        API_RATE_LIMITS='{"POST /api/tasks": "10000/minute", "POST /api/triage": "10000/minute"}',
        # The per-user abuse quotas are tested with small ones of their own (test_abuse_limits).
        CASES_PER_DAY="10000000",
        EMAIL_RECIPIENTS_PER_HOUR="10000000",
        UPLOADS_PER_DAY="10000000",
        REPORTS_PER_DAY="10000000",
        SSE_MAX_STREAMS_PER_USER="1000",
    )
    return tmp


def tmp_dir() -> Path:
    """The run's private folder (the parent of the test database)."""
    return Path(os.environ["DATABASE_URL"].removeprefix("sqlite:///")).parent
