"""An evaluation as JSON and as one self-contained HTML page.

The page follows the dataset profile page (``loopml.data.report``): served
under ``default-src 'none'; style-src 'unsafe-inline'``, so it has one
``<style>`` block, charts drawn as inline SVG (:mod:`loopml.evaluation.svg`),
no script and no external resource. Column names, labels and segment values
come from the data, so every one of them is escaped before it reaches the page.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from loopml.evaluation import svg
from loopml.evaluation.entities import (
    Curve,
    EvaluationResult,
    FairnessReport,
    FeatureImportance,
    SegmentReport,
)
from loopml.evaluation.svg import escape, number

MAX_FEATURES_SHOWN = 20
_STYLE = """
:root{--fg:#1f2328;--muted:#656d76;--line:#d8dee4;--bar:#4f7cac;--bg:#f6f8fa;--bad:#b35900}
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
margin:0 0 1rem;overflow-x:auto}
.row{display:flex;flex-wrap:wrap;gap:1rem 2.5rem}
table{border-collapse:collapse}
th,td{padding:.2rem 1rem .2rem 0;text-align:left;border-bottom:1px solid var(--line)}
th{font-weight:500;color:var(--muted)}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.worse{color:var(--bad)}
ul.notes{margin:0;padding-left:1.25rem}
svg{display:block;max-width:100%;height:auto}
svg text{font:11px system-ui,sans-serif;fill:var(--muted)}
svg .frame{fill:none;stroke:var(--line)}
svg .axis{stroke:var(--line)}
svg .reference{fill:none;stroke:var(--line);stroke-dasharray:4 3}
svg .curve{fill:none;stroke:var(--bar);stroke-width:2}
svg .dot,svg .bar,svg .cell{fill:var(--bar)}
svg text.count{fill:var(--fg)}
"""
# Metrics where smaller is better: a positive delta against the baseline is worse.
_LOWER_IS_BETTER = frozenset({"log_loss", "brier", "mae", "mse", "rmse", "mape"})


def render_json(result: EvaluationResult) -> str:
    """``result.to_dict()`` as indented JSON (``NaN`` written as ``null``)."""
    return json.dumps(result.to_dict(), indent=2, allow_nan=False, ensure_ascii=False) + "\n"


def render_html(result: EvaluationResult, *, title: str = "Model evaluation") -> str:
    """One HTML page with every section the result has, charts as inline SVG.

    Args:
        result: the evaluation to show.
        title: the page's title (escaped like every other value).

    Returns:
        The page, with no script and no external resources.
    """
    sections = [
        _metrics_card(result),
        _confusion_card(result),
        _curves_card(result),
        _importance_card("Permutation importance", result.importance, result.importance_scoring),
        _importance_card("SHAP (mean |value|)", result.shap, None),
        *(_segment_card(report) for report in result.segments),
        *(_fairness_card(report) for report in result.fairness),
        _notes_card(result.notes),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n<main>\n"
        f"<h1>{escape(title)}</h1>\n{_meta(result)}\n"
        f"{''.join(s for s in sections if s)}\n</main>\n</body>\n</html>\n"
    )


def _meta(result: EvaluationResult) -> str:
    parts = [
        escape(result.task),
        f"target <code>{escape(result.target)}</code>",
        f"{result.row_count:,} rows",
        f"{len(result.features):,} features",
    ]
    if result.positive_label is not None:
        parts.append(f"positive label <code>{escape(result.positive_label)}</code>")
    return f'<p class="meta">{" · ".join(parts)}</p>'


def _card(heading: str, body: str, anchor: str) -> str:
    return f'<section class="card" id="{anchor}"><h2>{escape(heading)}</h2>{body}</section>\n'


def _metrics_card(result: EvaluationResult) -> str:
    """The metrics, side by side with the baseline's and the difference when there is one."""
    baseline, deltas = result.baseline, result.deltas
    head = "<tr><th>metric</th><th class='num'>model</th>"
    if baseline is not None:
        head += "<th class='num'>baseline</th><th class='num'>model - baseline</th>"
    rows = []
    for name, value in result.metrics.items():
        cells = f"<td>{escape(name)}</td><td class='num'>{number(value)}</td>"
        if baseline is not None:
            delta = deltas.get(name, float("nan"))
            worse = delta > 0 if name in _LOWER_IS_BETTER else delta < 0
            cells += (
                f"<td class='num'>{number(baseline.get(name, float('nan')))}</td>"
                f"<td class='num{' worse' if worse else ''}'>{number(delta)}</td>"
            )
        rows.append(f"<tr>{cells}</tr>")
    heading = "Metrics and baseline comparison" if baseline is not None else "Metrics"
    return _card(heading, f"<table>{head}</tr>{''.join(rows)}</table>", "metrics")


def _confusion_card(result: EvaluationResult) -> str:
    if result.confusion is None:
        return ""
    chart = svg.heatmap(result.confusion.labels, result.confusion.counts, label="confusion matrix")
    return _card("Confusion matrix", chart, "confusion")


def _curves_card(result: EvaluationResult) -> str:
    curves = result.curves
    charts = [
        _curve("ROC curve", curves.roc, "false positive rate", "true positive rate", True),
        _curve("Precision-recall curve", curves.pr, "recall", "precision", False),
        _curve(
            "Calibration", curves.calibration, "mean predicted score", "fraction positive", True
        ),
    ]
    shown = [c for c in charts if c]
    return _card("Curves", f'<div class="row">{"".join(shown)}</div>', "curves") if shown else ""


def _curve(heading: str, curve: Curve | None, x_label: str, y_label: str, diagonal: bool) -> str:
    if curve is None or not curve.x:
        return ""
    chart = svg.line_chart(
        (curve.x, curve.y), label=heading, x_label=x_label, y_label=y_label, diagonal=diagonal
    )
    return f"<div><h3>{escape(heading)}</h3>{chart}</div>"


def _importance_card(heading: str, items: Sequence[FeatureImportance], scoring: str | None) -> str:
    if not items:
        return ""
    shown = items[:MAX_FEATURES_SHOWN]
    chart = svg.bar_chart([(i.feature, i.mean) for i in shown], label=heading)
    rest = len(items) - len(shown)
    extra = f'<p class="meta">{rest} more features not shown</p>' if rest else ""
    about = f'<p class="meta">drop in {escape(scoring)} when shuffled</p>' if scoring else ""
    anchor = "shap" if scoring is None else "importance"
    return _card(heading, f"{about}{chart}{extra}", anchor)


def _segment_card(report: SegmentReport) -> str:
    names = list(dict.fromkeys(k for g in report.groups for k in g.metrics))
    head = "".join(f"<th class='num'>{escape(n)}</th>" for n in names)
    rows = "".join(
        f"<tr><td>{escape(g.value)}</td><td class='num'>{g.count:,}</td>"
        + "".join(f"<td class='num'>{number(g.metrics.get(n, float('nan')))}</td>" for n in names)
        + "</tr>"
        for g in report.groups
    )
    table = f"<table><tr><th>value</th><th class='num'>rows</th>{head}</tr>{rows}</table>"
    headline = next((n for n in ("roc_auc", "recall", "accuracy", "r2", "mae") if n in names), "")
    chart = ""
    if headline:
        bars = [(g.value, g.metrics[headline]) for g in report.groups]
        chart = f"<h3>{escape(headline)} by segment</h3>" + svg.bar_chart(
            bars, label=f"{headline} by {report.column}"
        )
    return _card(f"Segments by {report.column}", chart + table, f"segment-{_slug(report.column)}")


def _fairness_card(report: FairnessReport) -> str:
    measures = "".join(
        f"<tr><td>{m.replace('_', ' ')}</td><td class='num'>{number(getattr(report, m))}</td></tr>"
        for m in FairnessReport.MEASURES
    )
    head = "".join(f"<th class='num'>{r.replace('_', ' ')}</th>" for r in FairnessReport.RATES)
    groups = "".join(
        f"<tr><td>{escape(g.value)}</td><td class='num'>{g.count:,}</td>"
        + "".join(f"<td class='num'>{number(getattr(g, r))}</td>" for r in FairnessReport.RATES)
        + "</tr>"
        for g in report.groups
    )
    chart = svg.bar_chart(
        [(g.value, g.selection_rate) for g in report.groups],
        label=f"selection rate by {report.column}",
    )
    body = (
        f'<p class="meta">positive label <code>{escape(report.positive_label)}</code></p>'
        f'<div class="row"><table>{measures}</table><div><h3>selection rate</h3>{chart}</div></div>'
        f"<h3>per group</h3><table><tr><th>group</th><th class='num'>rows</th>{head}</tr>"
        f"{groups}</table>"
    )
    return _card(f"Fairness by {report.column}", body, f"fairness-{_slug(report.column)}")


def _notes_card(notes: Sequence[str]) -> str:
    if not notes:
        return ""
    items = "".join(f"<li>{escape(note)}</li>" for note in notes)
    return _card("Notes", f'<ul class="notes">{items}</ul>', "notes")


def _slug(text: str) -> str:
    """An id attribute's value: letters, digits and dashes only."""
    return "".join(c if c.isalnum() else "-" for c in text)[:60]
