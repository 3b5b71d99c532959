"""The data of ``backprop bench --data``: its sizes and the files it generates, the same bytes for the same sizes.

* a **table** CSV (``--data-rows``, default 2.8 million rows × 10 columns, ~170 MB): eight
  numbers ``x0``-``x7`` (standard normal × 10, three decimals), a categorical ``colour`` (four
  values) and a ``label`` (``yes``/``no``, from the numbers and the colour with noise);
* the same kind of CSV for ``predict`` (``--data-predict-rows``, default 1 million rows), and a
  quarter of it, to show that predict's memory does not grow with the file;
* two **wide** CSVs of five rows, ``--data-columns`` columns (default 100 000) and a tenth of that;
* a **Parquet dataset** (a folder of files of up to a million rows in row groups of 65 536,
  the same columns as the table)
  of ``--data-parquet-mb`` MB as Arrow in memory (default 4096: ~52 million rows; Parquet
  compresses it on disk), for training under an address-space limit of ``--data-limit-mb``
  beyond start-up (default 1024); its first files, the limit's worth of rows, are trained in
  memory (without a limit) for the speed it is compared with.

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
#: Rows of a file of the Parquet dataset, and of its row groups (~5 MB in memory: a reader may stream them).
PARQUET_FILE_ROWS = 1_000_000
ROW_GROUP_ROWS = 65_536
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

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


#: ``--quick --data``: a smoke test, seconds rather than minutes; its figures mean little.
QUICK_SIZES = DataSizes(rows=100_000, predict_rows=100_000, columns=2_000, parquet_mb=128, limit_mb=32, epochs=3)


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


def row_bytes() -> float:
    """Bytes a row of the table takes in memory as Arrow (eight float64, two short strings)."""
    probe = table_block(10_000, 0)
    return float(probe.nbytes) / float(probe.num_rows)


def write_parquet_dataset(folder: Path, megabytes: int, seed: int = 5) -> list[Path]:
    """Files of up to :data:`PARQUET_FILE_ROWS` rows of the table in ``folder``, ``megabytes`` of it
    in memory (as Arrow: the size a whole read needs; on disk it is compressed)."""
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    folder.mkdir(parents=True, exist_ok=True)
    rows = max(1, round(megabytes * 2**20 / row_bytes()))
    files: list[Path] = []
    for index, start in enumerate(range(0, rows, PARQUET_FILE_ROWS)):
        path = folder / f"part-{index:05d}.parquet"
        block = table_block(min(PARQUET_FILE_ROWS, rows - start), seed * 1_000_003 + index)
        pq.write_table(block, path, row_group_size=ROW_GROUP_ROWS)
        files.append(path)
    return files


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
