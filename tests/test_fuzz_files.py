"""File fuzzing: mutated valid files through every file reader (issue 7, item 2).

Valid seed files (model files of several architectures, scikit-learn
estimators and ``backprop train`` models, checkpoints, CSVs in several
dialects, Parquet, ``.npz`` and ``.npy``), mutated by the mutations of
``scripts/fuzz`` (byte flips, truncations, insertions of interesting bytes,
chunk duplication; huge shapes, bad offsets, wrong dtypes, deep nesting and
resized layers in a safetensors header; CSV tokens; ``.npy`` headers inside
re-zipped archives; ...), go through the readers:

* model files: ``backprop.io.inspect``, ``load_with_metadata``, ``backprop.load``,
  ``backprop.sklearn.load`` and ``Preprocessor.from_dict`` on their metadata;
* checkpoints: ``inspect`` and ``backprop.io.load_checkpoint``, then (as
  ``scripts/fuzz checkpoint --resume`` does) ``fit(..., resume_from=path)``
  from every checkpoint that loads, mostly of mutants of the training state
  (missing fields, wrong types, resized or recast arrays, odd numbers); a
  refused resume must leave the network, the optimizer, the schedule and the
  callbacks as they were;
* tables: ``backprop.tabular.read_table``, ``iter_tables``, then what the
  command-line tool does with them: ``prepare_training``, ``Preprocessor.transform``
  and ``targets``.

The oracle (``check`` in ``scripts/fuzz``): each call succeeds with a usable
result (a loaded network predicts finite values or raises a BackpropError,
survives save and load bit for bit; prepared inputs are finite float32; ...)
or raises a ``backprop.BackpropError`` with a non-empty message. Anything else
fails: another exception, a numpy warning, a file left open, a hang.

Hypothesis draws the seed and the mutations (through ``st.randoms``, so a
failure shrinks to a few mutations), a bounded number per target; with
``BACKPROP_FUZZ_SCALE=20`` twenty times as many. ``scripts/fuzz`` runs the same
oracle for as long as asked (with atheris when it is installed).

Every input that once broke the contract is kept in ``tests/corpus/<target>/``
(see its README) and replayed here, with the rejection it must now get.
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import importlib.util
import json
import os
import re
import struct
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from backprop import tabular
from backprop.errors import DataError, ModelFileError

pytest.importorskip("safetensors")

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(__file__).resolve().parent / "corpus"

#: Multiplies every test's number of examples, for a longer run: BACKPROP_FUZZ_SCALE=20 pytest tests/test_fuzz_files.py
SCALE = int(os.environ.get("BACKPROP_FUZZ_SCALE", "1"))
#: Mutated files per target and run (times SCALE).
EXAMPLES = {"model": 1200, "checkpoint": 800, "csv": 1000, "parquet": 800, "npz": 1200}
#: Mutated checkpoints resumed from per run (times SCALE).
RESUME_EXAMPLES = 600


def _load_script() -> ModuleType:
    """``scripts/fuzz`` as a module (it has no ``.py`` suffix): its seeds, mutations and oracle."""
    name = "backprop_scripts_fuzz"
    loader = importlib.machinery.SourceFileLoader(name, str(ROOT / "scripts" / "fuzz"))
    spec = importlib.util.spec_from_loader(name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    loader.exec_module(module)
    return module


fuzz = _load_script()


def fuzz_settings(n: int) -> settings:
    return settings(
        max_examples=n * SCALE,
        deadline=None,
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def needs(target: str) -> None:
    if target == "parquet":
        pytest.importorskip("pyarrow")


def check(target: str, path: Path) -> list[str]:
    """The oracle; a defect becomes a test failure that says what broke."""
    try:
        outcomes: list[str] = fuzz.check(target, str(path), timeout=30)
    except fuzz.Defect as defect:
        raise AssertionError(f"{defect.signature}: {defect}") from defect
    return outcomes


@contextlib.contextmanager
def resuming(on: bool = True) -> Iterator[None]:
    """The oracle as ``scripts/fuzz checkpoint --resume`` runs it: checkpoints that load are also resumed from."""
    previous, fuzz.RESUME = fuzz.RESUME, on
    try:
        yield
    finally:
        fuzz.RESUME = previous


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


# ------------------------------------------------------------------ seeds and mutants


@pytest.mark.parametrize("target", fuzz.TARGETS)
def test_seed_files_read_cleanly(target: str, folder: Path) -> None:
    """Every seed loads (tables: read whole and in chunks), and some go all the way through the preparation."""
    needs(target)
    seeds = fuzz.seeds(target)
    assert len(seeds) >= 2
    loaders = {"model": ["load", "load_with_metadata"], "checkpoint": ["load_checkpoint"]}
    prepared = 0
    for seed in seeds:
        path = folder / seed.name
        path.write_bytes(seed.data)
        outcomes = check(target, path)
        for loader in loaders.get(target, ["read_table", "iter_tables"]):
            assert f"{loader}: ok" in outcomes, (seed.name, outcomes)
        prepared += any(re.match(r"prepare_training\(.*\): ok$", outcome) for outcome in outcomes)
    assert prepared >= (0 if target in loaders else 2)


def mutants_of(target: str) -> Any:
    """The test of one target: ``EXAMPLES[target]`` mutants of its seeds through the oracle."""

    @fuzz_settings(EXAMPLES[target])
    @given(draw=st.data(), rng=st.randoms(use_true_random=False))
    def test(folder: Path, draw: st.DataObject, rng: Any) -> None:
        needs(target)
        seed = draw.draw(st.sampled_from(fuzz.seeds(target)), label="seed")
        data = fuzz.mutate(target, seed.data, rng)
        path = folder / f"mutant-{target}{fuzz.extension_for(target, data)}"
        path.write_bytes(data)
        outcomes = check(target, path)
        event(fuzz._template(outcomes[0])[:90])  # pytest --hypothesis-show-statistics: how mutants ended

    test.__name__ = test.__qualname__ = f"test_mutated_{target}_files_are_read_or_refused_with_a_backprop_error"
    return test


test_mutated_model_files_are_read_or_refused_with_a_backprop_error = mutants_of("model")
test_mutated_checkpoint_files_are_read_or_refused_with_a_backprop_error = mutants_of("checkpoint")
test_mutated_csv_files_are_read_or_refused_with_a_backprop_error = mutants_of("csv")
test_mutated_parquet_files_are_read_or_refused_with_a_backprop_error = mutants_of("parquet")
test_mutated_npz_files_are_read_or_refused_with_a_backprop_error = mutants_of("npz")


def test_training_checkpoint_seeds_resume(folder: Path) -> None:
    """Every seed written by training resumes (so that the mutants of its state get that far)."""
    resumed = 0
    with resuming():
        for seed in fuzz.seeds("checkpoint"):
            path = folder / f"resume-{seed.name}"
            path.write_bytes(seed.data)
            resumed += "fit(resume_from): ok" in check("checkpoint", path)
    assert resumed == len(fuzz.seeds("checkpoint")) - 1  # all but state-kinds, which holds no training state


@fuzz_settings(RESUME_EXAMPLES)
@given(draw=st.data(), rng=st.randoms(use_true_random=False))
def test_resuming_from_mutated_checkpoints_trains_or_refuses_with_a_backprop_error(
    folder: Path, draw: st.DataObject, rng: Any
) -> None:
    with resuming():
        seed = draw.draw(st.sampled_from(fuzz.seeds("checkpoint")), label="seed")
        data = fuzz.mutate("checkpoint", seed.data, rng)
        path = folder / "mutant-resume.safetensors"
        path.write_bytes(data)
        outcomes = check("checkpoint", path)
    resumed = [outcome for outcome in outcomes if outcome.startswith("fit(resume_from)")]
    event(fuzz._template(resumed[0] if resumed else outcomes[0])[:90])


# ------------------------------------------------------------------ the corpus

CORPUS_FILES = sorted(p for p in CORPUS.glob("*/*") if p.is_file() and p.suffix not in (".md", ".txt"))

#: What some corpus files must now get (a regular expression searched in the outcomes, one per line).
EXPECTED = {
    "model/tensor-declaring-1e15-elements.safetensors": r"load: ModelFileError: .*declares shape \[1000000000000000\]",
    "model/layer-width-2-31-with-matching-tensor-shape.safetensors": r"load: ModelFileError: .*declares shape",
    "model/preprocessing-integer-beyond-float.safetensors": r"Preprocessor.from_dict: ModelFileError: .*finite number",
    "model/sklearn-score-integer-beyond-float.safetensors": r"sklearn.load: ModelFileError: .*must be a number",
    "model/header-length-2-63.safetensors": r"load: ModelFileError: .*header of 9223372036854775808 bytes",
    "checkpoint/state-nested-too-deeply.safetensors": r"load_checkpoint: ModelFileError: .*nested too deeply",
    "checkpoint/state-tensor-declaring-1e12-elements.safetensors": r"load_checkpoint: ModelFileError: .*declares shape",
    **{
        f"checkpoint/resume-{name}.safetensors": rf"fit\(resume_from\): ModelFileError: <file>: state field {field}"
        for name, field in [
            ("adagrad-step-400-digits", r"'optimizer' is unusable: step must be at most 2\*\*53"),
            ("best-parameters-too-short", r"'callbacks\[0\]' is unusable by EarlyStopping: best_parameters holds 10"),
            ("callbacks-not-dicts", r"'callbacks\[0\]' must be a dict"),
            ("early-stopping-wait-a-string", r"'callbacks\[0\]' is unusable by EarlyStopping: wait must be"),
            ("history-integer-beyond-float", r"'history' is unusable: history\['loss'\] must be a list"),
            ("momentum-buffer-too-short", r"'optimizer.momentum_buffer' has 10 values, the network has 26 parameters"),
            ("norm-sums-of-three-layers", r"'partial.norm_sums' must be 2 finite numbers, one per Dense layer"),
            ("optimizer-without-name", r"'optimizer' must be a dict with a 'name'"),
            ("partial-epoch-an-array", r"'partial.epoch' must be 1, the epoch after the last finished one"),
            ("rng-state-without-inc", r"'rngs.dropout' must be a PCG64 state"),
        ]
    },
    "csv/header-rows-beyond-chunk-rows.csv": r"iter_tables: ok",
    "csv/values-beyond-float32.csv": r"prepare_training\(\): DataError: .*beyond float32's range",
    "csv/target-beyond-float32.csv": r"prepare_training\(\): DataError: .*target column .*beyond float32's range",
    "csv/category-without-training-values.csv": r"DataError: .*has no values in the training rows",
    "csv/test-row-far-outside-training-spread.csv": r"DataError: .*too large for float32 once standardised",
    "csv/nul-byte.csv": r"read_table: ok",
    "csv/digits-beyond-float64.csv": r"prepare_training\(\): DataError: .*holds infinite values",
    "parquet/corrupt-page-header.parquet": r"iter_tables: DataError: .*not a readable Parquet file",
    "parquet/string-not-utf8.parquet": r"read_table: DataError: .*not a readable Parquet file",
    "parquet/int64-beyond-2-53.parquet": r"read_table: ok",
    "parquet/duplicate-column-names.parquet": r"iter_tables: ok",
    "parquet/float-beyond-float32.parquet": r"prepare_training\(\): DataError: .*beyond float32's range",
    "parquet/truncated.parquet": r"read_table: DataError: .*not a readable Parquet file",
    "parquet/signalling-nan-target.parquet": r"prepare_training\(target='0', impute='median', test_size=0.5\): ok",
    "npz/not-a-zip-after-pk-magic.npz": r"read_table: DataError: .*not a readable .npz file",
    "npz/member-not-npy.npz": r"read_table: DataError: .*X is not a NumPy array",
    "npz/header-token-error.npz": r"read_table: DataError: .*is not a readable NumPy array",
    "npz/text-beyond-unicode.npz": r"read_table: DataError: .*not valid Unicode",
    "npz/feature-names-beyond-unicode.npz": r"read_table: DataError: .*feature_names holds text that is not valid",
    "npz/shape-beyond-data.npz": r"read_table: DataError: .*but only \d+ bytes follow its header",
    "npz/duplicate-feature-names.npz": r"read_table: ok",
    "npz/empty-with-a-billion-columns.npy": r"read_table: DataError: .*no values, but a dimension",
    "npz/zero-byte-dtype.npy": r"read_table: DataError: .*of 0 bytes per value",
    "npz/signalling-nan.npy": r"read_table: ok",
    "npz/subarray-dtype.npy": r"read_table: DataError: .*subarray or structured dtype",
}


def test_the_corpus_covers_every_target() -> None:
    assert {p.parent.name for p in CORPUS_FILES} == set(fuzz.TARGETS)
    assert set(EXPECTED) <= {f"{p.parent.name}/{p.name}" for p in CORPUS_FILES}


@pytest.mark.parametrize("path", CORPUS_FILES, ids=[f"{p.parent.name}/{p.name}" for p in CORPUS_FILES])
def test_corpus_file(path: Path, tmp_path: Path) -> None:
    target = path.parent.name
    needs(target)
    assert path.stat().st_size < 20_000
    copy = tmp_path / path.name  # the oracle writes next to the file (a model saved again)
    copy.write_bytes(path.read_bytes())
    with resuming(target == "checkpoint"):
        outcomes = check(target, copy)
    expected = EXPECTED.get(f"{target}/{path.name}")
    if expected is not None:
        assert re.search(expected, "\n".join(outcomes)), outcomes


# ------------------------------------------------------------------ huge declarations, under a memory cap

CAPPED = textwrap.dedent(
    """
    import json, resource, sys, time
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[1]), hard))
    import backprop as bp
    from backprop import io, tabular
    import backprop.sklearn as skl
    readers = {
        "model": [io.inspect, io.load, io.load_checkpoint, skl.load],
        "checkpoint": [io.inspect, io.load_checkpoint],
        "table": [tabular.read_table, lambda path: list(tabular.iter_tables(path, 100))],
    }
    results = []
    for kind, path in json.loads(sys.argv[2]):
        for read in readers[kind]:
            start = time.perf_counter()
            try:
                read(path)
                outcome = "accepted"
            except bp.BackpropError as exc:
                outcome = type(exc).__name__
            except MemoryError:
                outcome = "MemoryError"
            results.append([path, outcome, time.perf_counter() - start])
    print(json.dumps(results))
    """
)


def huge_files(folder: Path) -> list[tuple[str, str]]:
    """Small files whose headers declare terabytes, or a width whose tensor would be as large."""
    model = fuzz.seeds("model")[0].data
    header, tensors = fuzz.split_safetensors(model)
    files = []

    def write(name: str, kind: str, data: bytes) -> None:
        (folder / name).write_bytes(data)
        files.append((kind, str(folder / name)))

    for n in (10**12, 10**15):
        header["parameters"] = {"dtype": "F32", "shape": [n], "data_offsets": [0, 4 * n]}
        write(f"tensor-{n}.safetensors", "model", fuzz.join_safetensors(header, tensors))
    # Layers of 2**31 - 1 units, and a tensor shape that agrees with them: 4.6e18 parameters.
    header, tensors = fuzz.split_safetensors(model)
    document = json.loads(header["__metadata__"]["backprop"])
    width = 2**31 - 1
    for layer in document["network"]["layers"]:
        layer["units"] = width
    count = (4 * width + width) + (width * width + width)
    header["parameters"] = {"dtype": "F32", "shape": [count], "data_offsets": [0, 4 * count]}
    header["__metadata__"]["backprop"] = json.dumps(document)
    write("width.safetensors", "model", fuzz.join_safetensors(header, tensors))
    checkpoint = fuzz.seeds("checkpoint")[1].data
    header, tensors = fuzz.split_safetensors(checkpoint)
    name = next(n for n in header if n.startswith("state."))
    header[name] = {"dtype": "F64", "shape": [10**6, 10**6], "data_offsets": [0, 8 * 10**12]}
    write("state.safetensors", "checkpoint", fuzz.join_safetensors(header, tensors))
    write("shape.npy", "table", npy((10**6, 10**6)))
    write("empty.npy", "table", npy((0, 10**9)))
    archive = folder / "shape.npz"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("X.npy", npy((10**6, 10**6)) + b"\0" * 64)
    files.append(("table", str(archive)))
    return files


def npy(shape: tuple[int, ...], descr: str = "<f8", data: bytes = b"") -> bytes:
    """A version 1.0 ``.npy`` file with the given header and data."""
    header = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode()
    header += b" " * ((64 - (10 + len(header) + 1) % 64) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + data


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS caps the address space on Linux")
def test_huge_declarations_are_refused_fast_under_a_memory_cap(tmp_path: Path) -> None:
    """1 GiB of address space: reading must not try to allocate what a header declares."""
    pytest.importorskip("sklearn")
    files = huge_files(tmp_path)
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", CAPPED, str(2**30), json.dumps(files)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert len(results) == 4 * 3 + 2 + 2 * 3
    for path, outcome, seconds in results:
        expected = "DataError" if path.endswith((".npy", ".npz")) else "ModelFileError"
        assert outcome == expected, (path, outcome)
        assert seconds < 2.0, (path, seconds)


# ------------------------------------------------------------------ the defects found, one by one


def test_iter_tables_chunks_never_exceed_chunk_rows(tmp_path: Path) -> None:
    # The first 101 rows are read at once to detect the header; they used to come back as one chunk.
    path = tmp_path / "t.csv"
    path.write_text("a,b\n" + "".join(f"{i},{i % 2}\n" for i in range(15)))
    chunks = list(tabular.iter_tables(str(path), 4))
    assert [c.n_rows for c in chunks] == [4, 4, 4, 3]
    assert [c.offset for c in chunks] == [0, 4, 8, 12]
    assert np.concatenate([c.lines for c in chunks]).tolist() == list(range(2, 17))
    assert np.concatenate([c.columns[0] for c in chunks]).tolist() == [float(i) for i in range(15)]


def test_a_quote_never_closed_is_a_data_error(tmp_path: Path) -> None:
    # 130,000 characters in one quoted field: beyond the csv module's limit, which raised csv.Error.
    path = tmp_path / "q.csv"
    path.write_text('a,b\n1,"' + "x" * 140_000 + "\n2,3\n")
    with pytest.raises(DataError, match=r"line 2 is not valid CSV \(field larger than field limit"):
        tabular.read_table(str(path))


def test_numbers_beyond_float32_are_refused_with_the_column(tmp_path: Path) -> None:
    # 1e300 overflowed the squares of the standard deviation (a RuntimeWarning), or the float32 inputs.
    path = tmp_path / "big.csv"
    path.write_text("a,b,y\n1e300,1,0\n2,2,1\n3,3,0\n4,4,1\n")
    frame = tabular.read_table(str(path))
    for standardize in (True, False):
        with pytest.raises(DataError, match=r"column 'a' holds values beyond float32's range of ±3.403e\+38 \(row 0\)"):
            tabular.prepare_training(frame, standardize=standardize)


def test_inputs_far_outside_the_training_spread_are_refused(tmp_path: Path) -> None:
    # A model's scale of 1e-300 (read from its file) or a new row of 1e300 gave infinite float32 inputs.
    path = tmp_path / "t.csv"
    path.write_text("a,y\n1,p\n2,q\n3,p\n")
    pre = tabular.prepare_training(tabular.read_table(str(path)), test_size=0).preprocessor
    pre.features[0].scale = 1e-300
    with pytest.raises(DataError, match=r"column 'a' holds values too large for the network's float32 inputs"):
        pre.transform(tabular.read_table(str(path)))


def test_a_category_missing_from_every_training_row_is_a_data_error(tmp_path: Path) -> None:
    # np.argmax of no categories raised ValueError.
    path = tmp_path / "c.csv"
    path.write_text("c,x,y\nz,1,1\n?,2,2\n?,3,1\n?,4,2\n")  # row 0 is the one test row
    with pytest.raises(DataError, match=r"column 'c' has no values in the training rows"):
        tabular.prepare_training(tabular.read_table(str(path)), impute="mean", test_size=0.25, seed=1)


def test_numbers_beyond_float64_in_stored_preprocessing_are_model_file_errors() -> None:
    # math.isfinite(10**400) raised OverflowError.
    pre = tabular.Preprocessor(
        [tabular.FeatureSpec("a", "numeric")], tabular.TargetSpec("y", "classes", classes=[0, 1])
    ).to_dict()
    pre["features"][0]["mean"] = 10**400
    with pytest.raises(ModelFileError, match=r"'preprocessing.features\[0\].mean' must be a finite number"):
        tabular.Preprocessor.from_dict(pre)
    pre["features"][0]["mean"] = 0.0
    pre["target"]["classes"] = [0, 10**400]
    with pytest.raises(ModelFileError, match=r"'preprocessing.target.classes' must be a list"):
        tabular.Preprocessor.from_dict(pre)


def test_parquet_int64_beyond_2_53_and_repeated_names(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "p.parquet"
    table = pa.Table.from_arrays([pa.array([2**60, 1]), pa.array([1.0, 2.0]), pa.array(["a", "b"])], ["x", "x", "y"])
    pq.write_table(table, path)
    chunks = list(tabular.iter_tables(str(path)))
    assert chunks[0].names == ["x", "x.1", "y"]
    assert any("renamed it 'x.1'" in note for note in chunks[0].notes)
    assert chunks[0].columns[0].tolist() == [float(2**60), 1.0]  # the cast used to be "safe" and raise


def test_a_non_zip_npz_leaves_no_file_open(tmp_path: Path) -> None:
    # np.load left the file it opened open when zipfile refused it: a ResourceWarning, an error under pytest.
    path = tmp_path / "bad.npz"
    path.write_bytes(b"PK\x03\x04")
    with pytest.raises(DataError, match=r"is not a readable .npz file: File is not a zip file"):
        tabular.read_table(str(path))
    assert not fuzz._open_files(str(tmp_path))  # (on Linux; elsewhere nothing is found)


def test_the_script_runs(tmp_path: Path) -> None:
    """``scripts/fuzz csv`` for three seconds with its own loop: inputs tried, no defect, figures written."""
    report = tmp_path / "report.json"
    command = [
        sys.executable,
        str(ROOT / "scripts" / "fuzz"),
        "csv",
        "--time",
        "3",  # a slow CPU ran 7 inputs in one second
        "--no-atheris",
        "--json",
        str(report),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    figures = json.loads(report.read_text())["csv"]
    assert figures["executions"] > 2 and not figures["defects"], figures
