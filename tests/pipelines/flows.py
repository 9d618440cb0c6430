"""Steps and pipelines the pipeline tests run.

A module of its own (imported as ``pipelines.flows``: ``tests/`` is on the path)
so that worker processes, which import steps by name, find them the same way
the test process does. Steps that must be observed from outside (how often
they ran, whether to fail) take a file path: a worker shares no memory with
the test.
"""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa

from loopml.pipelines import Materializer, pipeline, register_materializer, step


def note(log: str, name: str) -> None:
    """Append ``name`` to the log file: the tests count real executions from it."""
    with open(log, "a") as handle:
        handle.write(name + "\n")


def executed(log: str) -> list[str]:
    path = Path(log)
    return path.read_text().split() if path.exists() else []


# --- numbers and fan-out --------------------------------------------------------------


@step
def numbers(n: int) -> list[int]:
    return list(range(n))


@step
def double(x: int) -> int:
    return 2 * x


@step
def total(values: list[int]) -> int:
    return sum(values)


@pipeline
def fan(n: int = 5) -> int:
    return total(double.map(numbers(n)))


@pipeline
def fan_constant(items: list[int]) -> Any:
    doubled = double.map(items)
    return doubled, total(double.map(doubled))


# --- caching: parameters and dependents -------------------------------------------------


@step
def first(log: str, a: int) -> int:
    note(log, "first")
    return a + 1


@step
def second(log: str, b: int) -> int:
    note(log, "second")
    return b * 10


@step
def combine(log: str, x: int, y: int) -> int:
    note(log, "combine")
    return x + y


@pipeline
def diamond(log: str, a: int = 1, b: int = 2) -> int:
    return combine(log, first(log, a), second(log, b))


# --- frames: every built-in format ------------------------------------------------------


@step
def make_frame(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": np.arange(n),
            "group": [f"g{i % 3}" for i in range(n)],
            "value": np.linspace(0.0, 1.0, n),
        }
    )


@step
def split(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    return frame[frame["id"] % 2 == 0], frame[frame["id"] % 2 == 1]


@step
def summarize(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.groupby("group", as_index=False)["value"].sum()


@step
def to_array(frame: pd.DataFrame) -> np.ndarray:
    return frame[["id", "value"]].to_numpy()


@step
def to_table(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame, preserve_index=False)


@step
def scaled(factor: float, frame: pd.DataFrame) -> float:
    return float(frame["value"].sum() * factor)


@pipeline
def frames(n: int = 60) -> Any:
    frame = make_frame(n)
    even, odd = split(frame)
    return [summarize(even), to_array(odd), to_table(frame), scaled.map([1.0, 2.0], frame=frame)]


# --- reliability -------------------------------------------------------------------------


def _count(counter: str) -> int:
    path = Path(counter)
    attempt = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(attempt))
    return attempt


@step(retries=3, backoff_s=0.01, retry_on=ConnectionError)
def flaky(counter: str) -> int:
    attempt = _count(counter)
    if attempt < 3:
        raise ConnectionError(f"attempt {attempt} could not connect")
    return attempt


@step(retries=3, backoff_s=0.01, retry_on=ConnectionError)
def broken(counter: str) -> int:
    attempt = _count(counter)
    raise ValueError(f"attempt {attempt}: bad input")


@pipeline
def retrying(counter: str) -> int:
    return flaky(counter)


@pipeline
def not_retrying(counter: str) -> int:
    return broken(counter)


@step(timeout_s=0.5)
def sleepy(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@step
def after_sleep(seconds: float) -> float:
    return seconds + 1


@pipeline
def too_slow(seconds: float = 30.0) -> Any:
    return after_sleep(sleepy(seconds)), double(21)


@step(retries=1, backoff_s=0.01)
def dies_once(marker: str) -> str:
    if not os.path.exists(marker):
        Path(marker).write_text("killed")
        os.kill(os.getpid(), signal.SIGKILL)
    return "survived"


@step
def dies(marker: str) -> str:
    Path(marker).write_text("killed")
    os.kill(os.getpid(), signal.SIGKILL)
    return "unreachable"


@pipeline
def killed_once(marker: str) -> str:
    return dies_once(marker)


@pipeline
def killed(marker: str) -> Any:
    return dies(marker), double(4)


# --- resume ---------------------------------------------------------------------------------


@step
def start(log: str) -> int:
    note(log, "start")
    return 1


@step
def gate(log: str, switch: str, x: int) -> int:
    note(log, "gate")
    if Path(switch).read_text() == "fail":
        raise RuntimeError("the switch says fail")
    return x + 1


@step
def finish(log: str, x: int) -> int:
    note(log, "finish")
    return x * 100


@step
def aside(log: str) -> int:
    note(log, "aside")
    return 7


@step
def picky(x: int, log: str, switch: str) -> int:
    note(log, f"picky{x}")
    if x == 3 and Path(switch).read_text() == "fail":
        raise RuntimeError("item 3 refuses")
    return x * x


@pipeline
def resumable(log: str, switch: str) -> Any:
    return finish(log, gate(log, switch, start(log))), aside(log)


@pipeline
def resumable_map(log: str, switch: str) -> int:
    return total(picky.map([1, 2, 3, 4], log=log, switch=switch))


# --- materializers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    x: float
    y: float


class PointMaterializer(Materializer):
    name = "test-point"
    types = (Point,)

    def save(self, value: Any, file: BinaryIO) -> None:
        file.write(json.dumps([value.x, value.y]).encode())

    def load(self, file: BinaryIO) -> Any:
        x, y = json.loads(file.read())
        return Point(x, y)


register_materializer(PointMaterializer())


class Opaque:
    """A type no materializer knows."""


@step
def make_point(x: float) -> Point:
    return Point(x, x * 2)


@step
def norm(point: Point) -> float:
    return float((point.x**2 + point.y**2) ** 0.5)


@step
def make_opaque() -> Opaque:
    return Opaque()


@pipeline
def points(x: float = 3.0) -> float:
    return norm(make_point(x))


@pipeline
def opaque() -> Any:
    return make_opaque()


# --- a training pipeline (the same model from every executor) ---------------------------


@step
def training_data(rows: int) -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    return frame.sample(rows, random_state=0).reset_index(drop=True)


@step
def fit_model(frame: pd.DataFrame) -> Any:
    from sklearn.ensemble import GradientBoostingClassifier

    features = frame.drop(columns="target")
    return GradientBoostingClassifier(n_estimators=20, random_state=0).fit(
        features, frame["target"]
    )


@step
def accuracy(model: Any, frame: pd.DataFrame) -> float:
    return float(model.score(frame.drop(columns="target"), frame["target"]))


@pipeline
def training(rows: int = 300) -> Any:
    frame = training_data(rows)
    model = fit_model(frame)
    return model, accuracy(model, frame)
