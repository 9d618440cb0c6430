"""``loopml models ...`` as a user types it, on an embedded store in a temp dir."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

from loopml.auth.audit import AuditFilter
from loopml.client import Client
from loopml.core.errors import ResourceNotFound
from loopml.models import save_model

runner = CliRunner()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LOOPML_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.delenv("LOOPML_TRACKING_URI", raising=False)
    return tmp_path


@pytest.fixture
def client(home: Path) -> Iterator[Client]:
    """The same store the commands open, for setting up and checking."""
    with Client(str(home / "home")) as opened:
        yield opened


def said(result: object) -> str:
    """The output with Rich's line wrapping and table borders undone."""
    text = re.sub(r"[\u2500-\u257f]", " ", result.output)  # type: ignore[attr-defined]
    return " ".join(text.split())


def invoke(*args: str) -> object:
    from loopml.cli.main import app

    return runner.invoke(app, ["models", *args])


def register(client: Client, home: Path, c: float, accuracy: float | None = None) -> int:
    """Train an iris model on a dataset version in a real run, register it, evaluate it."""
    frame = load_iris(as_frame=True).frame
    frame.columns = [c.replace(" (cm)", "").replace(" ", "_") for c in frame.columns]
    csv = home / "iris.csv"
    frame.to_csv(csv, index=False)
    ref = client.data.add("iris", csv).version.ref
    experiment = client.get_experiment_by_name("train") or client.get_experiment(
        client.create_experiment("train")
    )
    run_id = client.create_run(experiment.experiment_id, run_name=f"c={c}").info.run_id
    data: pd.DataFrame = client.read_dataset(ref, run_id=run_id)
    model = LogisticRegression(C=c, max_iter=300).fit(data.drop(columns="target"), data["target"])
    client.log_param(run_id, "C", str(c))
    folder = home / f"model-{c}"
    save_model(model, folder)
    client.log_artifact(run_id, folder, "model")
    try:
        client.registry.get_registered_model("iris")
    except ResourceNotFound:  # the first version creates the model
        client.registry.create_registered_model("iris", description="Iris [bold]species[/bold]")
    version = client.registry.create_model_version("iris", f"runs:/{run_id}/model", run_id=run_id)
    if accuracy is not None:
        result = {"accuracy": accuracy, "segment": {"region": {"recall": {"n": 0.9, "s": 0.8}}}}
        client.registry.record_evaluation("iris", version.version, result, run_id=run_id)
    return version.version


def test_list_show_versions_and_tag(client: Client, home: Path) -> None:
    register(client, home, 1.0)
    register(client, home, 0.1)
    listed = invoke("list", "--json")
    assert listed.exit_code == 0, listed.output
    assert [m["name"] for m in json.loads(listed.output)] == ["iris"]
    assert "iris" in said(invoke("list", "--filter", "name LIKE 'ir%'"))
    assert json.loads(invoke("list", "--filter", "name = 'other'", "--json").output) == []
    tagged = invoke("tag", "iris", "loopml.card.owner", "team-a")
    assert tagged.exit_code == 0, tagged.output
    shown = said(invoke("show", "iris"))
    assert "Iris [bold]species[/bold]" in shown  # user text printed literally
    assert "tag loopml.card.owner = team-a" in shown
    assert "Latest versions of iris" in shown
    versions = json.loads(invoke("versions", "iris", "--json").output)
    assert [v["version"] for v in versions] == [2, 1]
    assert "Versions of iris" in said(invoke("versions", "iris"))
    missing = invoke("show", "nope")
    assert missing.exit_code == 3
    assert "error:" in said(missing)
    assert invoke("tag", "iris", "loopml.card.owner", "--delete").exit_code == 0
    assert "loopml.card.owner" not in said(invoke("show", "iris"))


def test_lineage_tree_and_graph(client: Client, home: Path) -> None:
    register(client, home, 1.0)
    tree = invoke("lineage", "iris", "1")
    assert tree.exit_code == 0, tree.output
    assert tree.output.startswith("model_version iris v1\n")
    assert "└── produced_by → run " in tree.output
    assert "trained_on → dataset_version data:iris@1" in tree.output
    assert "params: C=1.0" in said(tree)
    graph = json.loads(invoke("lineage", "iris", "1", "--json").output)
    assert {n["kind"] for n in graph["nodes"]} >= {"model_version", "run", "dataset_version"}
    assert invoke("lineage", "iris", "7").exit_code == 3


def test_diff_shows_what_changed(client: Client, home: Path) -> None:
    register(client, home, 1.0, accuracy=0.9)
    register(client, home, 0.01, accuracy=0.95)
    shown = invoke("diff", "iris", "1", "2")
    assert shown.exit_code == 0, shown.output
    text = said(shown)
    assert "params (v1 → v2; 0 unchanged)" in text
    assert "C changed 1.0 0.01" in text
    assert "accuracy changed 0.9 0.95 +0.05" in text
    payload = json.loads(invoke("diff", "iris", "1", "2", "--json").output)
    assert payload["changes"]["params"] == [
        {"key": "C", "status": "changed", "before": "1.0", "after": "0.01", "delta": None}
    ]
    assert "do not differ" in said(invoke("diff", "iris", "1", "1"))


def test_promote_refused_by_a_gate_then_overridden_with_an_audited_reason(
    client: Client, home: Path
) -> None:
    register(client, home, 1.0, accuracy=0.91)
    set_policy = invoke("policy", "iris", "champion", "--gate", "accuracy >= 0.95")
    assert set_policy.exit_code == 0, set_policy.output
    assert "accuracy >= 0.95" in said(set_policy)

    refused = invoke("promote", "iris", "1", "--alias", "champion")
    assert refused.exit_code == 1
    text = said(refused)
    assert "accuracy >= 0.95 0.91 0.95 failed" in text  # the rule with its values
    assert "fails the gates of alias 'champion'" in text
    assert client.registry.get_registered_model("iris").aliases == {}

    allowed = invoke(
        "promote", "iris", "1", "--alias", "champion", "--override-reason", "hotfix for outage"
    )
    assert allowed.exit_code == 0, allowed.output
    assert "@champion of iris → v1" in said(allowed)
    assert "overridden by" in said(allowed)
    assert client.registry.get_registered_model("iris").aliases == {"champion": 1}
    moves = client.auth.audit_events(AuditFilter(action="registered_model.set_alias"))
    assert [e.after["override_reason"] for e in moves if e.after] == ["hotfix for outage"]


def test_policy_with_a_bad_gate_changes_nothing(client: Client, home: Path) -> None:
    register(client, home, 1.0)
    assert invoke("policy", "iris", "champion").exit_code == 0
    assert "has no policy" in said(invoke("policy", "iris", "champion"))
    assert invoke("policy", "iris", "champion", "--gate", "accuracy > 0.5").exit_code == 0
    bad = invoke("policy", "iris", "champion", "--gate", "accuracy >>= 0.9")
    assert bad.exit_code == 1
    assert "error:" in said(bad)
    assert "accuracy >>= 0.9" in said(bad)
    shown = json.loads(invoke("policy", "iris", "champion", "--json").output)
    assert shown["gates"] == ["accuracy > 0.5"]
    cleared = invoke("policy", "iris", "champion", "--clear")
    assert cleared.exit_code == 0, cleared.output
    assert client.registry.alias_policies("iris") == []


def test_four_eyes_refuses_approving_ones_own_request(client: Client, home: Path) -> None:
    register(client, home, 1.0)
    policy = invoke("policy", "iris", "prod", "--require-approval", "--four-eyes")
    assert policy.exit_code == 0, policy.output
    requested = invoke(
        "request-approval", "iris", "1", "--alias", "prod", "--comment", "ready", "--json"
    )
    assert requested.exit_code == 0, requested.output
    approval_id = json.loads(requested.output)["approval_id"]
    own = invoke("approve", approval_id, "--reason", "mine")
    assert own.exit_code == 1
    assert "needs four eyes" in said(own)
    listed = json.loads(invoke("approvals", "iris", "1", "--json").output)
    assert [a["state"] for a in listed] == ["pending"]
    assert approval_id in said(invoke("approvals", "iris"))
    not_approved = invoke("promote", "iris", "1", "--alias", "prod")
    assert not_approved.exit_code == 1
    assert "needs an approval" in said(not_approved)
    rejected = invoke("reject", approval_id, "--reason", "not yet")
    assert rejected.exit_code == 0, rejected.output
    assert f"rejected {approval_id}" in said(rejected)


def test_approve_then_promote_without_four_eyes(client: Client, home: Path) -> None:
    register(client, home, 1.0)
    invoke("policy", "iris", "prod", "--require-approval")
    approval_id = json.loads(
        invoke("request-approval", "iris", "1", "--alias", "prod", "--json").output
    )["approval_id"]
    approved = invoke("approve", approval_id, "--reason", "checked")
    assert approved.exit_code == 0, approved.output
    promoted = invoke("promote", "iris", "1", "--alias", "prod")
    assert promoted.exit_code == 0, promoted.output
    assert f"approval {approval_id} by" in said(promoted)


def test_trust_evaluations_and_card(client: Client, home: Path) -> None:
    register(client, home, 1.0, accuracy=0.93)
    trusted = invoke("trust", "iris", "1")
    assert trusted.exit_code == 0, trusted.output
    assert "v1 of iris is trusted" in said(trusted)
    assert "is not trusted" in said(invoke("trust", "iris", "1", "--revoke"))
    assert client.registry.get_model_version("iris", 1).trusted is False

    evaluations = invoke("evaluations", "iris", "1")
    assert "0.93" in said(evaluations)
    stored = json.loads(invoke("evaluations", "iris", "1", "--json").output)
    assert stored[0]["result"]["accuracy"] == 0.93

    markdown = invoke("card", "iris", "1")
    assert markdown.exit_code == 0, markdown.output
    assert "# Model card: iris version 1" in markdown.output
    assert "## Release gates" in markdown.output
    written = invoke(
        "card", "iris", "1", "--html", str(home / "card.html"), "--markdown", str(home / "c.md")
    )
    assert written.exit_code == 0, written.output
    page = (home / "card.html").read_text()
    assert "<h2>Integrity</h2>" in page
    assert "<script" not in page
    assert (home / "c.md").read_text().startswith("# Model card: iris version 1")


def test_register_creates_the_model_and_refuses_what_is_not_a_model(
    client: Client, home: Path
) -> None:
    experiment_id = client.create_experiment("by-hand")
    run_id = client.create_run(experiment_id).info.run_id
    folder = home / "by-hand"
    save_model(LogisticRegression(max_iter=300).fit(*load_iris(return_X_y=True)), folder)
    client.log_artifact(run_id, folder, "model")
    client.log_artifact_bytes(run_id, b"just notes", "notes/readme.txt")

    made = invoke("register", "flowers", f"runs:/{run_id}/model", "--description", "by hand")
    assert made.exit_code == 0, made.output
    assert f"registered flowers v1 from runs:/{run_id}/model" in said(made)
    version = client.registry.get_model_version("flowers", 1)
    assert version.description == "by hand"
    assert f"manifest {version.manifest_digest}" in said(made)

    refused = invoke("register", "flowers", f"runs:/{run_id}/notes")
    assert refused.exit_code == 1
    assert "is not a model directory" in said(refused)
    assert [v.version for v in client.registry.search_model_versions("name='flowers'").items] == [1]
