"""``loopml demo``: train and track a real model on the embedded store.

A small sweep of gradient-boosted classifiers on scikit-learn's breast-cancer
data: each run logs its parameters, a per-stage validation curve, final
metrics, its training dataset as an input, and the fitted model saved by
``loopml.models`` (skops, hash-pinned, loadable without executing code). The
best run's model is registered, evaluated on the held-out rows against the
current champion (segments by tumour size) and released as ``champion`` if
the alias's gate passes. Later issues grow this into the whole loop: serve,
monitor, retrain.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import Progress

from loopml.cli._common import UriOption, friendly_errors
from loopml.cli._output import console, print_table

if TYPE_CHECKING:
    from loopml.client import Client

EXPERIMENT = "demo-breast-cancer"
MODEL = "demo-breast-cancer"
ALIAS = "champion"
GATES = ["roc_auc >= baseline.roc_auc - 0.005"]
SWEEP = [
    {"learning_rate": 0.05, "max_depth": 2, "n_estimators": 60},
    {"learning_rate": 0.1, "max_depth": 3, "n_estimators": 60},
    {"learning_rate": 0.2, "max_depth": 3, "n_estimators": 60},
    {"learning_rate": 0.1, "max_depth": 5, "n_estimators": 60},
]


def _dataset() -> tuple[Any, Any, Any, Any, str]:
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    frame = load_breast_cancer(as_frame=True).frame
    digest = hashlib.sha256(frame.to_csv(index=False).encode()).hexdigest()[:16]
    features, target = frame.drop(columns="target"), frame["target"]
    x_train, x_test, y_train, y_test = train_test_split(
        features, target, test_size=0.25, random_state=7, stratify=target
    )
    return x_train, x_test, y_train, y_test, digest


def _train_one(client: Client, params: dict[str, Any], data: tuple[Any, ...]) -> str:
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

    from loopml.models import infer_signature, save_model
    from loopml.tracking import fluent
    from loopml.tracking.entities import Dataset, DatasetInput

    x_train, x_test, y_train, y_test, digest = data
    with fluent.start_run(client, EXPERIMENT, tags={"demo": "true"}) as run:
        run.log_params(params)
        dataset = Dataset("breast-cancer", digest, "sklearn", '{"loader": "load_breast_cancer"}')
        client.log_inputs(run.run_id, [DatasetInput(dataset, {"mlflow.data.context": "training"})])
        model = GradientBoostingClassifier(random_state=0, **params).fit(x_train, y_train)
        for stage, proba in enumerate(model.staged_predict_proba(x_test)):
            run.log_metric("val_log_loss", log_loss(y_test, proba), step=stage)
        scores = model.predict_proba(x_test)[:, 1]
        run.log_metrics(
            {
                "val_accuracy": accuracy_score(y_test, model.predict(x_test)),
                "val_roc_auc": roc_auc_score(y_test, scores),
            }
        )
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model"
            save_model(model, path, signature=infer_signature(x_train))
            run.log_artifact(path, "model")
        return run.run_id


@friendly_errors
def demo(
    uri: UriOption = None,
    runs: Annotated[int, typer.Option(help="How many sweep configurations to train.")] = len(SWEEP),
) -> None:
    """Train a small sweep on a real dataset and track it (embedded store by default)."""
    from loopml.client import Client

    client = Client(uri)
    data = _dataset()
    run_ids = []
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("training", total=min(runs, len(SWEEP)))
        for params in SWEEP[:runs]:
            run_ids.append(_train_one(client, params, data))
            progress.advance(task)
        best = _report(client, run_ids)
        progress.add_task("evaluating and releasing the best model", total=None)
        released = _release(client, best, data)
    _say_what_next(client, best, released)


def _report(client: Client, run_ids: list[str]) -> Any:
    experiment = client.get_experiment_by_name(EXPERIMENT)
    assert experiment is not None
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string="attributes.run_id IN ({})".format(", ".join(f"'{r}'" for r in run_ids)),
        order_by=["metrics.val_roc_auc DESC"],
        max_results=len(run_ids),
    ).items
    rows = []
    for run in runs:
        latest = {m.key: m.value for m in run.data.metrics}
        p = run.data.params
        rows.append(
            (
                run.info.run_id[:8],
                run.info.run_name,
                p.get("learning_rate"),
                p.get("max_depth"),
                f"{latest['val_accuracy']:.4f}",
                f"{latest['val_roc_auc']:.4f}",
            )
        )
    print_table(
        f"Tracked in experiment {EXPERIMENT!r} (id {experiment.experiment_id})",
        ["run", "name", "lr", "depth", "val_accuracy", "val_roc_auc"],
        rows,
    )
    return runs[0]


def _release(client: Client, best: Any, data: tuple[Any, ...]) -> str:
    """Register the best run's model, evaluate it against the champion, promote it."""
    from loopml.core.errors import InvalidState, ResourceNotFound
    from loopml.evaluation.workflow import evaluate

    _, x_test, _, y_test, _ = data
    registry = client.registry
    try:
        registry.get_registered_model(MODEL)
    except ResourceNotFound:
        registry.create_registered_model(
            MODEL,
            description="Malignant or benign, from scikit-learn's breast-cancer data",
            tags={"loopml.card.owner": "loopml demo", "loopml.card.intended_use": "a demo"},
        )
    run_id = best.info.run_id
    version = registry.create_model_version(MODEL, f"runs:/{run_id}/model", run_id=run_id)
    champion = registry.get_registered_model(MODEL).aliases.get(ALIAS)
    test = x_test.assign(target=y_test, size=(x_test["mean radius"] > 14).map(_size))
    evaluate(
        client,
        version.uri,
        test,
        target="target",
        task="classification",
        feature_columns=list(x_test.columns),
        segments=["size"],
        baseline=f"models:/{MODEL}@{ALIAS}" if champion else None,
    )
    if champion is None:  # the first release has nothing to beat; gate the next ones
        registry.set_alias(MODEL, ALIAS, version.version)
        registry.set_alias_policy(MODEL, ALIAS, gates=GATES)
        return f"v{version.version} is the first {ALIAS}"
    try:
        registry.promote(MODEL, version.version, ALIAS)
    except InvalidState as refused:
        return f"v{version.version} stays a candidate: {refused.message}"
    return f"v{version.version} is the new {ALIAS} (was v{champion})"


def _size(large: bool) -> str:
    return "large" if large else "small"


def _say_what_next(client: Client, best: Any, released: str) -> None:
    where = getattr(client, "settings", None)
    console.print(f"best run: [bold]{best.info.run_name}[/bold] ({best.info.run_id})")
    console.print(f"registered {MODEL}: {released}", highlight=False)
    if where is not None:
        console.print(f"recorded in {where.database_url} and {where.artifact_root}")
    version = client.registry.get_registered_model(MODEL).latest_versions[-1].version
    commands = [
        f".venv/bin/loopml runs list -e {EXPERIMENT}",
        f".venv/bin/loopml runs show {best.info.run_id}",
        f".venv/bin/loopml models show {MODEL}",
        f".venv/bin/loopml models lineage {MODEL} {version}",
        f".venv/bin/loopml models card {MODEL} {version} --html card.html",
        ".venv/bin/loopml server   # MLFLOW_TRACKING_URI=http://127.0.0.1:5000 for mlflow",
    ]
    console.print("browse it:")
    for command in commands:
        console.print(f"  {command}", soft_wrap=True, highlight=False)
