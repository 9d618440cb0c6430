"""Which loaders run code, and the only places loopml deserializes with them.

A loader either cannot run code (skops with an allowlist, xgboost JSON, LightGBM
text, ONNX) or can (pickle, cloudpickle, joblib). The second kind needs
``trust=True``; the decision comes from this table, never from a flag in the
model's own files. A refusal is final: no loader falls back to a less safe one.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loopml.core.errors import InvalidParameter, UntrustedModel

#: loader kind -> whether loading with it executes code from the file.
LOADER_EXECUTES_CODE: dict[str, bool] = {
    "skops": False,
    "xgboost": False,
    "lightgbm": False,
    "onnx": False,
    "pickle": True,
    "cloudpickle": True,
}

#: Types skops reports as untrusted that common scikit-learn estimators and
#: pipelines need; none of them is a function, so none can be called on load.
DEFAULT_TRUSTED_TYPES = frozenset(
    {
        "sklearn.tree._tree.Tree",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
        "sklearn.neighbors._kd_tree.KDTree",
        "sklearn.neighbors._ball_tree.BallTree",
        "sklearn.utils._bunch.Bunch",
        "sklearn._loss.link.IdentityLink",
        "sklearn._loss.link.LogitLink",
        "sklearn._loss.link.MultinomialLogit",
        "numpy.random._mt19937.MT19937",
        "numpy.random.mtrand.RandomState",
        "numpy.random._generator.Generator",
        "numpy.random._pcg64.PCG64",
        "numpy.dtype",
        "numpy.ndarray",
        "scipy.sparse._csr.csr_matrix",
        "scipy.sparse._csc.csc_matrix",
        "collections.OrderedDict",
        "collections.defaultdict",
        "builtins.slice",
        "builtins.frozenset",
        "builtins.set",
        "builtins.complex",
        "builtins.bytes",
        "builtins.bytearray",
    }
)

#: What a LightGBM scikit-learn model saved with skops (as MLflow does) needs.
LIGHTGBM_TRUSTED_TYPES = frozenset(
    {
        "lightgbm.sklearn.LGBMClassifier",
        "lightgbm.sklearn.LGBMRegressor",
        "lightgbm.basic.Booster",
        "collections.OrderedDict",
    }
)


@dataclass(frozen=True)
class TrustPolicy:
    """What the caller of ``load_model`` allows: code-running loaders, extra skops types."""

    trust: bool = False
    trusted_types: frozenset[str] = frozenset()

    @classmethod
    def of(cls, trust: bool, trusted_types: Iterable[str] | None) -> TrustPolicy:
        if isinstance(trusted_types, str):
            raise InvalidParameter("trusted_types must be a list of type names, not a string")
        return cls(trust=bool(trust), trusted_types=frozenset(trusted_types or ()))


def executes_code(loader: str) -> bool:
    """Whether ``loader`` runs code from the file; unknown loaders are refused."""
    if loader not in LOADER_EXECUTES_CODE:
        known = ", ".join(sorted(LOADER_EXECUTES_CODE))
        raise InvalidParameter(f"unknown model loader {loader!r}; known loaders: {known}")
    return LOADER_EXECUTES_CODE[loader]


def require_trust(loader: str, what: str, policy: TrustPolicy) -> None:
    """Refuse a code-running loader unless the caller passed ``trust=True``."""
    if executes_code(loader) and not policy.trust:
        raise UntrustedModel(
            f"{what} is stored with {loader}, which runs code when loaded; "
            "load it with trust=True only if you trust where it came from"
        )


def load_pickle(path: Path, loader: str, policy: TrustPolicy) -> Any:
    """Unpickle ``path`` (pickle or cloudpickle) after ``require_trust`` passes."""
    require_trust(loader, f"model file {path.name!r}", policy)
    with path.open("rb") as handle:
        if loader == "cloudpickle":
            import cloudpickle

            return cloudpickle.load(handle)
        return pickle.load(handle)  # noqa: S301 - trust=True was given


def load_skops(path: Path, policy: TrustPolicy, extra: Iterable[str] = ()) -> Any:
    """Load a ``.skops`` file if every type it holds is allowlisted, else refuse naming them."""
    import skops.io

    allowed = DEFAULT_TRUSTED_TYPES | policy.trusted_types | frozenset(extra)
    try:
        untrusted = skops.io.get_untrusted_types(file=path)
    except Exception as exc:
        raise InvalidParameter(
            f"model file {path.name!r} is not a readable skops file: {exc}"
        ) from exc
    refused = sorted(set(untrusted) - allowed)
    if refused:
        raise UntrustedModel(
            f"model file {path.name!r} holds types outside the allowlist: {', '.join(refused)}; "
            "pass them in trusted_types only if you trust where the model came from"
        )
    return skops.io.load(path, trusted=sorted(untrusted))
