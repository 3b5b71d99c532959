"""The data of ``backprop bench --data``: its sizes and the files it generates, the same bytes for the same sizes.

* a **table** CSV (``--data-rows``, default 2.8 million rows × 10 columns, ~170 MB): eight
  numbers ``x0``-``x7`` (standard normal × 10, three decimals), a categorical ``colour`` (four
  values) and a ``label`` (``yes``/``no``, from the numbers and the colour with noise);
* the same kind of CSV for ``predict`` (``--data-predict-rows``, default 1 million rows), and a
  quarter of it, to show that predict's memory does not grow with the file;
* two **wide** CSVs of five rows, ``--data-columns`` columns (default 100 000) and a tenth of that;
* a **Parquet dataset** of wide rows (a folder of files of :data:`PARQUET_FILE_ROWS` rows in row
  groups of :data:`ROW_GROUP_ROWS`): ``--data-features`` float32 numbers ``x0``, ``x1``, ...
  (default 200, standard normal) and a float32 target ``y`` (a fixed linear mix of them, plus
  noise: a regression), ``--data-parquet-mb`` MB of it (default 4096: ~5.3 million rows), for
  training under an address-space limit of ``--data-limit-mb`` beyond start-up (default 1024).
  Wide rows, because out of core the memory is a fixed part (~70-100 MB of address space past
  start-up: Python, Arrow's reader, the C heap) plus ~40-50 bytes per *row* at the peak (the
  targets, the split, the row numbers and the shuffles stay in memory): 4 GB of 10-column rows
  (~50 million rows) would need ~2.5 GB for those alone, whatever the cache does. At 201 float32
  columns a row is 804 bytes, and the per-row arrays of 4 GB are ~250 MB. Its first files, the
  limit's worth of rows, are also trained in memory (without a limit) for the speed it is
  compared with.

Each generator writes a block of rows at a time (bounded memory) from a seeded generator.
Imports numpy; pyarrow when it writes.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: Rows generated (and written) at a time.
BLOCK_ROWS = 1 << 20
#: Rows of a file of the Parquet dataset (~200 MB at 200 features), and of its row groups (~13 MB:
#: what a streaming reader holds at a time, small beside the limit).
PARQUET_FILE_ROWS = 1 << 18
ROW_GROUP_ROWS = 1 << 14
WIDE_ROWS = 5
COLOURS = ("red", "green", "blue", "black")
NUMBERS = tuple(f"x{j}" for j in range(8))


@dataclass(frozen=True)
class DataSizes:
    """How large the data of ``backprop bench --data`` are (the defaults are issue 15's figures)."""

    rows: int = 2_800_000
    predict_rows: int = 1_000_000
    columns: int = 100_000
    parquet_mb: int = 4096
    limit_mb: int = 1024
    epochs: int = 3
    features: int = 200

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


#: ``--quick --data``: a smoke test, seconds rather than minutes; its figures mean little.
#: Its limit leaves room for the fixed part (~170-200 MB in the bench's child, with its network and the
#: test set's predictions; 192 MB failed): 640 MB of 201 float32 columns are ~830 000 rows, ~40 MB of
#: per-row arrays, under 256 MB (2.5 times the limit, not 4: the fixed part would need a larger dataset).
QUICK_SIZES = DataSizes(
    rows=100_000, predict_rows=100_000, columns=2_000, parquet_mb=640, limit_mb=256, epochs=3, features=200
)


def _arrow() -> Any:
    from ..tabular.arrow_tables import pyarrow

    return pyarrow()


def table_block(rows: int, seed: int) -> Any:
    """``rows`` rows of the table (a pyarrow Table): eight numbers, ``colour`` and ``label``."""
    pa = _arrow()
    rng = np.random.default_rng(seed)
    numbers = np.round(rng.standard_normal((rows, len(NUMBERS))) * 10, 3)
    colour = rng.integers(0, len(COLOURS), rows)
    score = numbers[:, 0] + numbers[:, 1] - numbers[:, 2] + 5.0 * (colour == 0) + 3.0 * rng.standard_normal(rows)
    columns: dict[str, Any] = {name: numbers[:, j] for j, name in enumerate(NUMBERS)}
    columns["colour"] = pa.DictionaryArray.from_arrays(colour.astype(np.int32), list(COLOURS)).cast(pa.string())
    columns["label"] = pa.DictionaryArray.from_arrays((score > 0).astype(np.int32), ["no", "yes"]).cast(pa.string())
    return pa.table(columns)


def _blocks(rows: int, seed: int) -> Any:
    for index, start in enumerate(range(0, rows, BLOCK_ROWS)):
        yield table_block(min(BLOCK_ROWS, rows - start), seed * 1_000_003 + index)


def write_table_csv(path: Path, rows: int, seed: int) -> Path:
    """The table as CSV (numbers in their shortest form, nothing quoted), a block at a time."""
    import pyarrow.csv as pacsv  # type: ignore[import-untyped]

    options = pacsv.WriteOptions(quoting_style="none", quoting_header="none")
    schema = table_block(1, seed).schema
    with pacsv.CSVWriter(str(path), schema, write_options=options) as writer:
        for block in _blocks(rows, seed):
            writer.write_table(block)
    return path


def write_wide_csv(path: Path, columns: int, rows: int = WIDE_ROWS, seed: int = 3) -> Path:
    """``rows`` rows of ``columns`` numbers (``c0``, ``c1``, ...): integers and one-decimal numbers."""
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 1000, (rows, columns)).astype(np.float64)
    values[:, 1::2] /= 10
    text = [",".join(f"c{j}" for j in range(columns))]
    text += [",".join(f"{v:g}" for v in row) for row in values.tolist()]
    path.write_text("\n".join(text) + "\n", encoding="ascii")
    return path


def wide_block(rows: int, features: int, seed: int) -> Any:
    """``rows`` rows of the Parquet dataset (a pyarrow Table): ``features`` float32 numbers and ``y``.

    The target's weights come from a generator of their own (seed 0), the same for every block.
    """
    pa = _arrow()
    weights = np.random.default_rng(0).standard_normal(features).astype(np.float32) / np.float32(np.sqrt(features))
    rng = np.random.default_rng(seed)
    values = rng.standard_normal((rows, features), dtype=np.float32)
    target = values @ weights + np.float32(0.1) * rng.standard_normal(rows, dtype=np.float32)
    columns: dict[str, Any] = {f"x{j}": values[:, j] for j in range(features)}
    columns["y"] = target
    return pa.table(columns)


def wide_row_bytes(features: int) -> int:
    """Bytes a row of the Parquet dataset takes in memory as Arrow (and in the cache): float32s."""
    return 4 * (features + 1)


def write_parquet_dataset(folder: Path, megabytes: int, features: int, seed: int = 5) -> list[Path]:
    """Files of up to :data:`PARQUET_FILE_ROWS` rows of :func:`wide_block` in ``folder``, ``megabytes``
    of it in memory (as Arrow: the size a whole read needs; random numbers hardly compress on disk)."""
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    folder.mkdir(parents=True, exist_ok=True)
    rows = max(2, round(megabytes * 2**20 / wide_row_bytes(features)))
    files: list[Path] = []
    for index, start in enumerate(range(0, rows, PARQUET_FILE_ROWS)):
        path = folder / f"part-{index:05d}.parquet"
        block = wide_block(min(PARQUET_FILE_ROWS, rows - start), features, seed * 1_000_003 + index)
        # No dictionaries: random floats do not repeat, and a row group's dictionary would be as large as
        # its values (with the indices, 1.4 times the bytes on disk).
        pq.write_table(block, path, row_group_size=ROW_GROUP_ROWS, use_dictionary=False)
        files.append(path)
    return files


def write_warm_up(folder: Path, features: int, rows: int = 300) -> Path:
    """Two small files of the dataset's columns in ``folder``: a run on them before the limit takes
    the path the measured run takes (the dataset reader, the cache, the compiled kernels)."""
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    block = wide_block(2 * rows, features, seed=7)
    for index in range(2):
        pq.write_table(block.slice(index * rows, rows), folder / f"part-{index}.parquet")
    return folder


def link_subset(files: list[Path], folder: Path, rows: int) -> list[Path]:
    """The first files up to ``rows`` rows (at least one), linked (or copied) into ``folder``."""
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    chosen: list[Path] = []
    total = 0
    for path in files:
        size = int(pq.ParquetFile(path).metadata.num_rows)
        if chosen and total + size > rows:
            break
        target = folder / path.name
        try:
            os.link(path, target)
        except OSError:
            target.write_bytes(path.read_bytes())
        chosen.append(target)
        total += size
    return chosen


def parquet_rows(files: list[Path]) -> int:
    import pyarrow.parquet as pq

    return sum(int(pq.ParquetFile(path).metadata.num_rows) for path in files)


def describe(path: Path, rows: int, columns: int) -> dict[str, Any]:
    """A generated file or folder, for the JSON: its path, rows, columns and megabytes on disk."""
    files = [p for p in path.iterdir() if p.is_file()] if path.is_dir() else [path]
    size = sum(p.stat().st_size for p in files)
    return {"path": str(path), "rows": rows, "columns": columns, "mb": size / 2**20}
