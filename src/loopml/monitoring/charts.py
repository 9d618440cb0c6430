"""Reference-vs-current charts for the drift report, as inline SVG with no script.

Two series on one axis: reference bars in the muted colour, current bars over
them in the accent colour, half transparent, so a shift reads at a glance.
Numeric columns get a histogram over the reference's quantile bins (bar height
is density: share divided by bin width, so wide outer bins are not inflated);
categorical columns get paired horizontal bars. Text from data is escaped with
:func:`loopml.evaluation.svg.escape`.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from loopml.evaluation.svg import escape, number

WIDTH = 360
HEIGHT = 180
MARGIN = 28
LABEL_WIDTH = 150
BAR_WIDTH = 200
ROW_HEIGHT = 22
LABEL_CHARS = 22


def _svg(width: float, height: float, label: str, body: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'width="{width:.0f}" height="{height:.0f}" role="img" aria-label="{escape(label)}">'
        f"{body}</svg>"
    )


def _legend(y: float) -> str:
    return (
        f'<rect class="ref" x="{MARGIN}" y="{y - 9}" width="10" height="10"/>'
        f'<text x="{MARGIN + 14}" y="{y}">reference</text>'
        f'<rect class="cur" x="{MARGIN + 90}" y="{y - 9}" width="10" height="10"/>'
        f'<text x="{MARGIN + 104}" y="{y}">current</text>'
    )


def histogram(
    edges: Sequence[float], reference: Sequence[float], current: Sequence[float], *, label: str
) -> str:
    """Overlaid histograms of two share vectors over ``len(edges) - 1`` bins."""
    low, high = edges[0], edges[-1]
    span = (high - low) or 1.0
    inner_w, inner_h = WIDTH - 2 * MARGIN, HEIGHT - 2 * MARGIN

    def x(value: float) -> float:
        return MARGIN + (value - low) / span * inner_w

    widths = [max(b - a, span / 1000) for a, b in itertools.pairwise(edges)]
    densities = [
        [share / w for share, w in zip(series, widths, strict=True)]
        for series in (reference, current)
    ]
    top = max((d for series in densities for d in series), default=0.0) or 1.0
    parts = [_legend(14)]
    for css, series, shares in zip(("ref", "cur"), densities, (reference, current), strict=True):
        for i, density in enumerate(series):
            height = density / top * inner_h
            parts.append(
                f'<rect class="{css}" x="{x(edges[i]):.1f}" y="{HEIGHT - MARGIN - height:.1f}" '
                f'width="{max(x(edges[i + 1]) - x(edges[i]), 0.5):.1f}" height="{height:.1f}">'
                f"<title>{css} [{number(edges[i])}, {number(edges[i + 1])}): "
                f"{shares[i]:.1%}</title></rect>"
            )
    parts.append(
        f'<line class="axis" x1="{MARGIN}" y1="{HEIGHT - MARGIN}" x2="{WIDTH - MARGIN}" '
        f'y2="{HEIGHT - MARGIN}"/>'
        f'<text x="{MARGIN}" y="{HEIGHT - MARGIN + 14}">{number(low)}</text>'
        f'<text x="{WIDTH - MARGIN}" y="{HEIGHT - MARGIN + 14}" text-anchor="end">'
        f"{number(high)}</text>"
    )
    return _svg(WIDTH, HEIGHT, label, "".join(parts))


def paired_bars(
    labels: Sequence[str], reference: Sequence[float], current: Sequence[float], *, label: str
) -> str:
    """Reference and current share per category, one row each, on a shared scale."""
    top = max([*reference, *current, 0.0]) or 1.0
    parts = [_legend(14)]
    for row, name in enumerate(labels):
        y = 24 + row * ROW_HEIGHT
        shown = name if len(name) <= LABEL_CHARS else name[: LABEL_CHARS - 1] + "…"
        parts.append(
            f'<text x="{LABEL_WIDTH - 6}" y="{y + 13}" text-anchor="end">'
            f"<title>{escape(name)}</title>{escape(shown)}</text>"
        )
        for css, share, offset in (("ref", reference[row], 0), ("cur", current[row], 9)):
            parts.append(
                f'<rect class="{css}" x="{LABEL_WIDTH}" y="{y + offset}" '
                f'width="{max(share / top * BAR_WIDTH, 0.5):.1f}" height="9">'
                f"<title>{css} {escape(name)}: {share:.1%}</title></rect>"
            )
        parts.append(
            f'<text x="{LABEL_WIDTH + BAR_WIDTH + 6}" y="{y + 13}">'
            f"{reference[row]:.1%} → {current[row]:.1%}</text>"
        )
    height = 24 + len(labels) * ROW_HEIGHT + 4
    return _svg(LABEL_WIDTH + BAR_WIDTH + 110, height, label, "".join(parts))
