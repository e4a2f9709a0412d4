"""Celery's autoscaler with its keep-alive from settings and each resize logged.

Workers started with `--autoscale=MAX,MIN` (make up, the systemd units) grow their pool while
messages wait in the worker beyond its busy processes and shrink it once a process has been
idle for WORKER_AUTOSCALE_KEEPALIVE_S. With `worker_disable_prefetch` the worker takes at most
MAX messages, so the backlog it sees is bounded by the pool's ceiling. Scaling across hosts is
more workers (README, "Scaling out").
"""

from __future__ import annotations

from typing import Any

from celery.worker.autoscale import Autoscaler as CeleryAutoscaler

from backend.core.logging import get_logger
from backend.core.settings import settings

log = get_logger(__name__)


class Autoscaler(CeleryAutoscaler):  # type: ignore[misc]
    def __init__(
        self,
        pool: Any,
        max_concurrency: int,
        min_concurrency: int = 0,
        worker: Any = None,
        keepalive: float | None = None,
        mutex: Any = None,
    ) -> None:
        super().__init__(
            pool, max_concurrency, min_concurrency, worker,
            keepalive=settings.pool.keepalive_s, mutex=mutex,
        )  # fmt: skip

    def _grow(self, n: int) -> Any:
        log.info("pool_grow", by=n, processes=self.processes + n, waiting=self.qty)
        return super()._grow(n)

    def _shrink(self, n: int) -> Any:
        log.info("pool_shrink", by=n, processes=self.processes - n)
        return super()._shrink(n)
