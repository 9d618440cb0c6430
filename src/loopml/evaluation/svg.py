"""Small SVG charts drawn by hand for the HTML report: lines, bars, a heatmap.

Every chart is one ``<svg>`` element sized by its ``viewBox``, styled by the
page's classes, with no script. Text that comes from data (labels, feature
names, segment values) is escaped here, so callers pass it raw.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

WIDTH = 320
HEIGHT = 240
MARGIN = 36
BAR_HEIGHT = 16
LABEL_WIDTH = 170
BAR_WIDTH = 260
LABEL_CHARS = 28


def escape(text: object) -> str:
    return html.escape(str(text), quote=True)


def number(value: float) -> str:
    """Six significant digits; NaN and infinities spelled out."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    return f"{value:.4g}"


def _svg(width: float, height: float, label: str, body: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'width="{width:.0f}" height="{height:.0f}" role="img" aria-label="{escape(label)}">'
        f"{body}</svg>"
    )


def line_chart(
    points: tuple[Sequence[float], Sequence[float]],
    *,
    label: str,
    x_label: str,
    y_label: str,
    diagonal: bool = False,
) -> str:
    """One curve on the unit square, optionally over the dashed ``y = x`` reference."""
    inner_w, inner_h = WIDTH - 2 * MARGIN, HEIGHT - 2 * MARGIN

    def xy(x: float, y: float) -> tuple[str, str]:
        return f"{MARGIN + x * inner_w:.1f}", f"{HEIGHT - MARGIN - y * inner_h:.1f}"

    def at(x: float, y: float) -> str:
        return ",".join(xy(x, y))

    xs, ys = points
    path = " ".join(at(x, y) for x, y in zip(xs, ys, strict=True) if not math.isnan(x + y))
    parts = [
        f'<rect class="frame" x="{MARGIN}" y="{MARGIN}" width="{inner_w}" height="{inner_h}"/>',
        f'<text x="{MARGIN}" y="{HEIGHT - MARGIN + 14}">0</text>',
        f'<text x="{WIDTH - MARGIN}" y="{HEIGHT - MARGIN + 14}" text-anchor="end">1</text>',
        f'<text x="{MARGIN - 4}" y="{MARGIN + 4}" text-anchor="end">1</text>',
        f'<text x="{WIDTH / 2:.0f}" y="{HEIGHT - 6}" text-anchor="middle">{escape(x_label)}</text>',
        f'<text x="12" y="{HEIGHT / 2:.0f}" transform="rotate(-90 12 {HEIGHT / 2:.0f})" '
        f'text-anchor="middle">{escape(y_label)}</text>',
    ]
    if diagonal:
        parts.append(f'<polyline class="reference" points="{at(0, 0)} {at(1, 1)}"/>')
    parts.append(f'<polyline class="curve" points="{path}"/>')
    if len(xs) <= 20:  # few points (calibration bins): mark each one
        for x, y in zip(xs, ys, strict=True):
            if not math.isnan(x + y):
                cx, cy = xy(x, y)
                parts.append(
                    f'<circle class="dot" cx="{cx}" cy="{cy}" r="3">'
                    f"<title>{number(x)}, {number(y)}</title></circle>"
                )
    return _svg(WIDTH, HEIGHT, label, "".join(parts))


def bar_chart(rows: Sequence[tuple[str, float]], *, label: str) -> str:
    """Horizontal bars from a zero line (negative values go left), one row per item."""
    finite = [v for _, v in rows if math.isfinite(v)]
    low, high = min([0.0, *finite]), max([0.0, *finite])
    span = (high - low) or 1.0
    zero = LABEL_WIDTH + BAR_WIDTH * (0 - low) / span
    parts = []
    for position, (name, value) in enumerate(rows):
        y = position * (BAR_HEIGHT + 4)
        shown = name if len(name) <= LABEL_CHARS else name[: LABEL_CHARS - 1] + "…"
        parts.append(
            f'<text x="{LABEL_WIDTH - 6}" y="{y + 12}" text-anchor="end">'
            f"<title>{escape(name)}</title>{escape(shown)}</text>"
        )
        if math.isfinite(value):
            end = LABEL_WIDTH + BAR_WIDTH * (value - low) / span
            parts.append(
                f'<rect class="bar" x="{min(zero, end):.1f}" y="{y}" '
                f'width="{max(abs(end - zero), 0.5):.1f}" height="{BAR_HEIGHT}">'
                f"<title>{escape(name)}: {number(value)}</title></rect>"
            )
        parts.append(f'<text x="{LABEL_WIDTH + BAR_WIDTH + 6}" y="{y + 12}">{number(value)}</text>')
    height = max(len(rows), 1) * (BAR_HEIGHT + 4)
    parts.append(f'<line class="axis" x1="{zero:.1f}" y1="0" x2="{zero:.1f}" y2="{height}"/>')
    # room for the longest value label ("-4.441e-16"), about 7 px a character
    value_width = 12 + 7 * max((len(number(v)) for _, v in rows), default=4)
    return _svg(LABEL_WIDTH + BAR_WIDTH + value_width, height, label, "".join(parts))


def heatmap(labels: Sequence[str], counts: Sequence[Sequence[int]], *, label: str) -> str:
    """A confusion matrix: true labels down the side, predicted labels along the top."""
    cell = max(28, min(64, 360 // max(len(labels), 1)))
    left, top = 110, 40
    highest = max((c for row in counts for c in row), default=0) or 1
    parts = [
        f'<text x="{left}" y="12">predicted →</text>',
        f'<text x="{left - 6}" y="{top - 6}" text-anchor="end">true ↓</text>',
    ]
    for i, name in enumerate(labels):
        short = escape(name[:14])
        parts.append(
            f'<text x="{left + i * cell + cell / 2:.0f}" y="{top - 6}" '
            f'text-anchor="middle">{short}</text>'
        )
        parts.append(
            f'<text x="{left - 6}" y="{top + i * cell + cell / 2 + 4:.0f}" '
            f'text-anchor="end">{short}</text>'
        )
        for j, count in enumerate(counts[i]):
            shade = 0.08 + 0.92 * count / highest
            parts.append(
                f'<rect class="cell" x="{left + j * cell}" y="{top + i * cell}" width="{cell - 1}" '
                f'height="{cell - 1}" fill-opacity="{shade:.3f}"><title>true {escape(name)}, '
                f"predicted {escape(labels[j])}: {count}</title></rect>"
                f'<text class="count" x="{left + j * cell + cell / 2:.0f}" '
                f'y="{top + i * cell + cell / 2 + 4:.0f}" text-anchor="middle">{count}</text>'
            )
    size = len(labels) * cell
    return _svg(left + size + 10, top + size + 10, label, "".join(parts))
