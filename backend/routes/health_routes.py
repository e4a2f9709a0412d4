"""/health (the process is up) and /ready (Redis, database and at least one live worker)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from backend.db.session import ping as db_ping

router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready")
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
    ok = checks["redis"] == "ok" and checks["database"] == "ok" and checks["workers"] > 0
    return JSONResponse(
        {"status": "ready" if ok else "unavailable", "checks": checks},
        status_code=200 if ok else 503,
    )
