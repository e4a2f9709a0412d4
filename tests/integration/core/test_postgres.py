"""The same migrations and a task round trip on PostgreSQL, when TEST_POSTGRES_URL is set.

Each run creates its own database on that server and drops it afterwards.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from backend.core.db.migrate import upgrade
from backend.core.db.models import Case
from tests.support.processes import triage_on_own_worker

SERVER_URL = os.environ.get("TEST_POSTGRES_URL")
TITLE = "Despejo marcado para amanhã"
DESCRIPTION = "Recebi ordem de despejo para amanhã cedo e não tenho para onde ir."
CREATE_CASE = """
import sys
from backend.core.db.models import Case
from backend.core.db.session import session_scope
with session_scope() as session:
    case = Case(owner=sys.argv[1], title=sys.argv[2], description=sys.argv[3])
    session.add(case)
    session.flush()
    print(case.id)
"""
pytestmark = pytest.mark.skipif(not SERVER_URL, reason="TEST_POSTGRES_URL not set")


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    assert SERVER_URL
    name = f"ltq_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(SERVER_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(SERVER_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_migrations_and_triage_round_trip_on_postgres(
    postgres_url: str, worker_factory: Any, redis_client: Any
) -> None:
    upgrade(postgres_url)
    upgrade(postgres_url)  # idempotent
    # Created by a process of its own configured for PostgreSQL, as the API would: the title and
    # description are sealed with the owner's data key, which must live in the same database.
    case_id = _create_case_on(postgres_url, "alice", TITLE, DESCRIPTION)
    engine = create_engine(postgres_url)
    env = {"DATABASE_URL": postgres_url}
    record = triage_on_own_worker(worker_factory, redis_client, case_id, env)
    # The worker unsealed the text with the data key it found in PostgreSQL.
    assert record["state"] == "SUCCESS", record.get("error")
    with Session(engine) as session:
        stored = session.get(Case, case_id)
        assert stored is not None and stored.status == "triaged"
        # The triage is sealed under a key this process cannot see (it lives in PostgreSQL).
        assert stored.area == "imobiliario" and stored._triage is not None
    engine.dispose()


def _create_case_on(url: str, owner: str, title: str, description: str) -> str:
    env = {**os.environ, "DATABASE_URL": url}
    done = subprocess.run(
        [sys.executable, "-c", CREATE_CASE, owner, title, description],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]
