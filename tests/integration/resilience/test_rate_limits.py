"""Shared rate limits on real worker processes: one limit held across three workers, tasks
over it deferred (no attempt used), and the API's per-user 429 with Retry-After."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from backend.platform.enqueue import CeleryTaskService
from backend.platform.submissions import TaskRequest

LIMIT_PER_S = 10
TASKS = 300


@pytest.fixture()
def service(redis_client: Any) -> CeleryTaskService:
    return CeleryTaskService(redis_client)


def wait_all_finished(service: CeleryTaskService, ids: list[str], timeout: float) -> list[Any]:
    deadline = time.monotonic() + timeout
    records: list[Any] = []
    while time.monotonic() < deadline:
        records = [service.status.get(i) for i in ids]
        if all(r and r["state"] in ("SUCCESS", "FAILURE") for r in records):
            return records
        time.sleep(0.5)
    states = [r["state"] if r else None for r in records]
    raise AssertionError(f"not finished: {sorted(set(map(str, states)))}")


def test_three_workers_share_one_limit_and_defer_without_using_attempts(
    service: CeleryTaskService, worker_factory: Any, redis_client: Any
) -> None:
    env = {"RATE_LIMITS": json.dumps({"testrate": f"{LIMIT_PER_S}/second"})}
    workers = [worker_factory(["reports"], concurrency=2, env=env) for _ in range(3)]
    key = uuid.uuid4().hex
    ids = service.enqueue_many([TaskRequest("testing.rate_limited", [key]) for _ in range(TASKS)])
    records = wait_all_finished(service, ids, timeout=TASKS / LIMIT_PER_S * 4)
    for w in workers:
        w.stop()

    assert {r["state"] for r in records} == {"SUCCESS"}
    assert {r["attempts"] for r in records} == {1}  # deferrals used no attempt
    deferred = [r for r in records if any("deferred:" in h["detail"] for h in r["history"])]
    assert deferred, "some tasks must have been over the limit"
    assert any("rate limit testrate" in h["detail"] for h in deferred[0]["history"])
    runs = sorted(float(t) for t in redis_client.lrange(f"test:{key}:runs", 0, -1))
    assert len(runs) == TASKS
    # The busiest one-second window, as a figure: the limiter admits at most the limit in any
    # window by its own clock, but a run is stamped after its slot was taken, and a process
    # descheduled in between on a busy machine shifts a stamp by tens of ms.
    j, busiest = 0, 0
    for i, t in enumerate(runs):
        while runs[j] <= t - 1.0:
            j += 1
        busiest = max(busiest, i - j + 1)
    # Over the middle of the run (ramp-up and the last stragglers left out) the observed
    # rate stays within 10 % of it.
    lo, hi = TASKS // 10, TASKS - TASKS // 10
    observed = (hi - lo) / (runs[hi] - runs[lo])
    error = 100 * (observed - LIMIT_PER_S) / LIMIT_PER_S
    print(f"observed rate {observed:.2f}/s for a limit of {LIMIT_PER_S}/s (error {error:+.1f} %), "
          f"busiest second {busiest}, {len(deferred)} tasks deferred at least once")  # fmt: skip
    assert abs(observed - LIMIT_PER_S) <= 0.1 * LIMIT_PER_S


def test_api_limits_each_user_per_route_with_429_and_retry_after(
    app_client: Any, tokens: dict[str, str], clean_redis: Any
) -> None:
    from backend.resilience.rate_limits import ApiRateLimiter
    from tests.support.http import auth

    state = app_client.app.state
    configured = state.api_rate_limiter
    # The same limiter the app builds from API_RATE_LIMITS, with a limit small enough to reach.
    state.api_rate_limiter = ApiRateLimiter(configured.limiter, {"POST /api/tasks": "3/minute"})
    try:
        body = {"name": "maintenance.ping"}
        for attempt in range(3):
            if attempt == 1:  # Redis forgets its scripts: the limiter loads its own again
                clean_redis.script_flush()
            r = app_client.post("/api/tasks", json=body, headers=auth(tokens["alice"]))
            assert r.status_code == 202, r.text
        r = app_client.post("/api/tasks", json=body, headers=auth(tokens["alice"]))
        assert r.status_code == 429
        assert r.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(r.headers["Retry-After"]) <= 60
        # Another user, and another route for the same user, are not affected.
        r = app_client.post("/api/tasks", json=body, headers=auth(tokens["bob"]))
        assert r.status_code == 202
        assert app_client.get("/api/tasks", headers=auth(tokens["alice"])).status_code == 200
        # Nothing was enqueued for the refused request.
        mine = app_client.get("/api/tasks?owner=alice", headers=auth(tokens["alice"])).json()
        assert len(mine["items"]) == 3
    finally:
        state.api_rate_limiter = configured


PER_KEY_LIMIT = 2
PER_KEY_WINDOW_S = 5


def test_per_key_limits_are_independent_and_defer_only_their_own_key(
    service: CeleryTaskService, worker_factory: Any, redis_client: Any
) -> None:
    """Key A over its limit is deferred (no attempt used) while key B's tasks run at once."""
    limit = f"{PER_KEY_LIMIT}/{PER_KEY_WINDOW_S} seconds"
    env = {"RATE_LIMITS_PER_KEY": json.dumps({"testkeyed": limit})}
    worker = worker_factory(["reports"], concurrency=2, env=env)
    key = uuid.uuid4().hex
    a_ids = service.enqueue_many(
        [TaskRequest("testing.keyed_call", [key, "A"]) for _ in range(2 * PER_KEY_LIMIT)]
    )
    b_ids = service.enqueue_many(
        [TaskRequest("testing.keyed_call", [key, "B"]) for _ in range(PER_KEY_LIMIT)]
    )
    try:
        records = wait_all_finished(service, a_ids + b_ids, timeout=6 * PER_KEY_WINDOW_S)
    finally:
        worker.stop()
    assert {r["state"] for r in records} == {"SUCCESS"}
    assert {r["attempts"] for r in records} == {1}  # deferrals used no attempt

    def deferrals(record: Any) -> list[str]:
        return [h["detail"] for h in record["history"] if "deferred:" in h["detail"]]

    a_records, b_records = records[: len(a_ids)], records[len(a_ids) :]
    deferred_a = [r for r in a_records if deferrals(r)]
    assert len(deferred_a) == len(a_ids) - PER_KEY_LIMIT
    assert all("rate limit testkeyed:A" in d for r in deferred_a for d in deferrals(r))
    assert not [r for r in b_records if deferrals(r)], "B is not limited by A's use"
    runs: dict[str, list[float]] = {"A": [], "B": []}
    for entry in redis_client.lrange(f"test:{key}:runs", 0, -1):
        limit_key, at = entry.split()
        runs[limit_key].append(float(at))
    a_runs, b_runs = sorted(runs["A"]), sorted(runs["B"])
    assert (len(a_runs), len(b_runs)) == (len(a_ids), len(b_ids))
    # B ran while A waited for its window; A's next calls came when its window had moved on
    # (a stamp is taken after its slot, hence the small margin).
    assert max(b_runs) < a_runs[PER_KEY_LIMIT]
    assert a_runs[PER_KEY_LIMIT] - a_runs[0] >= PER_KEY_WINDOW_S - 0.5


def test_rate_limited_route_decodes_the_token_once(
    app_client: Any, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The limiter's decoded principal is the one the route uses: one JWT decode per request."""
    from backend.api import auth as api_auth
    from backend.core.security.tokens import decode_token
    from tests.support.http import auth

    decoded: list[str] = []

    def counting_decode(token: str) -> Any:
        decoded.append(token)
        return decode_token(token)

    # Every route and the limiter authenticate through backend.api.auth.authenticate.
    monkeypatch.setattr(api_auth, "decode_token", counting_decode)
    body = {"name": "maintenance.ping"}
    r = app_client.post("/api/tasks", json=body, headers=auth(tokens["alice"]))
    assert r.status_code == 202, r.text
    assert len(decoded) == 1
    task_url = f"/api/tasks/{r.json()['task_id']}"
    assert app_client.get(task_url, headers=auth(tokens["alice"])).status_code == 200
    assert len(decoded) == 2  # an unlimited route decodes it itself
    r = app_client.post("/api/tasks", json=body, headers=auth("not-a-jwt"))
    assert r.status_code == 401
