"""Threads of the worker's main process: the heartbeat and the reaper, plus the deliveries the
consumer dropped when its broker connection broke, which the reaper gives back."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Any

from backend.adapters.redis_clients import get_redis, take_outage_retries
from backend.core.logging import get_logger
from backend.core.settings import settings
from backend.platform.recovery.orphans import OrphanSweep
from backend.worker import queue_controls
from backend.worker.context import reaper, status_manager

log = get_logger(__name__)


class Periodic(threading.Thread):
    """A daemon thread: `action` now, then every `interval()` seconds until stopped. A failing
    pass (Redis down) is logged and the next one runs."""

    def __init__(self, name: str, action: Callable[[], None], interval: Callable[[], float]):
        super().__init__(name=name, daemon=True)
        self.action = action
        self.interval = interval
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                self.action()
            except Exception as exc:
                log.warning(f"{self.name}_failed", error=type(exc).__name__)
            self.stopped.wait(self.interval())


def reap() -> None:
    """One reaper pass from this worker: recovery needs only some worker alive, not beat nor
    a free slot on a queue (backend/platform/recovery/; passes of several workers are safe)."""
    give_back_dropped()
    OrphanSweep(get_redis()).run_if_due()
    result = reaper().reap()
    if result["requeued"]:
        log.info(
            "lost_tasks_requeued",
            count=len(result["requeued"]),
            held=len(result["requeued_held"]),
            task_ids=result["requeued"][:20],
        )


def reaper_interval() -> float:
    # Jitter keeps the workers' passes apart instead of in lockstep after a common restart.
    return settings.recovery.reaper_interval_s * random.uniform(0.8, 1.2)


def start(hostname: str, info: Callable[[], dict[str, Any]]) -> list[Periodic]:
    """Start the heartbeat (what /ready, the reaper, the metrics and the console read: `info()`
    has the pool's size and busy slots now) and the reaper."""

    def beat() -> None:
        status_manager().heartbeat(hostname, info(), outage_retries=take_outage_retries())
        queue_controls.reconcile(hostname)

    threads = [
        Periodic("heartbeat", beat, lambda: settings.recovery.worker_heartbeat_s),
        Periodic("reaper", reap, reaper_interval),
    ]
    for thread in threads:
        thread.start()
    return threads


# Deliveries (tag -> task id) this worker dropped without running when its broker connection
# broke (backend/worker/consumer.py `on_close`); the reaper thread gives them back.
_dropped: dict[str, str] = {}
_dropped_lock = threading.Lock()


def remember_dropped(deliveries: list[tuple[str, str]]) -> None:
    if deliveries:
        with _dropped_lock:
            _dropped.update(deliveries)
        log.warning("deliveries_dropped_on_connection_loss", count=len(deliveries))


def give_back_dropped() -> None:
    """Requeue what `remember_dropped` holds; what Redis could not settle stays for next time."""
    with _dropped_lock:
        pending = list(_dropped.items())
    if not pending:
        return
    settled = reaper().give_back(pending)
    with _dropped_lock:
        for tag in settled:
            _dropped.pop(tag, None)
    log.info("dropped_deliveries_given_back", count=len(settled), left=len(pending) - len(settled))
