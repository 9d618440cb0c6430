"""``LoadedModel``: one way to call any flavor, with inputs checked against the signature."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loopml.core.errors import InvalidParameter
from loopml.models.entities import Manifest, Signature
from loopml.models.flavor import Flavor
from loopml.models.signature import conform, to_frame

INPUT_EXAMPLE_FILE = "input_example.json"


def example_to_json(example: Any) -> str:
    """An input example (DataFrame, numpy array, dict of lists) as split-orient JSON."""
    frame = to_frame(example)
    frame.columns = [str(c) for c in frame.columns]
    return str(frame.to_json(orient="split", index=False, date_format="iso"))


def read_example(path: Path) -> pd.DataFrame | np.ndarray | None:
    """Read a split-orient example (ours or MLflow's); MLflow's tensor ``inputs`` too."""
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text())
    except ValueError as exc:
        raise InvalidParameter(f"{path.name} is not valid JSON: {exc}") from exc
    if isinstance(value, dict) and "columns" in value and "data" in value:
        return pd.DataFrame(value["data"], columns=value["columns"])
    if isinstance(value, dict) and "inputs" in value:
        return np.asarray(value["inputs"])
    raise InvalidParameter(f"{path.name} is neither split-orient nor an 'inputs' tensor")


@dataclass
class LoadedModel:
    """A verified, deserialized model: call ``predict``/``predict_proba`` on tables.

    Inputs may be a DataFrame, numpy array or dict of lists. With a signature,
    columns are checked and put in signature order before the model sees them;
    extra columns are dropped.
    """

    flavor: str
    raw: Any
    manifest: Manifest
    signature: Signature | None = None
    input_example: pd.DataFrame | np.ndarray | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    _flavor: Flavor | None = field(default=None, repr=False)

    def _checked(self, data: Any) -> Any:
        if self.signature is not None and self.signature.inputs:
            return conform(data, self.signature)
        if isinstance(data, dict):
            return to_frame(data)
        if isinstance(data, pd.DataFrame | np.ndarray):
            return data
        raise InvalidParameter(
            "model input must be a pandas DataFrame, numpy array or dict of lists, "
            f"got {type(data).__name__}"
        )

    def _impl(self) -> Flavor:
        if self._flavor is None:
            from loopml.models.flavors import get_flavor

            self._flavor = get_flavor(self.flavor)
        return self._flavor

    def predict(self, data: Any) -> Any:
        """The model's predictions for ``data``.

        Raises:
            InvalidParameter: a signature column is missing or has the wrong type.
        """
        return self._impl().predict(self.raw, self._checked(data))

    def predict_proba(self, data: Any) -> Any:
        """Class probabilities for ``data``.

        Raises:
            NotSupported: the model has no ``predict_proba`` (not a classifier).
            InvalidParameter: a signature column is missing or has the wrong type.
        """
        return self._impl().predict_proba(self.raw, self._checked(data))
