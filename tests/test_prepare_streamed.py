"""The preprocessing fitted on a table read in chunks: the same as on the whole table, for dates,
row numbers and missing categories too."""

from __future__ import annotations

import numpy as np
import pytest

from backprop.errors import DataError
from backprop.tabular import Frame, Preprocessor, prepare_training
from backprop.tabular.frame import cut
from backprop.tabular.prepare import MISSING_CATEGORY, plan_training
from backprop.tabular.scan import BLOCK, Moments


def table(n: int, seed: int = 0) -> Frame:
    rng = np.random.default_rng(seed)
    colour = np.empty(n, dtype=object)
    colour[:] = rng.choice(["red", "green", "blue"], size=n).tolist()
    size = rng.normal(1e4, 3.0, size=n)  # a large mean: the variance is where round-off shows
    size[rng.random(n) < 0.01] = np.nan
    label = np.empty(n, dtype=object)
    label[:] = rng.choice(["a", "b", "c"], size=n).tolist()
    return Frame(source="t.csv", names=["colour", "size", "label"], columns=[colour, size, label])


def chunked(frame: Frame, rows: int):  # type: ignore[no-untyped-def]
    return lambda: cut(frame, rows)


@pytest.mark.parametrize("rows", [997, BLOCK, BLOCK + 1])
def test_the_preprocessing_does_not_depend_on_how_the_table_is_cut(rows: int) -> None:
    frame = table(2 * BLOCK + 5000)
    whole = prepare_training(frame, impute="median", seed=3)
    plan = plan_training(chunked(frame, rows), impute="median", seed=3)
    # Bit for bit: to_dict holds the floats themselves.
    assert plan.preprocessor.to_dict() == whole.preprocessor.to_dict()
    np.testing.assert_array_equal(plan.rows_train, whole.rows_train)
    np.testing.assert_array_equal(plan.rows_test, whole.rows_test)
    assert plan.n_dropped == whole.n_dropped == 0


def test_one_block_gives_numpys_own_mean_and_variance() -> None:
    values = np.array([1.0, 2.0, 4.0])
    moments = Moments()
    moments.add(values[:2])
    moments.add(values[2:])
    # mean = 7/3, variance = ((1-7/3)² + (2-7/3)² + (4-7/3)²) / 3 = (16/9 + 1/9 + 25/9) / 3 = 14/9
    assert moments.result() == (values.mean(), values.var())
    assert moments.result()[1] == pytest.approx(14 / 9)


def test_blocks_are_combined_in_order() -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(5.0, 2.0, size=3 * BLOCK + 17)
    one, other = Moments(), Moments()
    one.add(values)
    for part in np.array_split(values, 7):
        other.add(part)
    assert one.result() == other.result()  # the same blocks however the values arrive
    mean, var = one.result()
    assert mean == pytest.approx(values.mean(), rel=1e-14)
    assert var == pytest.approx(values.var(), rel=1e-12)


def dated() -> Frame:
    when = np.array(["1970-01-02", "1970-01-04", "NaT", "1970-01-03", "1970-01-06", "1970-01-05"], "datetime64[D]")
    y = np.array([0.0, 1.0, 0.0, 1.0, 0.0, 1.0])
    return Frame(source="d.csv", names=["when", "y"], columns=[when, y])


def test_a_date_column_becomes_days_since_1970() -> None:
    prepared = prepare_training(dated(), impute="mean", test_size=0, standardize=False)
    spec = prepared.preprocessor.features[0]
    assert spec.kind == "numeric" and spec.dates
    # 1970-01-02 is day 1; the missing date gets the mean of days 1, 3, 2, 5, 4: 15 / 5 = 3.
    assert spec.fill == 3.0
    np.testing.assert_array_equal(prepared.X_train[:, 0], [1, 3, 3, 2, 5, 4])
    assert any("date columns as days" in note for note in prepared.notes)
    # The model file keeps it, and new data may give the dates as ISO text.
    pre = Preprocessor.from_dict(prepared.preprocessor.to_dict())
    text = np.array(["1970-01-11", "1970-01-01T12:00"], dtype=object)
    new = Frame(source="new.csv", names=["when"], columns=[text])
    np.testing.assert_array_equal(pre.transform(new)[:, 0], [10.0, 0.5])


def test_a_cell_that_is_no_date_is_named() -> None:
    pre = prepare_training(dated(), impute="mean", test_size=0).preprocessor
    text = np.array(["1970-01-11", "soon"], dtype=object)
    with pytest.raises(DataError, match=r"new.csv: column 'when', row 1: 'soon' is not a date"):
        pre.transform(Frame(source="new.csv", names=["when"], columns=[text]))


def counted(n: int) -> Frame:
    rng = np.random.default_rng(0)
    return Frame(
        source="diamonds.csv",
        names=["rownames", "carat", "price"],
        columns=[np.arange(1.0, n + 1), rng.random(n), rng.random(n)],
    )


def test_a_column_that_counts_the_rows_is_refused_like_an_identifier() -> None:
    with pytest.raises(DataError, match=r"'rownames' looks like a row number.*200 distinct.*--ignore 'rownames'"):
        prepare_training(counted(200))
    assert prepare_training(counted(200), ignore=["rownames"]).preprocessor.n_inputs == 1
    # Named on purpose, it is a feature.
    assert prepare_training(counted(200), features=["rownames", "carat"]).preprocessor.n_inputs == 2
    # A short table's counter may be a real feature: 100 rows are not enough to say.
    assert prepare_training(counted(100)).preprocessor.n_inputs == 2


def test_a_row_number_is_found_across_chunks_and_not_when_it_steps_back() -> None:
    frame = counted(500)
    with pytest.raises(DataError, match="looks like a row number"):
        plan_training(chunked(frame, 64))
    frame.columns[0][300] = 7.0  # out of order once
    assert plan_training(chunked(frame, 64)).preprocessor.n_inputs == 2


def test_infinite_cells_make_no_row_number_and_no_floating_point_warning() -> None:
    # Found by the file fuzzer: a column of inf, inf, 2, 3 ... took inf − inf in the row-number test,
    # a RuntimeWarning where a DataError naming the cells is the answer.
    frame = counted(500)
    frame.columns[0][:2] = np.inf
    with np.errstate(all="raise"), pytest.raises(DataError, match=r"'rownames'.*infinite"):
        prepare_training(frame)


def test_a_missing_category_can_be_a_category_of_its_own() -> None:
    colour = np.array(["red", None, "blue", "red", None, "blue"], dtype=object)
    y = np.array(["a", "b", "a", "b", "a", "b"], dtype=object)
    frame = Frame(source="c.csv", names=["colour", "y"], columns=[colour, y])
    with pytest.raises(DataError, match=r"column 'colour' has 2 missing values.*--missing-category"):
        prepare_training(frame, test_size=0)
    prepared = prepare_training(frame, test_size=0, missing_category=True)
    spec = prepared.preprocessor.features[0]
    assert spec.categories == ["blue", "red", MISSING_CATEGORY] and spec.fill == MISSING_CATEGORY
    # red → [0 1 0], missing → [0 0 1], blue → [1 0 0]
    np.testing.assert_array_equal(prepared.X_train[:3], [[0, 1, 0], [0, 0, 1], [1, 0, 0]])
    # --impute drop keeps those rows: the cell is a category, not missing.
    assert prepare_training(frame, test_size=0, missing_category=True, impute="drop").n_dropped == 0


def test_onnx_with_one_input_per_column_refuses_a_date_column() -> None:
    pytest.importorskip("onnx")
    from backprop import Dense, Network
    from backprop.errors import ParameterError
    from backprop.onnx import tabular_to_onnx

    pre = prepare_training(dated(), impute="mean", test_size=0).preprocessor
    net = Network([Dense(2, activation="softmax")], inputs=1, seed=0)
    with pytest.raises(ParameterError, match=r"column 'when' holds dates.*--inputs matrix"):
        tabular_to_onnx(net, pre, layout="columns")
    _, info = tabular_to_onnx(net, pre, layout="matrix")
    assert info.layout == "matrix" and info.inputs == ["when"]


def test_a_wide_tables_blocks_are_shorter_and_still_do_not_depend_on_the_cut() -> None:
    from backprop.tabular.scan import BLOCKS_BYTES, block_size

    assert block_size(1) == BLOCK and block_size(10**6) == 64
    # 300 numeric columns: blocks of 2**22 / (8 · 300) = 1747 values, so 20,000 rows make several.
    assert block_size(300) == BLOCKS_BYTES // 2400 == 1747
    rng = np.random.default_rng(2)
    columns = [rng.normal(3.0, 1.0, size=20_000) for _ in range(300)] + [np.arange(20_000) % 3 * 1.0]
    frame = Frame(source="wide.csv", names=[f"c{j}" for j in range(300)] + ["y"], columns=columns)
    whole = plan_training(lambda: [frame], seed=1)
    assert plan_training(chunked(frame, 4999), seed=1).preprocessor.to_dict() == whole.preprocessor.to_dict()


def test_train_missing_category_from_the_command_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    import backprop as bp
    from backprop.cli import main

    rows = ["colour,size,kind"] + [f"{['red', '', 'blue'][i % 3]},{i % 7},{'ab'[i % 2]}" for i in range(60)]
    (tmp_path / "c.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "m.safetensors"
    refused = CliRunner().invoke(main, ["train", str(tmp_path / "c.csv"), "--epochs", "1", "-o", str(out)])
    assert refused.exit_code != 0 and "--missing-category" in refused.output
    done = CliRunner().invoke(
        main, ["train", str(tmp_path / "c.csv"), "--epochs", "1", "--missing-category", "-o", str(out)]
    )
    assert done.exit_code == 0, done.output
    model = bp.TabularModel.load(out)
    assert model.missing_category is True
    assert model.preprocessor_.features[0].categories == ["blue", "red", MISSING_CATEGORY]
    with pytest.raises(bp.BackpropError, match="missing_category must be True or False"):
        bp.TabularModel(missing_category="yes").fit(tmp_path / "c.csv")


def test_a_stratified_split_of_class_indices_counts_rather_than_sorts_and_gives_the_same_split() -> None:
    from backprop.preprocessing import stratified_split

    labels = np.random.default_rng(4).integers(0, 10, size=5000)
    # Digits as text take the sorting path; their order is the order of the numbers.
    for by_count, by_sort in zip(
        stratified_split(labels, 0.2, seed=9), stratified_split(labels.astype(str), 0.2, seed=9), strict=True
    ):
        np.testing.assert_array_equal(by_count, by_sort)


def test_categories_no_row_uses_are_not_classes_or_cells() -> None:
    pd = pytest.importorskip("pandas")
    from backprop.dataframes import frame_of

    kinds = pd.Categorical(["a", "b"] * 10, categories=["a", "b", "zz"])
    numbers = pd.Categorical(["1", "2", "3", "2"] * 5, categories=["1", "2", "3", "x"])
    frame = frame_of(pd.DataFrame({"size": np.arange(20.0) % 7, "n": numbers, "kind": kinds}))
    assert prepare_training(frame, target="kind", test_size=0).preprocessor.classes == ["a", "b"]
    # 'x' is in the dictionary, in no row: the column is numbers.
    regression = prepare_training(frame, target="n", ignore=["kind"], task="regression", test_size=0)
    assert regression.preprocessor.target.kind == "numeric"


def test_a_streamed_csvs_target_error_names_the_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from backprop.tabular import iter_tables

    rows = ["x,y"] + [f"{i % 7},{i % 5}.5" for i in range(3000)] + ["1,abc"] + [f"{i},{i}.5" for i in range(10)]
    path = tmp_path / "late.csv"
    path.write_text("\n\n".join(rows) + "\n")  # a blank line after every row: row r ends on line 2r + 3
    # Row 3000 is on line 6003, in the seventh chunk of 500 rows.
    with pytest.raises(DataError, match=r"late.csv: column 'y', row 3000 \(line 6003\): 'abc' is not a number"):
        plan_training(lambda: iter_tables(str(path), 500), task="regression")


def test_the_blocks_means_and_variances_are_numpys_own() -> None:
    from backprop.tabular.scan import Scratch

    rng = np.random.default_rng(5)
    values = rng.normal(1e4, 3.0, size=5 * 1747 + 9)
    moments = Moments(block=1747, scratch=Scratch())
    moments.add(values)
    blocks = values[: 5 * 1747].reshape(5, 1747)
    assert [(n, m, v) for n, m, v in moments.blocks] == [(1747, float(b.mean()), float(b.var())) for b in blocks]
