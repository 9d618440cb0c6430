"""The HTML page of a dataset profile: one self-contained file, readable without a server.

The page is served under ``default-src 'none'; style-src 'unsafe-inline'``, so
everything it needs is inline: one ``<style>`` block, ``style`` attributes for
bar widths, and histograms drawn here as SVG. There is no script. Column names
and values come from the data, so every one of them goes through
:func:`html.escape` before it reaches the page.
"""

from __future__ import annotations

import html
import math
from typing import Any

from loopml.data.profile import ColumnProfile, Histogram, Profile

_CHART_WIDTH = 480
_CHART_HEIGHT = 120
_AXIS_HEIGHT = 18
_LABEL_CHARS = 60

_STYLE = """
:root{--fg:#1f2328;--muted:#656d76;--line:#d8dee4;--bar:#4f7cac;--bg:#f6f8fa}
*{box-sizing:border-box}
body{margin:0;padding:2rem 1rem;background:var(--bg);color:var(--fg);
font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:64rem;margin:0 auto}
h1{font-size:1.5rem;margin:0 0 .25rem;overflow-wrap:anywhere}
h2{font-size:1.1rem;margin:0 0 .75rem;overflow-wrap:anywhere}
h3{font-size:.75rem;font-weight:600;color:var(--muted);text-transform:uppercase;
letter-spacing:.04em;margin:1rem 0 .35rem}
.meta{color:var(--muted);margin:0 0 1.5rem}
.card{background:#fff;border:1px solid var(--line);border-radius:6px;padding:1rem 1.25rem;
margin:0 0 1rem}
.kind{font-size:.75rem;font-weight:500;color:var(--muted);border:1px solid var(--line);
border-radius:999px;padding:0 .5rem;margin-left:.5rem;vertical-align:middle}
code{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;color:var(--muted)}
.row{display:flex;flex-wrap:wrap;gap:0 2.5rem}
table{border-collapse:collapse}
th,td{padding:.15rem 1rem .15rem 0;text-align:left;vertical-align:top}
th{font-weight:500;color:var(--muted)}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.summary th,.summary td{border-bottom:1px solid var(--line);padding:.3rem 1rem .3rem 0}
.summary a{color:inherit}
.label{max-width:20rem;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.bar{width:12rem}
.bar span{display:block;height:.75rem;min-width:1px;background:var(--bar);border-radius:2px}
.none{color:var(--muted)}
svg{display:block;max-width:100%;height:auto}
svg .bin{fill:var(--bar)}
svg .axis{stroke:var(--line)}
svg text{font:11px system-ui,sans-serif;fill:var(--muted)}
"""


def render_profile_html(profile: Profile, title: str) -> str:
    """A complete HTML page for ``profile``: a summary, then one card per column.

    Args:
        profile: the profile to show.
        title: the page's title (escaped like every other value).

    Returns:
        The page, with no script and no external resources.
    """
    cards = "\n".join(_card(index, column) for index, column in enumerate(profile.columns))
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n<main>\n"
        f"<h1>{_e(title)}</h1>\n{_summary(profile)}\n{cards}\n</main>\n</body>\n</html>\n"
    )


def _summary(profile: Profile) -> str:
    """Rows and columns, then one line per column linking to its card."""
    rows = "".join(
        f'<tr><td><a href="#column-{index}">{_e(column.name)}</a></td>'
        f"<td>{_e(column.kind)}</td><td><code>{_e(column.type)}</code></td>"
        f'<td class="num">{_percent(column.missing_fraction)}</td>'
        f'<td class="num">{_format(column.distinct)}</td></tr>'
        for index, column in enumerate(profile.columns)
    )
    return (
        f'<p class="meta">{_format(profile.row_count)} rows · '
        f"{_format(len(profile.columns))} columns</p>\n"
        '<section class="card"><table class="summary"><tr><th>column</th><th>kind</th>'
        '<th>type</th><th class="num">missing</th><th class="num">distinct</th></tr>'
        f"{rows}</table></section>"
    )


def _card(index: int, column: ColumnProfile) -> str:
    parts = [_stats_table(column)]
    if column.quantiles:
        parts.append(_quantiles_table(column.quantiles))
    sections = [f'<div class="row">{"".join(parts)}</div>']
    if column.top_values:
        sections.append(_top_values(column))
    if column.histogram is not None:
        sections.append(f"<h3>histogram</h3>{_histogram_svg(column.histogram, column.name)}")
    return (
        f'<section class="card" id="column-{index}">'
        f'<h2>{_e(column.name)}<span class="kind">{_e(column.kind)}</span></h2>'
        f"{''.join(sections)}</section>"
    )


def _stats_table(column: ColumnProfile) -> str:
    missing = f"{_format(column.missing)} ({_percent(column.missing_fraction)})"
    stats: list[tuple[str, Any]] = [
        ("type", column.type),
        ("count", column.count),
        ("missing", missing),
        ("distinct", column.distinct),
        ("min", column.min),
        ("max", column.max),
        ("mean", column.mean),
        ("std", column.std),
        ("min length", column.min_length),
        ("max length", column.max_length),
    ]
    shown = [(name, value) for name, value in stats if value is not None]
    return _table("statistics", [(name, _format(value)) for name, value in shown])


def _quantiles_table(quantiles: dict[str, float]) -> str:
    rows = [(f"{float(q) * 100:g}%", _format(value)) for q, value in quantiles.items()]
    return _table("quantiles", rows)


def _table(heading: str, rows: list[tuple[str, str]]) -> str:
    """A two-column table; the cells are already escaped."""
    body = "".join(
        f'<tr><th>{_e(name)}</th><td class="num">{value}</td></tr>' for name, value in rows
    )
    return f"<div><h3>{_e(heading)}</h3><table>{body}</table></div>"


def _top_values(column: ColumnProfile) -> str:
    """Horizontal bars, each as wide as the value's share of the non-null values."""
    rows = []
    for value, count in column.top_values:
        share = count / column.count if column.count else 0.0
        rows.append(
            f'<tr><td class="label" title="{_full(value)}">{_format(value)}</td>'
            f'<td class="bar"><span style="width:{share * 100:.1f}%"></span></td>'
            f'<td class="num">{_format(count)}</td><td class="num">{_percent(share)}</td></tr>'
        )
    return f"<h3>top values</h3><table>{''.join(rows)}</table>"


def _histogram_svg(histogram: Histogram, name: str) -> str:
    """Bars scaled to the largest bin, with the first and last edge under the axis."""
    highest = max(histogram.counts, default=0) or 1
    width = _CHART_WIDTH / max(len(histogram.counts), 1)
    bars = []
    for position, count in enumerate(histogram.counts):
        height = _CHART_HEIGHT * count / highest
        low, high = histogram.edges[position], histogram.edges[position + 1]
        bars.append(
            f'<rect class="bin" x="{position * width + 0.5:.1f}" y="{_CHART_HEIGHT - height:.1f}" '
            f'width="{max(width - 1, 0.5):.1f}" height="{height:.1f}">'
            f"<title>{_format(low)} to {_format(high)}: {_format(count)}</title></rect>"
        )
    total_height = _CHART_HEIGHT + _AXIS_HEIGHT
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_CHART_WIDTH} {total_height}" '
        f'width="{_CHART_WIDTH}" height="{total_height}" role="img" '
        f'aria-label="histogram of {_e(name)}">{"".join(bars)}'
        f'<line class="axis" x1="0" y1="{_CHART_HEIGHT}" x2="{_CHART_WIDTH}" '
        f'y2="{_CHART_HEIGHT}"/>'
        f'<text x="0" y="{total_height - 4}">{_format(histogram.edges[0])}</text>'
        f'<text x="{_CHART_WIDTH}" y="{total_height - 4}" text-anchor="end">'
        f"{_format(histogram.edges[-1])}</text></svg>"
    )


def _format(value: Any) -> str:
    """A value as short, escaped text: thousands separators, six significant digits."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return _format_float(value)
    text = str(value)
    if len(text) > _LABEL_CHARS:
        text = text[: _LABEL_CHARS - 1] + "…"
    return _e(text)


def _full(value: Any) -> str:
    """A value untruncated, for a tooltip."""
    return _e(value) if isinstance(value, str) else _format(value)


def _format_float(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "&infin;" if value > 0 else "-&infin;"
    if value.is_integer() and abs(value) < 1e15:
        return f"{value:,.0f}"
    return f"{value:,.6g}" if 1e-4 <= abs(value) < 1e15 else f"{value:.6g}"


def _percent(fraction: float) -> str:
    return f"{fraction * 100:.1f}%"


def _e(text: str) -> str:
    return html.escape(text, quote=True)


__all__ = ["render_profile_html"]
