"""/health (the process is up) and /ready (Redis, database, live workers, the outbox).

/ready answers 200 `ready` when everything works; 200 `degraded` when the API still accepts
work but it waits (Redis is down: submissions go to the outbox; or no worker is alive); 503
`unavailable` when the database is down (nothing can be accepted)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from backend.core.db.session import ping as db_ping
from backend.platform.outbox import Outbox

router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/ready",
    responses={
        503: {
            "description": "unavailable: the database is down",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def ready(request: Request) -> JSONResponse:
    checks: dict[str, Any] = {}
    try:
        await request.app.state.redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"error: {type(exc).__name__}"
    try:
        await run_in_threadpool(db_ping)
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    if checks["redis"] == "ok":
        workers = await run_in_threadpool(request.app.state.task_service.status.live_workers)
        checks["workers"] = len(workers)
    else:
        checks["workers"] = 0
    if checks["database"] == "ok":
        checks["outbox"] = await run_in_threadpool(Outbox.backlog)
    if checks["database"] != "ok":
        status = "unavailable"
    elif checks["redis"] == "ok" and checks["workers"] > 0:
        status = "ready"
    else:
        status = "degraded"
    return JSONResponse(
        {"status": status, "checks": checks}, status_code=503 if status == "unavailable" else 200
    )
