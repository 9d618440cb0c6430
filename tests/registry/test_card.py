"""Model cards from a real registry: every section, gates with values, overrides, escaping."""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from loopml.client import Client
from loopml.core.errors import InvalidState
from loopml.evaluation import evaluate_model, log_evaluation
from loopml.registry.card import SECTION_TITLES, escape_markdown, model_card

from .conftest import Register, iris_frame

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)> | **bold** [link](javascript:x)'


def _evaluate(client: Client, run_experiment: str, frame: pd.DataFrame) -> tuple[str, dict]:
    """Evaluate an iris model with a segment and a sensitive column; log it to a run."""
    frame = frame.assign(
        region=np.where(frame.index % 2 == 0, "north", "south"),
        sex=np.where(frame.index % 3 == 0, "f", "m"),
    )
    features = [c for c in frame.columns if c not in ("target", "region", "sex")]
    model = LogisticRegression(max_iter=300).fit(frame[features], frame["target"])
    result = evaluate_model(
        model, frame, target="target", task="classification", feature_columns=features,
        segments=["region"], sensitive=["sex"], positive_label=2, explain=False,
        importance_repeats=1,
    )  # fmt: skip
    run_id = client.create_run(run_experiment, run_name="evaluate").info.run_id
    log_evaluation(client, run_id, result)
    return run_id, result.values()


@pytest.fixture
def governed(client: Client, registered: Register, add_dataset: Callable[..., str]) -> Client:
    """Version 1 of ``iris``, evaluated, refused by a gate, approved, promoted by override."""
    raw = add_dataset("iris-raw", iris_frame())
    clean = add_dataset("iris-clean", iris_frame(), parents=(raw,))
    tags = {"loopml.card.owner": HOSTILE, "loopml.card.intended_use": "Classify irises."}
    made = registered(dataset=clean, tags=tags, description=HOSTILE)
    registry = client.registry
    registry.update_registered_model("iris", HOSTILE)
    registry.set_model_version_tag("iris", 1, "note", HOSTILE)
    experiment = client.get_run(made.run_id).info.experiment_id
    run_id, values = _evaluate(client, experiment, iris_frame())
    registry.record_evaluation("iris", 1, values, run_id=run_id, dataset=clean)
    gates = ["accuracy >= 0.999", "min(segment.region.recall) >= 0.5"]
    registry.set_alias_policy("iris", "champion", require_approval=True, gates=gates)
    approval = registry.request_approval("iris", 1, "champion", comment=HOSTILE)
    registry.approve(approval.approval_id, reason="looks fine")
    with pytest.raises(InvalidState, match=r"accuracy >= 0\.999: 0\.97\d* >= 0\.999 failed"):
        registry.promote("iris", 1, "champion")
    registry.promote("iris", 1, "champion", override_reason=f"hotfix {HOSTILE}")
    return client


def test_markdown_has_every_section_with_values(governed: Client) -> None:
    card = model_card(governed, "iris", 1)
    text = card.render_markdown()
    assert text.startswith("# Model card: iris version 1\n")
    headings = re.findall(r"^## (.+)$", text, re.MULTILINE)
    assert headings == list(SECTION_TITLES)
    for expected in (
        "| Intended use | Classify irises. |",
        "| Limitations | not set |",
        "loopml models tag iris loopml.card.limitations",
        "training data: data:iris-clean@1 derived from data:iris-raw@1",
        "· derived_from → dataset_version data:iris-raw@1",
        "| C | 1.0 |",
        "| scikit-learn | 1.5.0 |",
        "**Training run metrics**",
        "Full report: artifact evaluation/report.html",
        "**Segments by region**",
        "| north | 75 |",
        "**Fairness by sex**",
        "| demographic_parity_difference |",
        "| champion | yes | yes | no | accuracy >= 0.999; min(segment.region.recall) >= 0.5 |",
        "| approved |",
        "Aliases on this version: champion. Stage: None.",
        card.version.manifest_digest,
    ):
        assert expected in text, expected
    accuracy = card.evaluation.result["accuracy"]  # type: ignore[union-attr]
    assert f"| accuracy >= 0.999 | {accuracy:.6g} | 0.999 | failed |" in text
    assert "failed; the alias did not move." in text
    assert "failed, overridden by local:" in text


def test_html_is_one_page_with_every_section_and_no_script(governed: Client) -> None:
    page = model_card(governed, "iris", 1).render_html()
    assert page.startswith("<!DOCTYPE html>")
    assert re.findall(r"<h2>(.+?)</h2>", page) == list(SECTION_TITLES)
    assert "<script" not in page.lower()
    assert "<img" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "src=" not in page.replace("src=x", "")  # nothing loads from elsewhere
    assert "<td>accuracy &gt;= 0.999</td>" in page
    assert "overridden by local:" in page
    assert "hotfix &lt;script&gt;" in page


def test_markdown_escapes_hostile_text(governed: Client) -> None:
    text = model_card(governed, "iris", 1).render_markdown()
    assert "<script" not in text
    assert "<img" not in text
    assert "[link](javascript" not in text
    assert "**bold**" not in text
    assert "&lt;script>alert" in text
    assert "\\| \\*\\*bold\\*\\* \\[link\\]" in text  # a pipe cannot break a table row


def test_a_bare_version_says_what_is_missing_and_how_to_set_it(
    client: Client, registered: Register
) -> None:
    registered()
    text = model_card(client, "iris", 1).render_markdown()
    assert "| Owner | not set |" in text
    assert "    loopml models tag iris loopml.card.owner" in text
    assert "No evaluation is recorded for this version." in text
    assert "The latest evaluation has no segment or fairness results." in text
    assert "No alias of this model has a policy" in text
    assert "No gate has been checked for this version yet." in text
    assert "No approval has been requested for this version." in text
    assert "Aliases on this version: none." in text
    assert model_card(client, "iris", 1).to_dict()["card"]["loopml.card.owner"] is None


def test_escape_markdown_keeps_text_literal() -> None:
    assert escape_markdown("- item\n# heading <b>&amp;") == "\\- item \\# heading &lt;b>&amp;amp;"
    assert escape_markdown("roc_auc _x_ 1.0") == "roc_auc \\_x\\_ 1.0"
