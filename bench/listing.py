"""Listing latency at 100,000 task records: `python bench/listing.py [--records N]`.

Creates N PENDING records (no worker runs) on a private Redis, then times list queries
with and without filters, first page and a deep page.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=100_000)
    opts = parser.parse_args()
    from backend.devtools.redis_server import RedisServer

    with RedisServer() as server:
        os.environ.update(
            REDIS_URL=server.url, KEY_PREFIX="ltqlist:", ENVIRONMENT="test",
            JWT_SECRET="x" * 40, DATABASE_URL=f"sqlite:///{tempfile.mkdtemp()}/l.db",
        )  # fmt: skip
        from backend.adapters.redis_clients import get_redis
        from backend.platform.enqueue import CeleryTaskService
        from backend.platform.status import TaskFilter
        from backend.platform.submissions import TaskRequest

        service = CeleryTaskService(get_redis())
        owners = [f"user{i}" for i in range(1000)]
        names = ["maintenance.ping", "triage.classify_case", "documents.analyse_document"]
        started = time.perf_counter()
        batch = [
            TaskRequest(names[i % 3], [f"id-{i}"], owner=owners[i % len(owners)])
            for i in range(opts.records)
        ]
        service.enqueue_many(batch)
        created = time.perf_counter() - started
        print(f"created {opts.records} records in {created:.1f} s "
              f"({opts.records / created:,.0f}/s)")  # fmt: skip

        def timed(label: str, flt: TaskFilter, pages: int = 1) -> None:
            runs = []
            for _ in range(20):
                t0 = time.perf_counter()
                cursor = None
                for _ in range(pages):
                    page = service.status.list_tasks(flt, limit=50, cursor=cursor)
                    cursor = page.next_cursor
                runs.append((time.perf_counter() - t0) * 1000 / pages)
            print(f"{label:<48} median {statistics.median(runs):6.2f} ms/page "
                  f"(max {max(runs):.2f}), {len(page.items)} items")  # fmt: skip

        timed("no filter, first page", TaskFilter())
        timed("no filter, 20 pages deep", TaskFilter(), pages=20)
        timed("owner filter (100 matches)", TaskFilter(owner="user7"))
        timed("name filter", TaskFilter(name="triage.classify_case"))
        timed("owner + name (~33 matches)", TaskFilter(owner="user7", name="maintenance.ping"))
        timed(
            "state + name, 10 pages deep", TaskFilter(state="PENDING", name="maintenance.ping"), 10
        )
        timed("owner that has nothing", TaskFilter(owner="nobody"))


if __name__ == "__main__":
    main()
