"""HTTP metrics are merged across API processes: with two uvicorn workers, every scrape shows
the whole API's count, whichever process answers it (prometheus_client multiprocess mode)."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support.http import auth
from tests.support.metrics import value
from tests.support.servers import ApiProcess


def test_two_api_processes_report_the_same_totals(tmp_path: Path, tokens: dict[str, str]) -> None:
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    api = ApiProcess(workers=2, env={"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}).start()
    try:

        def health_count() -> float:
            text = httpx.get(
                f"{api.url}/metrics", headers=auth(tokens["operator"]), timeout=10
            ).text
            return value(text, "ltq_http_requests_total", route="/health", status="200")

        start = health_count()  # the start-up probe's request
        requests = 40
        for _ in range(requests):
            # A new connection each time, so that both processes take some of them.
            assert httpx.get(f"{api.url}/health", timeout=5).status_code == 200
        seen = [health_count() for _ in range(8)]
        pids = {p.name.rsplit("_", 1)[-1] for p in metrics_dir.glob("counter_*.db")}
    finally:
        api.stop()
    assert seen == [start + requests] * len(seen)
    assert len(pids) == 2, pids  # both processes counted requests, and their sums agree
