"""The built-in materializers. Heavy libraries load only for a value of their type.

Each ``handles`` looks at the value's class hierarchy by module name first, so
checking an int never imports pandas. Every format is deterministic (same
value, same bytes) except models saved with skops, whose files carry object
ids: a retrained model hashes anew, which is what its dependents should see.
"""

from __future__ import annotations

import io
import json
import tarfile
import tempfile
from pathlib import Path
from typing import Any, BinaryIO

from loopml.core.arrow import table_from_pandas
from loopml.core.errors import InvalidParameter
from loopml.pipelines.fingerprint import canonical_json, is_jsonable
from loopml.pipelines.materializers import Materializer


def _from_library(value: object, *roots: str) -> bool:
    return any(cls.__module__.partition(".")[0] in roots for cls in type(value).__mro__)


class JsonMaterializer(Materializer):
    name = "json"

    def handles(self, value: object) -> bool:
        return is_jsonable(value)

    def save(self, value: Any, file: BinaryIO) -> None:
        file.write(canonical_json(value).encode())

    def load(self, file: BinaryIO) -> Any:
        return json.loads(file.read())


class BytesMaterializer(Materializer):
    name = "bytes"
    types = (bytes, bytearray)

    def save(self, value: Any, file: BinaryIO) -> None:
        file.write(bytes(value))

    def load(self, file: BinaryIO) -> Any:
        return file.read()


class NumpyMaterializer(Materializer):
    """``np.save`` without pickles: object arrays are refused, not pickled."""

    name = "numpy"

    def handles(self, value: object) -> bool:
        if not _from_library(value, "numpy"):
            return False
        import numpy as np

        return isinstance(value, np.ndarray) and not value.dtype.hasobject

    def save(self, value: Any, file: BinaryIO) -> None:
        import numpy as np

        np.save(file, value, allow_pickle=False)

    def load(self, file: BinaryIO) -> Any:
        import numpy as np

        return np.load(file, allow_pickle=False)


class PandasMaterializer(Materializer):
    name = "pandas"

    def handles(self, value: object) -> bool:
        if not _from_library(value, "pandas"):
            return False
        import pandas as pd

        return isinstance(value, pd.DataFrame)

    def save(self, value: Any, file: BinaryIO) -> None:
        value.to_parquet(file, engine="pyarrow")

    def load(self, file: BinaryIO) -> Any:
        import pandas as pd

        return pd.read_parquet(file, engine="pyarrow")


_SERIES_COLUMN = "__loopml_series__"


class SeriesMaterializer(Materializer):
    """A Series as a one-column Parquet file; its name (None too) comes back."""

    name = "pandas-series"

    def handles(self, value: object) -> bool:
        if not _from_library(value, "pandas"):
            return False
        import pandas as pd

        return isinstance(value, pd.Series)

    def save(self, value: Any, file: BinaryIO) -> None:
        frame = value.to_frame(name=_SERIES_COLUMN)
        frame.attrs = {}
        named = json.dumps({"name": value.name}) if is_jsonable(value.name) else None
        if named is None:
            raise InvalidParameter(f"a Series named {value.name!r} cannot be stored: name it")
        import pyarrow.parquet as pq

        table = table_from_pandas(frame, preserve_index=None)
        metadata = {**(table.schema.metadata or {}), b"loopml.series": named.encode()}
        pq.write_table(table.replace_schema_metadata(metadata), file)

    def load(self, file: BinaryIO) -> Any:
        import pyarrow.parquet as pq

        table = pq.read_table(file)
        name = json.loads((table.schema.metadata or {}).get(b"loopml.series", b"{}")).get("name")
        series = table.to_pandas()[_SERIES_COLUMN]
        series.name = name
        return series


class ArrowMaterializer(Materializer):
    name = "arrow"

    def handles(self, value: object) -> bool:
        if not _from_library(value, "pyarrow"):
            return False
        import pyarrow as pa

        return isinstance(value, pa.Table)

    def save(self, value: Any, file: BinaryIO) -> None:
        import pyarrow.parquet as pq

        pq.write_table(value, file)

    def load(self, file: BinaryIO) -> Any:
        import pyarrow.parquet as pq

        return pq.read_table(file)


_MODEL_LIBRARIES = ("sklearn", "xgboost", "lightgbm", "onnx")


class ModelMaterializer(Materializer):
    """A model as a loopml model directory (``save_model``) in a tar; loaded untrusted.

    Only flavors with a safe default format qualify (scikit-learn via skops,
    XGBoost, LightGBM, ONNX); loading verifies the manifest and refuses
    anything that would run code, exactly as ``loopml.models.load_model`` does.
    """

    name = "model"

    def handles(self, value: object) -> bool:
        if not _from_library(value, *_MODEL_LIBRARIES):
            return False
        from loopml.models.flavors import detect_flavor

        try:
            return detect_flavor(value).name != "python_function"
        except InvalidParameter:
            return False

    def save(self, value: Any, file: BinaryIO) -> None:
        from loopml.models import save_model

        with tempfile.TemporaryDirectory(prefix="loopml-model-") as tmp:
            root = Path(tmp) / "model"
            save_model(value, root)
            with tarfile.open(fileobj=file, mode="w") as archive:
                for path in sorted(root.rglob("*")):
                    info = archive.gettarinfo(str(path), arcname=path.relative_to(root).as_posix())
                    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
                    info.mode = 0o755 if path.is_dir() else 0o644
                    if path.is_file():
                        with path.open("rb") as handle:
                            archive.addfile(info, handle)
                    else:
                        archive.addfile(info)

    def load(self, file: BinaryIO) -> Any:
        from loopml.models import load_model

        with tempfile.TemporaryDirectory(prefix="loopml-model-") as tmp:
            root = Path(tmp) / "model"
            with tarfile.open(fileobj=io.BytesIO(file.read()), mode="r") as archive:
                archive.extractall(root, filter="data")  # no links out, no absolute paths
            return load_model(root).raw


BUILTIN_ORDER: tuple[Materializer, ...] = (
    PandasMaterializer(),
    SeriesMaterializer(),
    ArrowMaterializer(),
    NumpyMaterializer(),
    ModelMaterializer(),
    BytesMaterializer(),
    JsonMaterializer(),
)
BUILTIN: dict[str, Materializer] = {m.name: m for m in BUILTIN_ORDER}
