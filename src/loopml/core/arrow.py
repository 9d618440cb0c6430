"""pandas to Arrow in one place, so a warning between the two libraries is handled once.

pandas 3.1 deprecates ``Series.values`` dropping a timezone, and pyarrow's
``Table.from_pandas`` still calls it on tz-aware columns: every frame with a
UTC timestamp column would warn (an error where warnings are errors). The
conversion itself keeps the timezone, so the warning is silenced here only.
"""

from __future__ import annotations

import warnings
from typing import Any


def table_from_pandas(frame: Any, *, preserve_index: bool | None = False) -> Any:
    """``pyarrow.Table.from_pandas(frame)`` without pandas' tz ``.values`` deprecation."""
    import pyarrow as pa

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Series.values returning an ndarray that drops")
        return pa.Table.from_pandas(frame, preserve_index=preserve_index)
