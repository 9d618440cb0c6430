"""The demo's training pipeline: tune, fit, register — the action its policies run.

``train(data, trials, corrupt)`` reads a dataset version (recorded as the
training run's input, so lineage reaches it), searches a gradient-boosted
model's hyperparameters with :func:`loopml.tune` on a time-ordered split, fits
the best on everything, and registers it under ``loan`` (skops, hash-pinned).
It returns the candidate as ``models:/loan/N``, which is what a policy's
action must return. ``corrupt=True`` trains on mostly shuffled labels: the
deliberately bad retrain the gates and the canary must catch.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from loopml.demo.data import CATEGORICAL_FEATURES, FEATURES, TARGET, TIME, corrupt
from loopml.pipelines import pipeline, step

MODEL = "loan"
SPACE = {
    "learning_rate": ("float", 0.03, 0.3, "log"),
    "max_depth": ("int", 2, 6),
    "max_iter": ("int", 60, 200),
    "l2_regularization": ("float", 1e-3, 10.0, "log"),
}


def estimator(params: dict[str, Any]) -> Any:
    """Categories as ordinal codes (unknown ones get their own code), then boosted trees."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    encode = ColumnTransformer(
        [
            (
                "categories",
                OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
                CATEGORICAL_FEATURES,
            )
        ],
        remainder="passthrough",
    )
    boosted = HistGradientBoostingClassifier(random_state=0, **params)
    return Pipeline([("encode", encode), ("model", boosted)])


@step(cache=False)  # the data ref may be a moving tag: always read what it names now
def tune_params(data: str, trials: int) -> dict[str, Any]:
    """The best hyperparameters on a time-ordered split (the latest fifth validates)."""
    from sklearn.metrics import roc_auc_score

    import loopml

    client = loopml.get_client()
    frame = client.data.read_pandas(client.data.get(data).ref).sort_values(TIME)
    cut = int(len(frame) * 0.8)
    fit, valid = frame.iloc[:cut], frame.iloc[cut:]

    def objective(params: dict[str, Any]) -> float:
        model = estimator(params).fit(fit[FEATURES], fit[TARGET])
        return float(roc_auc_score(valid[TARGET], model.predict_proba(valid[FEATURES])[:, 1]))

    result = loopml.tune(
        objective, SPACE, trials, executor="inline", seed=0, experiment="loan-tuning"
    )
    return dict(result.best_params)


@step(cache=False)  # registering a version is a side effect: never skip it
def fit_and_register(data: str, params: dict[str, Any], corrupted: bool) -> str:
    import loopml
    from loopml.models import infer_signature, save_model

    client = loopml.get_client()
    with loopml.start_run(experiment="loan-training") as run:
        frame = loopml.read_dataset(data)  # the run's input: what lineage follows
        if corrupted:
            frame = corrupt(frame, seed=1)
        model = estimator(params).fit(frame[FEATURES], frame[TARGET])
        for key, value in params.items():
            client.log_param(run.info.run_id, key, str(value))
        client.set_tag(run.info.run_id, "loopml.demo.corrupted", str(corrupted).lower())
        folder = Path(tempfile.mkdtemp(prefix="loopml-demo-"))
        save_model(model, folder / "model", signature=infer_signature(frame[FEATURES]))
        client.log_artifact(run.info.run_id, folder / "model", "model")
    made = client.registry.create_model_version(
        MODEL, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id
    )
    return f"models:/{MODEL}/{made.version}"


@pipeline(experiment="loan-pipelines")
def train(data: str = "data:loans@latest", trials: int = 6, corrupted: bool = False) -> str:
    """Tune, then fit and register: returns ``models:/loan/N``."""
    return fit_and_register(data, tune_params(data, trials), corrupted)
