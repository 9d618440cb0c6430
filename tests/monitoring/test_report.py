from __future__ import annotations

import re

import numpy as np
import pandas as pd

from loopml.monitoring import compare, render_html
from loopml.monitoring.report import render_json


def test_page_is_self_contained_with_a_chart_per_column(drift_frames):
    reference, current = drift_frames(1_000)
    result = compare(reference, current)
    page = render_html(result, title="Nightly <drift>")
    assert "<script" not in page.lower()
    assert not re.search(r"(src|href)=['\"]https?:", page)
    assert "<title>Nightly &lt;drift&gt;</title>" in page
    assert "No dataset drift" in page
    assert page.count("<svg") == len(result.columns)
    assert "brand-new" in page  # the new category's bar
    assert render_json(result).startswith("{")


def test_user_strings_are_escaped_and_odd_columns_do_not_break_the_page():
    rng = np.random.default_rng(0)
    evil = "<img src=x onerror=alert(1)>"
    reference = pd.DataFrame({evil: rng.choice(["<b>", "ok"], 300), "gone": np.ones(300)})
    current = pd.DataFrame({evil: rng.choice(["<b>", "ok"], 300), "empty": [None] * 300})
    page = render_html(compare(reference, current))
    assert evil not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<b>" not in page
    assert "missing_column" in page
    assert "extra_column" in page


def test_history_draws_the_share_drifted_across_windows(drift_frames):
    reference, current = drift_frames(1_000)
    result = compare(reference, current)
    history = [(1_000, 0.0), (2_000, None), (3_000, 0.25), (4_000, result.share_drifted)]
    page = render_html(result, title="monitor m", history=history)
    assert 'id="history"' in page
    assert page.count("<polyline") >= 1
    assert "svg .curve{fill:none" in page  # drawn as a line, not a filled shape
    assert 'id="history"' not in render_html(result, history=[(1_000, 0.5)])  # one point: no line
