"""A line chart drawn on the server, as SVG coordinates for a template: no script needed.

One line per query over the same buckets; a bucket with nothing to divide by (no article in
the archive that day) breaks the line instead of reading as zero. Each line has its own
colour and dash pattern, so the lines stay apart without colour.
"""

from __future__ import annotations

import math

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 36  # room for the axes' labels
STYLES = [  # colour (each at least 3:1 against the page) and dash pattern
    ("#9b2c1f", ""), ("#1a5fb4", "6 3"), ("#2e7d32", "2 3"), ("#6a3d9a", "10 3 2 3"), ("#8a5a00", "1 2"),
]


def nice_ceiling(value: float) -> float:
    """The axis's top: 1, 2, 2.5 or 5 times a power of ten, at or above the value."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 2.5, 5, 10) if value <= step * power * (1 + 1e-9))


def axis_label(value: float, percent: bool) -> str:
    if percent:
        return f"{value * 100:.3g}%"
    return f"{value:,.0f}" if value >= 1 or value == 0 else f"{value:.2g}"


def line_chart(series: list[tuple[str, list[float | None]]], keys: list[str], percent: bool) -> dict | None:
    """``series``: (label, one value per bucket, None for no value); ``percent``: values are
    shares (0 to 1). Returns what templates/coverage.html draws, or None with nothing to draw."""
    values = [value for _, points in series for value in points if value is not None]
    if not keys or not values:
        return None
    top = nice_ceiling(max(values))
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_width / max(len(keys) - 1, 1)

    def x(index: int) -> float:
        return round(LEFT + (index * step if len(keys) > 1 else plot_width / 2), 1)

    def y(value: float) -> float:
        return round(TOP + plot_height * (1 - value / top), 1)

    lines = []
    for number, (label, points) in enumerate(series):
        colour, dashes = STYLES[number % len(STYLES)]
        segments: list[list[tuple[float, float]]] = [[]]
        dots = []
        for index, value in enumerate(points):
            if value is None:
                if segments[-1]:
                    segments.append([])
                continue
            segments[-1].append((x(index), y(value)))
            dots.append({"x": x(index), "y": y(value), "title": f"{label}, {keys[index]}: {axis_label(value, percent)}"})
        lines.append({"label": label, "colour": colour, "dashes": dashes, "dots": dots,
                      "segments": [" ".join(f"{px},{py}" for px, py in segment) for segment in segments if segment]})
    ticks = [{"y": y(top * fraction), "label": axis_label(top * fraction, percent)} for fraction in (0, 0.5, 1)]
    middle = len(keys) // 2
    labels = [{"x": x(0), "label": keys[0], "anchor": "start"}]
    if len(keys) > 2:
        labels.append({"x": x(middle), "label": keys[middle], "anchor": "middle"})
    if len(keys) > 1:
        labels.append({"x": x(len(keys) - 1), "label": keys[-1], "anchor": "end"})
    return {"width": WIDTH, "height": HEIGHT, "left": LEFT, "right": WIDTH - RIGHT, "top": TOP,
            "bottom": HEIGHT - BOTTOM, "lines": lines, "ticks": ticks, "labels": labels}
