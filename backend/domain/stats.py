"""Small statistics shared by the status store and the reports: nearest-rank percentiles."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentiles(
    samples: Sequence[str | int], points: Sequence[int] = (50, 95, 99)
) -> dict[str, int | None]:
    """Nearest-rank percentiles of a sample, in the sample's unit (None when empty)."""
    values = sorted(int(v) for v in samples)
    if not values:
        return {f"p{p}": None for p in points}
    return {f"p{p}": values[max(0, math.ceil(p / 100 * len(values)) - 1)] for p in points}
