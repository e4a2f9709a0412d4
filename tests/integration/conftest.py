"""Every test here runs against the real Redis and database of the test run."""

from collections.abc import Iterator

import pytest
from sqlalchemy import text


@pytest.fixture(autouse=True)
def _services(services: None) -> None:
    """Start (once) the run's Redis and migrated database before each test here."""


@pytest.fixture()
def failing_audit() -> Iterator[None]:
    """The audit table refuses inserts (a full disk, a lost grant), for one test (SQLite: a
    trigger; the test skips itself on another database)."""
    from backend.core.db.session import get_engine

    if not str(get_engine().url).startswith("sqlite"):
        pytest.skip("the trigger is SQLite's")
    with get_engine().begin() as conn:
        conn.execute(text(
            "CREATE TRIGGER audit_refuses BEFORE INSERT ON audit_log "
            "BEGIN SELECT RAISE(ABORT, 'audit refused'); END"
        ))  # fmt: skip
    try:
        yield
    finally:
        with get_engine().begin() as conn:
            conn.execute(text("DROP TRIGGER audit_refuses"))
