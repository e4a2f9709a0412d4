"""Every test here runs against the real Redis and database of the test run."""

import pytest


@pytest.fixture(autouse=True)
def _services(services: None) -> None:
    """Start (once) the run's Redis and migrated database before each test here."""
