"""µs integer columns and small-int codes to Arrow, so a chunk goes to DuckDB in one bulk insert."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

US = 1_000_000


def timestamps(us: np.ndarray) -> pa.Array:
    """int64 µs (or -1 for missing) -> Arrow naive-UTC timestamp in whole seconds, as the store keeps them."""
    us = np.asarray(us, dtype=np.int64)
    return pa.array(us // 1_000_000, type=pa.timestamp("s"), mask=us < 0)


def strings(indices: np.ndarray, values: Sequence[str | None]) -> pa.Array:
    """A string column from small-int codes: Arrow dictionary, decoded once by DuckDB."""
    return pa.DictionaryArray.from_arrays(pa.array(np.asarray(indices, dtype=np.int32)),
                                            pa.array(list(values), type=pa.string())).cast(pa.string())


def nullable_strings(indices: np.ndarray, values: list) -> pa.Array:
    """Like strings, with index -1 meaning NULL."""
    idx = np.asarray(indices, dtype=np.int32)
    return pa.DictionaryArray.from_arrays(pa.array(idx, mask=idx < 0), pa.array(values, type=pa.string())).cast(
        pa.string())
