"""Task run and wait time histograms, kept as bucket counters in Redis by the transition script.

Each task name has one hash per histogram (`stats:hist:run:<name>`, `stats:hist:wait:<name>`):
field `"<i>"` counts the observations that fell in bucket i (not cumulative: one HINCRBY per
observation), the last index being +Inf, and field `sum` their total in milliseconds. Every
API replica reads the same hashes, so /metrics shows the same totals whichever replica answers,
and Prometheus can sum them over replicas and windows (a quantile from a sample cannot).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = [
    "BUCKETS_MS",
    "BUCKETS_S",
    "Histogram",
    "lua_bounds",
    "parse",
]

# Upper bounds, in seconds (Prometheus' base unit): 5 ms to one hour.
BUCKETS_S: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
    600.0, 1800.0, 3600.0,
)  # fmt: skip
BUCKETS_MS: tuple[int, ...] = tuple(round(b * 1000) for b in BUCKETS_S)


def lua_bounds() -> str:
    """The bounds as a Lua table literal, substituted into transition.lua when it is loaded."""
    return "{" + ", ".join(str(b) for b in BUCKETS_MS) + "}"


class Histogram:
    """One histogram read back from its hash: cumulative buckets, sum and count, in seconds."""

    def __init__(self, counts: Sequence[int], sum_ms: int) -> None:
        self.counts = list(counts)  # per bucket, len(BUCKETS_S) + 1 (the last is +Inf)
        self.sum_s = sum_ms / 1000

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative(self) -> list[tuple[str, int]]:
        """(le, cumulative count) pairs as Prometheus exposes them, +Inf last."""
        out: list[tuple[str, int]] = []
        running = 0
        for bound, n in zip([*map(_le, BUCKETS_S), "+Inf"], self.counts, strict=True):
            running += n
            out.append((bound, running))
        return out

    def quantile_ms(self, q: float) -> int | None:
        """The q-quantile, interpolated inside its bucket as PromQL's histogram_quantile does
        (None when empty; the highest finite bound when it falls in the +Inf bucket)."""
        total = self.count
        if total == 0:
            return None
        rank = q * total
        running = 0
        lower = 0.0
        for i, n in enumerate(self.counts):
            if i == len(BUCKETS_MS):
                return BUCKETS_MS[-1]
            upper = float(BUCKETS_MS[i])
            if n and running + n >= rank:
                return round(lower + (upper - lower) * (rank - running) / n)
            running += n
            lower = upper
        return BUCKETS_MS[-1]

    def percentiles_ms(self, points: Sequence[int] = (50, 95, 99)) -> dict[str, int | None]:
        return {f"p{p}": self.quantile_ms(p / 100) for p in points}


def parse(raw: Mapping[str, str]) -> Histogram:
    """A histogram from its Redis hash (fields "0".."N" and "sum"; missing ones are zero)."""
    counts = [int(raw.get(str(i), 0)) for i in range(len(BUCKETS_S) + 1)]
    return Histogram(counts, int(raw.get("sum", 0)))


def _le(bound: float) -> str:
    return repr(float(bound))
