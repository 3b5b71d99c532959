"""Tables for the command-line tool: reading data files and turning columns into network inputs.

Sources (:func:`read_table` reads one whole, :func:`iter_tables` in chunks of
bounded size):

* **CSV** (any other file, or ``-`` for standard input): the encoding is
  UTF-8, UTF-8 with a byte-order mark, UTF-16 with a byte-order mark, or, when
  the bytes are not UTF-8, Latin-1 (with a note saying so); the delimiter is
  sniffed among ``, ; TAB |``; CRLF and LF line ends both work; blank lines
  (empty, or only spaces and tabs) are skipped; the first row is a header
  unless it looks like data (every field a number, or its text values recur
  in their columns), and the only row of a one-row file is a header only if
  none of its fields is a number. A semicolon-delimited file may use decimal
  commas (``1,5``). ``pyarrow.csv`` parses the rows; a column whose sampled cells are
  all numbers is read as float64 (a later cell that is not makes it text), ISO-8601
  dates and timestamps as dates, the rest as text.
* **Parquet** (``.parquet``, ``.pq`` or the ``PAR1`` magic), and **datasets** of
  Parquet files: a folder (searched at every depth; names starting with ``.`` or
  ``_`` skipped), or a glob such as ``data/*.parquet``; ``key=value`` folders
  (hive partitions) become columns. Files are read in sorted path order, rows in
  file order, so that row numbers and the train/test split are the same every run.
  Read with ``pyarrow.parquet`` (one file) or ``pyarrow.dataset`` (a folder or glob).
* **NumPy**: ``.npz`` with arrays ``X`` (2-D) and optionally ``y`` (1-D) and
  ``feature_names``; ``.npy`` holding one 2-D array. Read with
  ``allow_pickle=False``: a file of Python objects is refused, never unpickled.
  Columns are named ``x0``, ``x1``, ... and the target of an ``.npz`` ``y``.
* a **built-in dataset** name (:data:`backprop.datasets.DATASETS`): its
  training and test parts together, the target column named ``target``.

Every source arrives as an Arrow table and becomes a :class:`Frame` through
:func:`~backprop.tabular.arrow_tables.frame_of_arrow`: numbers as float64, dates and
times as ``datetime64`` (they become days since 1970-01-01 in training), text
dictionary-encoded (:class:`~backprop.tabular.columns.Coded`), so that the work on
text is done once per distinct value.

Cells are missing when empty or one of ``NA``, ``N/A``, ``NaN``, ``null``,
``None``, ``?`` (any case).

A :class:`Preprocessor` is fitted on the training rows and remembers what
turns a table into the network's inputs: the feature columns and their kind
(numeric, or categorical and one-hot encoded), the categories, the values
that fill missing cells (``impute="mean"`` or ``"median"``; the most frequent
category for categorical columns), the standardisation statistics, and the
target (class labels, or a numeric target's scaling). It serialises to plain
JSON (:meth:`Preprocessor.to_dict`) and is stored in the model file, so
``predict``, ``evaluate`` and ``explain`` prepare new data exactly as
training did.

Nothing here prints: notes for the user (an encoding fallback, renamed
columns, rows dropped) are returned in :attr:`Frame.notes` and
:attr:`Prepared.notes`.

The package, one concern per module (each imports only those above it):

* ``frame`` — :class:`Frame`, a table as read, and its helpers;
* ``columns`` — cells as numbers or text (:func:`parse_numbers`, :func:`as_text`),
  :class:`FeatureSpec`, :class:`TargetSpec`;
* ``csv_files``, ``parquet_files``, ``numpy_files`` — the readers of each kind of file;
* ``readers`` — :func:`read_table`, :func:`iter_tables`: the reader chosen by the source;
* ``preprocess`` — :class:`Preprocessor`, applying the fitted preprocessing and its JSON form;
* ``prepare`` — :func:`prepare_training`: the target, the split, the fit.
"""

from .columns import MISSING, FeatureSpec, Label, Parsed, TargetSpec, as_text, parse_numbers
from .csv_files import DELIMITERS
from .frame import CHUNK_ROWS, Frame
from .numpy_files import MAX_EMPTY_DIMENSION
from .parquet_files import PARQUET_HINT, is_glob
from .prepare import MAX_AUTO_CLASSES, MAX_CATEGORIES, TASKS, Prepared, check_held_out, prepare_training
from .preprocess import IMPUTE, PREPROCESSING_FORMAT, PREPROCESSING_VERSION, Preprocessor
from .readers import is_dataset_name, iter_tables, read_table

__all__ = [
    "CHUNK_ROWS",
    "DELIMITERS",
    "IMPUTE",
    "MAX_AUTO_CLASSES",
    "MAX_CATEGORIES",
    "MAX_EMPTY_DIMENSION",
    "MISSING",
    "PARQUET_HINT",
    "PREPROCESSING_FORMAT",
    "PREPROCESSING_VERSION",
    "TASKS",
    "FeatureSpec",
    "Frame",
    "Label",
    "Parsed",
    "Prepared",
    "Preprocessor",
    "TargetSpec",
    "as_text",
    "check_held_out",
    "is_dataset_name",
    "is_glob",
    "iter_tables",
    "parse_numbers",
    "prepare_training",
    "read_table",
]
