"""Horizontal bar charts as inline SVG, in pure Python: titled, labelled, readable at a glance.

No plotting library: a report is one self-contained HTML file that opens anywhere, and
horizontal bars are all it needs (long Portuguese labels fit on the left, values on the right).
Every text is escaped here, so the returned markup is safe to embed as is.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 760
_ROW_H = 26
_BAR_H = 16
_TITLE_H = 34
_LEGEND_H = 24
_AXIS_H = 26
_PAD = 12
_CHAR_W = 7.0  # average width of a 12 px sans-serif character, to size the label column
_VALUE_W = 86
_LEGEND_CHAR_W = 5.9


@dataclass(frozen=True, slots=True)
class Series:
    """One set of bars: a value per category, drawn in one colour and named in the legend."""

    label: str
    values: Sequence[float]
    color: str


# A scale's top as a multiple of a power of ten, and how many gridline steps divide it evenly.
_NICE_STEPS = (
    (1.0, 5), (1.2, 4), (1.5, 5), (2.0, 4), (2.5, 5), (3.0, 6),
    (4.0, 4), (5.0, 5), (6.0, 6), (8.0, 4), (10.0, 5),
)  # fmt: skip


def nice_scale(value: float) -> tuple[float, int]:
    """The smallest round top (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 x 10^k) not below `value`,
    and a tick count that puts every gridline on a round number."""
    if value <= 0:
        return 1.0, 5
    exponent = math.floor(math.log10(value))
    for step, ticks in _NICE_STEPS:
        candidate = step * 10.0**exponent
        if candidate >= value * (1 - 1e-9):
            return candidate, ticks
    return 10.0 ** (exponent + 1), 5


def _text(x: float, y: float, content: str, **attrs: str) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{escape(v)}"' for k, v in attrs.items())
    return f'<text x="{x:.1f}" y="{y:.1f}"{extra}>{escape(content)}</text>'


def bar_chart(
    *,
    title: str,
    categories: Sequence[str],
    series: Sequence[Series],
    stacked: bool = False,
    value_format: Callable[[float], str] = lambda v: f"{v:g}",
    empty_message: str = "Sem dados no período.",
) -> str:
    """An SVG bar chart: one row per category; several series side by side or `stacked`."""
    if any(len(s.values) != len(categories) for s in series):
        raise ValueError("every series needs one value per category")
    totals = [
        sum(s.values[i] for s in series)
        if stacked
        else max((s.values[i] for s in series), default=0)
        for i in range(len(categories))
    ]
    has_data = any(t > 0 for t in totals)
    label_w = min(260.0, max([_CHAR_W * len(c) for c in categories] + [60.0]) + 8)
    plot_x = _PAD + label_w
    plot_w = WIDTH - plot_x - _VALUE_W - _PAD
    legend = len(series) > 1 and has_data
    per_row = 1 if stacked else max(1, len(series))
    row_h = _ROW_H if per_row == 1 else per_row * (_BAR_H - 4) + 10
    top = _TITLE_H + (_LEGEND_H if legend else 0)
    rows_h = row_h * len(categories) if has_data else 40
    height = top + rows_h + (_AXIS_H if has_data else 0) + _PAD

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" role="img" aria-label="{escape(title)}" '
        'font-family="Helvetica, Arial, sans-serif" font-size="12">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>',
        _text(_PAD, 22, title, font_size="15", font_weight="bold", fill="#111827"),
    ]
    if not has_data:
        parts.append(_text(_PAD, top + 22, empty_message, fill="#6b7280"))
        parts.append("</svg>")
        return "".join(parts)

    if legend:
        x = float(_PAD)
        for s in series:
            parts.append(
                f'<rect x="{x:.1f}" y="{_TITLE_H - 2}" width="12" height="12" '
                f'fill="{escape(s.color)}"/>'
            )
            parts.append(_text(x + 17, _TITLE_H + 8, s.label, fill="#374151"))
            x += 17 + _LEGEND_CHAR_W * len(s.label) + 18

    scale_max, ticks = nice_scale(max(totals))
    axis_y = top + rows_h
    for t in range(ticks + 1):
        value = scale_max * t / ticks
        x = plot_x + plot_w * t / ticks
        stroke = "#9ca3af" if t == 0 else "#e5e7eb"
        parts.append(
            f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{axis_y}" stroke="{stroke}"/>'
        )
        parts.append(
            _text(x, axis_y + 15, value_format(value), text_anchor="middle", fill="#6b7280")
        )

    def width_of(value: float) -> float:
        return plot_w * value / scale_max

    for i, category in enumerate(categories):
        row_top = top + i * row_h
        mid = row_top + row_h / 2
        parts.append(_text(plot_x - 8, mid + 4, category, text_anchor="end", fill="#111827"))
        if stacked:
            x = plot_x
            y = mid - _BAR_H / 2
            for s in series:
                w = width_of(s.values[i])
                if w > 0:
                    parts.append(
                        f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{_BAR_H}" '
                        f'fill="{escape(s.color)}"><title>{escape(category)} · '
                        f"{escape(s.label)}: {escape(value_format(s.values[i]))}</title></rect>"
                    )
                x += w
            parts.append(_text(x + 6, mid + 4, value_format(totals[i]), fill="#111827"))
            continue
        bar_h = _BAR_H if per_row == 1 else _BAR_H - 4
        y = mid - per_row * bar_h / 2
        for s in series:
            w = width_of(s.values[i])
            parts.append(
                f'<rect x="{plot_x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{bar_h}" '
                f'fill="{escape(s.color)}"><title>{escape(category)} · {escape(s.label)}: '
                f"{escape(value_format(s.values[i]))}</title></rect>"
            )
            size = "12" if per_row == 1 else "10"
            label = value_format(s.values[i])
            parts.append(
                _text(plot_x + w + 6, y + bar_h - 3, label, fill="#111827", font_size=size)
            )
            y += bar_h
    parts.append("</svg>")
    return "".join(parts)
