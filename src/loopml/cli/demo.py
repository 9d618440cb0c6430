"""``loopml demo``: train and track a real model on the embedded store.

A small sweep of gradient-boosted classifiers on scikit-learn's breast-cancer
data: each run logs its parameters, a per-stage validation curve, final
metrics, its training dataset as an input, and the fitted model in skops
format (loadable without executing code). Later issues grow this into the
whole loop: register, gate, serve, monitor, retrain.
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
    import skops.io as sio
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

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
            path = Path(tmp) / "model.skops"
            sio.dump(model, path)
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
    _report(client, run_ids)


def _report(client: Client, run_ids: list[str]) -> None:
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
    best = runs[0]
    where = getattr(client, "settings", None)
    console.print(f"best run: [bold]{best.info.run_name}[/bold] ({best.info.run_id})")
    if where is not None:
        console.print(f"recorded in {where.database_url} and {where.artifact_root}")
    commands = [
        f".venv/bin/loopml runs list -e {EXPERIMENT}",
        f".venv/bin/loopml runs show {best.info.run_id}",
        f".venv/bin/loopml runs compare {' '.join(r.info.run_id for r in runs[:2])}",
        ".venv/bin/loopml server   # MLFLOW_TRACKING_URI=http://127.0.0.1:5000 for mlflow",
    ]
    console.print("browse it:")
    for command in commands:
        console.print(f"  {command}", soft_wrap=True, highlight=False)
