"""Development-only helpers: what the local SMTP sink of `make up` received.

Outside ENVIRONMENT=development these routes do not exist (404).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from backend.adapters.mailbox import read_messages
from backend.api.deps import Operator
from backend.core.errors import NotFound
from backend.core.settings import settings

router = APIRouter(prefix="/api/dev", tags=["development"])


@router.get("/mailbox")
async def list_mailbox(_: Operator, limit: int = Query(default=50, ge=1, le=500)) -> dict[str, Any]:
    """Messages the SMTP sink stored under MAILBOX_DIR, newest first (operators only)."""
    if settings.app.environment != "development":
        raise NotFound("not found")
    return {"messages": await run_in_threadpool(read_messages, settings.mail.mailbox_dir, limit)}
