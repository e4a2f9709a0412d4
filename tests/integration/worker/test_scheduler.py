"""Beat high availability with RedBeat: two real beat processes on one schedule run each entry
once per interval; when the one holding the lock dies, the other takes over."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backend.devtools.commands import beat_command
from tests.support.environment import ROOT
from tests.support.waiting import wait_for

INTERVAL_S = 1.0
WINDOW_S = 6.0


class Beat:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        self.proc = subprocess.Popen(
            beat_command(), cwd=ROOT, env={**os.environ, **env}, stdout=log.open("ab"),
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def kill(self) -> None:
        """As a crash would: no chance to release the lock."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture()
def beat_env(redis_client: Any, tmp_path: Path) -> Iterator[dict[str, str]]:
    from backend.core.keys import keys

    def clear() -> None:
        for key in redis_client.scan_iter(match=f"{keys.prefix}redbeat:*"):
            redis_client.delete(key)

    clear()
    yield {
        "TEST_BEAT_TICK_KEY": uuid.uuid4().hex,
        "TEST_BEAT_TICK_S": str(INTERVAL_S),
        # A dead beat's lock lapses after 3 s here (60 s in production).
        "BEAT_LOCK_TIMEOUT_S": "3",
        "BEAT_MAX_LOOP_INTERVAL_S": "0.5",
    }
    clear()


def ticks(redis_client: Any, key: str) -> list[tuple[float, int]]:
    """(time, pid of the beat that sent it) per execution of the test entry."""
    out = []
    for raw in redis_client.lrange(f"test:{key}:ticks", 0, -1):
        at, origin = raw.split(" ", 1)
        # Celery names a non-worker sender gen<pid>@<host>.
        out.append((float(at), int(origin.split("@")[0].removeprefix("gen"))))
    return out


def assert_once_per_interval(window: list[tuple[float, int]], leader: int) -> None:
    # Two beats both firing would put about twice as many runs in the window.
    assert {pid for _, pid in window} == {leader}, window
    expected = WINDOW_S / INTERVAL_S
    assert expected - 2 <= len(window) <= expected + 1, window


def test_two_beats_run_each_entry_once_and_the_standby_takes_over(
    worker: Any, redis_client: Any, beat_env: dict[str, str], tmp_path: Path
) -> None:
    key = beat_env["TEST_BEAT_TICK_KEY"]
    beats = [Beat(beat_env, tmp_path / f"beat-{i}.log") for i in range(2)]
    try:
        by_pid = {b.proc.pid: b for b in beats}
        wait_for(lambda: ticks(redis_client, key), 30, "the first scheduled run")
        leader = ticks(redis_client, key)[0][1]
        assert leader in by_pid

        start = time.time()
        time.sleep(WINDOW_S)
        window = [t for t in ticks(redis_client, key) if start <= t[0] < start + WINDOW_S]
        assert_once_per_interval(window, leader)

        by_pid[leader].kill()
        killed_at = time.time()
        (standby,) = (pid for pid in by_pid if pid != leader)
        wait_for(
            lambda: any(pid == standby for _, pid in ticks(redis_client, key)),
            30,
            "the standby beat to take over",
        )
        assert all(at < killed_at + 0.5 for at, pid in ticks(redis_client, key) if pid == leader)

        start = time.time()
        time.sleep(WINDOW_S)
        window = [t for t in ticks(redis_client, key) if start <= t[0] < start + WINDOW_S]
        assert_once_per_interval(window, standby)
    finally:
        for beat in beats:
            beat.stop()
        for beat in beats:
            if beat.proc.returncode not in (0, -signal.SIGKILL, -signal.SIGTERM):
                print(beat.log.read_text()[-3000:])


def test_beat_rides_out_a_redis_restart_and_keeps_its_schedule(
    worker: Any, redis_client: Any, redis_server: Any, beat_env: dict[str, str], tmp_path: Path
) -> None:
    """RedBeat alone exits on the connection error; ours waits for Redis and goes on, still
    the lock holder (an outage shorter than the lock timeout)."""
    key = beat_env["TEST_BEAT_TICK_KEY"]
    env = {**beat_env, "BEAT_LOCK_TIMEOUT_S": "30"}
    beat = Beat(env, tmp_path / "beat.log")
    try:
        wait_for(lambda: ticks(redis_client, key), 30, "the first scheduled run")
        redis_server.stop()
        try:
            time.sleep(3)  # several ticks fail meanwhile
            assert beat.proc.poll() is None, beat.log.read_text()[-3000:]
        finally:
            redis_server.start()
        back = time.time()
        wait_for(
            lambda: any(at > back for at, _ in ticks(redis_client, key)),
            30,
            "a scheduled run after Redis came back",
        )
        assert beat.proc.poll() is None
        assert {pid for _, pid in ticks(redis_client, key)} == {beat.proc.pid}
        assert "beat_redis_unavailable" in beat.log.read_text()
    finally:
        beat.stop()


def test_a_beat_left_without_its_lock_at_start_takes_it_at_its_first_tick(
    redis_client: Any, beat_env: dict[str, str]
) -> None:
    """If Redis fails while beat starts, RedBeat's lock acquisition fails, Celery squashes the
    error and RedBeat's first tick crashes on the missing lock (seen under `make up`'s
    supervisor when its Redis was SIGKILLed as beat restarted); ours takes the lock then."""
    from backend.core.keys import keys
    from backend.platform.celery_app import celery_app
    from backend.worker.scheduler import ResilientRedBeatScheduler

    lock_key = f"{keys.prefix}redbeat::lock-{uuid.uuid4().hex}"
    scheduler = ResilientRedBeatScheduler(app=celery_app, lock_key=lock_key, lock_timeout=3)
    try:
        assert scheduler.lock is None  # as after a failed start-up acquisition
        scheduler.tick()
        assert scheduler.lock is not None and redis_client.exists(lock_key)
        assert scheduler.tick() > 0  # and ticks on, extending it
        assert 0 < redis_client.pttl(lock_key) <= 3000
    finally:
        redis_client.delete(lock_key)
