"""A bare FastAPI endpoint that does one Redis round trip: the baseline POST /api/tasks is
compared with (as bench/raw_app.py is raw Celery for the workers).

`POST /api/tasks` parses the same JSON body into a small model, sends one INCR to the bench
Redis and answers 202 with a task id; no auth, limiter, validation, audit or middleware.
Served by the same uvicorn options as the platform's API (uvloop, httptools, no access log):

    REDIS_URL=redis://... python -m uvicorn bench.bare_app:app --loop uvloop --http httptools
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import redis.asyncio as aioredis
from fastapi import FastAPI
from pydantic import BaseModel

PREFIX = "ltqbare:"
COUNT_KEY = f"{PREFIX}count"


def _redis_url() -> str:
    url = os.environ.get("REDIS_URL")
    if not url:
        raise RuntimeError("bench.bare_app needs REDIS_URL (the benchmark's private Redis)")
    return url


class Submit(BaseModel):
    name: str
    priority: str | None = None


app = FastAPI()
_redis = aioredis.Redis.from_url(_redis_url(), socket_timeout=5, socket_connect_timeout=5)


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/api/tasks", status_code=202)
async def submit(body: Submit) -> dict[str, Any]:
    await _redis.incr(COUNT_KEY)
    return {"task_id": str(uuid.uuid4()), "created": True, "name": body.name}
