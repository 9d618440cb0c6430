"""A drift comparison as one self-contained HTML page.

Like the evaluation page (:mod:`loopml.evaluation.report`): one ``<style>``
block, charts as inline SVG (:mod:`loopml.monitoring.charts`), no script and no
external resource, so it is safe to serve under ``default-src 'none';
style-src 'unsafe-inline'``. Column names, categories and notes come from the
data and are escaped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from loopml.evaluation.svg import escape, number
from loopml.monitoring import charts
from loopml.monitoring.entities import DRIFTED, ColumnDrift, DriftResult

_STYLE = """
:root{--fg:#1f2328;--muted:#656d76;--line:#d8dee4;--bar:#4f7cac;--bg:#f6f8fa;--bad:#b35900;
--ref:#9aa5b1;--cur:#d9822b}
*{box-sizing:border-box}
body{margin:0;padding:2rem 1rem;background:var(--bg);color:var(--fg);
font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:64rem;margin:0 auto}
h1{font-size:1.5rem;margin:0 0 .25rem;overflow-wrap:anywhere}
h2{font-size:1.1rem;margin:0 0 .75rem;overflow-wrap:anywhere}
.meta{color:var(--muted);margin:0 0 1.5rem}
.card{background:#fff;border:1px solid var(--line);border-radius:6px;padding:1rem 1.25rem;
margin:0 0 1rem;overflow-x:auto}
.verdict{font-size:1.25rem;font-weight:600;margin:0}
.drifted{color:var(--bad)}
table{border-collapse:collapse}
th,td{padding:.2rem 1rem .2rem 0;text-align:left;border-bottom:1px solid var(--line)}
th{font-weight:500;color:var(--muted)}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
ul.notes{margin:0;padding-left:1.25rem}
svg{display:block;max-width:100%;height:auto}
svg text{font:11px system-ui,sans-serif;fill:var(--muted)}
svg .axis{stroke:var(--line)}
svg .ref{fill:var(--ref)}
svg .cur{fill:var(--cur);fill-opacity:.6}
svg .frame{fill:none;stroke:var(--line)}
svg .curve{fill:none;stroke:var(--bar);stroke-width:2}
svg .dot{fill:var(--bar)}
"""


def render_json(result: DriftResult) -> str:
    """``result.to_dict()`` as indented JSON."""
    return json.dumps(result.to_dict(), indent=2, allow_nan=False, ensure_ascii=False) + "\n"


def render_html(
    result: DriftResult,
    *,
    title: str = "Drift report",
    history: Sequence[tuple[int, float | None]] = (),
    column_history: Mapping[str, Sequence[tuple[int, float | None]]] | None = None,
) -> str:
    """One HTML page: the dataset verdict, its history, a table of columns, a chart per column.

    Args:
        result: the comparison to show.
        title: the page's title (escaped like every other value).
        history: earlier windows as ``(window_end_ms, share_drifted)``, oldest first
            (a monitor's runs), drawn as one line so a trend reads at a glance.
        column_history: per column, earlier windows as ``(window_end_ms, score)`` of
            the detector that decides this result, drawn under the column's chart.

    Returns:
        The page, with no script and no external resources.
    """
    columns = [*result.columns, *([result.prediction] if result.prediction else [])]
    sections = [
        _summary_card(result),
        _history_card(history),
        _table_card(columns),
        *(_column_card(c, (column_history or {}).get(c.name, ())) for c in columns),
    ]
    meta = f"{result.reference_rows:,} reference rows · {result.current_rows:,} current rows"
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n<main>\n"
        f'<h1>{escape(title)}</h1>\n<p class="meta">{meta}</p>\n'
        f"{''.join(s for s in sections if s)}\n</main>\n</body>\n</html>\n"
    )


def _history_card(history: Sequence[tuple[int, float | None]]) -> str:
    """The share of drifted columns per window, oldest to newest, on a 0-1 scale."""
    chart = _history_chart(history, "share of drifted columns per window", "share drifted")
    return _card("History", chart, "history") if chart else ""


def _history_chart(history: Sequence[tuple[int, float | None]], label: str, y_label: str) -> str:
    """A line over windows (oldest to newest); empty below two known points."""
    points = [(at, value) for at, value in history if value is not None]
    if len(points) < 2:
        return ""
    from loopml.evaluation.svg import line_chart

    first, last = points[0][0], points[-1][0]
    span = (last - first) or 1
    xs = [(at - first) / span for at, _ in points]
    ys = [float(value) for _, value in points]
    top = max(ys)
    if top > 1:  # the chart is drawn on the unit square: scale scores such as PSI down
        ys = [y / top for y in ys]
        y_label = f"{y_label} / {top:.3g}"
    return line_chart((xs, ys), label=label, x_label="window (oldest to newest)", y_label=y_label)


def _card(heading: str, body: str, anchor: str) -> str:
    return f'<section class="card" id="{anchor}"><h2>{escape(heading)}</h2>{body}</section>\n'


def _summary_card(result: DriftResult) -> str:
    share = result.share_drifted
    if result.dataset_drifted is None:
        verdict = '<p class="verdict">No verdict: no column had enough data</p>'
    else:
        word = "Dataset drifted" if result.dataset_drifted else "No dataset drift"
        css = " drifted" if result.dataset_drifted else ""
        verdict = f'<p class="verdict{css}">{word}</p>'
    lines = [
        f"{len(result.drifted_columns)} of {len(result.judged)} columns drifted"
        + (f" ({share:.0%}; threshold {result.drift_share:.0%})" if share is not None else ""),
    ]
    if result.drifted_columns:
        lines.append("drifted: " + ", ".join(escape(c) for c in result.drifted_columns))
    if result.prediction is not None:
        lines.append(f"prediction drift: {escape(result.prediction.verdict)}")
    if result.multivariate is not None:
        mv = result.multivariate
        state = (
            "insufficient data" if mv.drifted is None else ("drifted" if mv.drifted else "stable")
        )
        lines.append(
            f"domain classifier ROC AUC {number(mv.score)} "
            f"(threshold {number(mv.threshold)}): {state}"
        )
    items = "".join(f"<li>{line}</li>" for line in lines)
    return _card("Summary", f'{verdict}<ul class="notes">{items}</ul>', "summary")


def _table_card(columns: list[ColumnDrift]) -> str:
    head = (
        "<tr><th>column</th><th>kind</th><th>detector</th><th class='num'>score</th>"
        "<th class='num'>threshold</th><th>verdict</th><th>quality</th></tr>"
    )
    rows = []
    for column in columns:
        result = column.headline
        kind = (
            column.kind
            if column.kind == column.current_kind
            else (f"{column.kind} → {column.current_kind}")
        )
        css = " class='drifted'" if column.verdict == DRIFTED else ""
        rows.append(
            f"<tr><td><a href='#col-{_slug(column.name)}'>{escape(column.name)}</a></td>"
            f"<td>{escape(kind)}</td><td>{escape(result.detector) if result else ''}</td>"
            f"<td class='num'>{number(result.score) if result else ''}</td>"
            f"<td class='num'>{number(result.threshold) if result else ''}</td>"
            f"<td{css}>{escape(column.verdict)}</td>"
            f"<td>{escape(', '.join(column.quality.codes)) or 'ok'}</td></tr>"
        )
    return _card("Columns", f"<table>{head}{''.join(rows)}</table>", "columns")


def _column_card(column: ColumnDrift, history: Sequence[tuple[int, float | None]] = ()) -> str:
    body = [f'<p class="meta">{escape(column.verdict)}</p>']
    dist = column.distribution
    if dist is not None and dist.edges:
        body.append(charts.histogram(dist.edges, dist.reference, dist.current, label=column.name))
    elif dist is not None:
        body.append(
            charts.paired_bars(dist.labels, dist.reference, dist.current, label=column.name)
        )
    if column.results:
        rows = "".join(
            f"<tr><td>{escape(r.detector)}{' *' if r.detector in column.decided_by else ''}</td>"
            f"<td class='num'>{number(r.score)}</td><td class='num'>{number(r.threshold)}</td>"
            f"<td>{_flag(r.drifted)}</td><td>{escape(r.note)}</td></tr>"
            for r in column.results
        )
        body.append(
            "<table><tr><th>detector (* decides)</th><th class='num'>score</th>"
            f"<th class='num'>threshold</th><th>drift</th><th>note</th></tr>{rows}</table>"
        )
    if column.quality.issues:
        items = "".join(f"<li>{escape(i.message)}</li>" for i in column.quality.issues)
        body.append(f'<ul class="notes">{items}</ul>')
    if column.headline is not None:
        detector = column.headline.detector
        body.append(_history_chart(history, f"{column.name}: {detector} per window", detector))
    return _card(column.name, "".join(body), f"col-{_slug(column.name)}")


def _flag(drifted: bool | None) -> str:
    return "insufficient data" if drifted is None else ("yes" if drifted else "no")


def _slug(text: str) -> str:
    """An id attribute's value: letters, digits and dashes only."""
    return "".join(c if c.isalnum() else "-" for c in text)[:60]
