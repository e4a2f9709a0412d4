"""The same migrations and a task round trip on PostgreSQL, when TEST_POSTGRES_URL is set.

Each run creates its own database on that server and drops it afterwards.
"""

from __future__ import annotations

import os
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
    engine = create_engine(postgres_url)
    with Session(engine) as session, session.begin():
        case = Case(
            owner="alice",
            title="Despejo marcado para amanhã",
            description="Recebi ordem de despejo para amanhã cedo e não tenho para onde ir.",
        )
        session.add(case)
        session.flush()
        case_id = case.id
    env = {"DATABASE_URL": postgres_url}
    record = triage_on_own_worker(worker_factory, redis_client, case_id, env)
    assert record["state"] == "SUCCESS", record
    with Session(engine) as session:
        stored = session.get(Case, case_id)
        assert stored is not None and stored.status == "triaged"
        assert stored.area == "imobiliario" and stored.triage is not None
    engine.dispose()
