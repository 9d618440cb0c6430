"""The JSON and HTML reports: every section drawn, nothing executable, data escaped."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import numpy as np
import pytest

from loopml.evaluation import EvaluationResult, evaluate_model, render_html, render_json

from .conftest import Case

HOSTILE = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def result(cancer: Case) -> EvaluationResult:
    frame = cancer.frame.assign(
        region=np.where(cancer.frame["mean radius"] > 15, HOSTILE, cancer.frame["region"])
    ).rename(columns={"sex": 'sex"><b>'})
    return evaluate_model(
        cancer.models["boosted"],
        frame,
        target="target",
        task="classification",
        feature_columns=cancer.features,
        segments=("region",),
        sensitive=('sex"><b>',),
        baseline=cancer.models["logistic"],
        importance_repeats=1,
    )


def sections(page: str) -> dict[str, str]:
    """Each card's id and its HTML."""
    found = re.findall(r'<section class="card" id="([^"]+)">(.*?)</section>', page, re.S)
    return dict(found)


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)


def test_every_section_has_its_chart(result: EvaluationResult) -> None:
    page = render_html(result, title="GBM vs champion")
    cards = sections(page)
    assert set(cards) == {
        "metrics",
        "confusion",
        "curves",
        "importance",
        "shap",
        "segment-region",
        "fairness-sex---b-",
    }
    for name in ("confusion", "importance", "shap", "segment-region", "fairness-sex---b-"):
        assert "<svg" in cards[name], name
    assert cards["curves"].count("<svg") == 3
    assert 'aria-label="ROC curve"' in cards["curves"]
    assert "baseline" in cards["metrics"]
    assert "demographic parity difference" in cards["fairness-sex---b-"]


def test_nothing_executable_and_user_strings_escaped(result: EvaluationResult) -> None:
    page = render_html(result, title=HOSTILE)
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "sex&quot;&gt;&lt;b&gt;" in page
    parser = Tags()
    parser.feed(page)
    assert "script" not in parser.tags
    assert "b" not in parser.tags
    assert not re.search(r"(?:src|href)=\"(?:https?:)?//", page)
    assert "@import" not in page


def test_regression_page_has_no_classification_sections(diabetes: Case) -> None:
    regression = evaluate_model(
        diabetes.models["ridge"],
        diabetes.frame,
        target="target",
        task="regression",
        importance_repeats=1,
    )
    cards = sections(render_html(regression))
    assert set(cards) == {"metrics", "importance", "notes"}
    assert "mape" in cards["metrics"]
    assert "SHAP skipped: Ridge is not a tree model" in cards["notes"]


def test_json_loads_and_round_trips(result: EvaluationResult) -> None:
    text = render_json(result)
    data = json.loads(text)
    assert data == result.to_dict()
    assert EvaluationResult.from_dict(data) == result
    assert data["segments"][0]["groups"][0]["value"] in {HOSTILE, "north", "south", "west"}


def test_every_svg_is_well_formed_xml(result: EvaluationResult) -> None:
    from xml.etree import ElementTree

    charts = re.findall(r"<svg.*?</svg>", render_html(result), re.S)
    assert len(charts) == 8
    for chart in charts:
        root = ElementTree.fromstring(chart)
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        assert root.get("viewBox", "").startswith("0 0 ")
