"""CSV read by pyarrow: the sample decides, pyarrow converts, and every promise of the Python reader holds.

The sample is the first MiB; the files that test what happens past it have 150,000 rows (about
1.3 MB), so that a cell near their end is in a later block than pyarrow's type decision saw.
"""

import codecs
import io
import re

import numpy as np
import pytest

from backprop.errors import DataError
from backprop.tabular import iter_tables, prepare_training, read_table

pytest.importorskip("pyarrow")

ROWS = 150_000


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return str(path)


def numbered(rows=ROWS):
    """``i,i % 7`` for i < rows: 1.3 MB for the default, past the sample."""
    return "".join(f"{i},{i % 7}\n" for i in range(rows))


# ------------------------------------------------------------------ what a cell is


@pytest.mark.parametrize(
    ("cell", "value"),
    [
        ("1e5", 100000.0),
        ("+1", 1.0),
        (".5", 0.5),
        (" 2 ", 2.0),
        ("inf", np.inf),
        ("-Infinity", -np.inf),
        ("9007199254740993", 9007199254740992.0),  # 2**53 + 1: the nearest float, as Python's float gives
        ("1e999", np.inf),
    ],
)
def test_numbers_pyarrow_reads_are_python_floats(tmp_path, cell, value):
    frame = read_table(write(tmp_path / "n.csv", f"a,b\n{cell},1\n3,2\n"))
    assert frame.columns[0].dtype == np.float64
    assert frame.columns[0].tolist() == [value, 3.0]


@pytest.mark.parametrize("cell", ["0x10", "1_000", "١٢", "true", "12:30:00", "1.5.2"])
def test_cells_python_does_not_read_as_pyarrow_numbers_stay_text(tmp_path, cell):
    # pyarrow's int64 parser takes 0x10 for 16 and its inference makes booleans and times of day;
    # Python's float takes 1_000 and ١٢, which parse_numbers reads from the text as before.
    frame = read_table(write(tmp_path / "t.csv", f"a,b\n{cell},1\n3,2\n"))
    assert frame.columns[0].dtype == object
    assert frame.columns[0].tolist() == [cell, "3"]


def test_text_that_python_reads_as_numbers_still_trains_as_numbers(tmp_path):
    frame = read_table(write(tmp_path / "u.csv", "a,y\n1_000,0\n2,1\n3,0\n4,1\n"))
    X = prepare_training(frame, target="y", test_size=0, standardize=False).X_train
    assert X[:, 0].tolist() == [1000.0, 2.0, 3.0, 4.0]


@pytest.mark.parametrize("cell", ["NA", "n/a", "NULL", "None", "?", "nan", "#N/A", "", "  ", "nUlL", " NA "])
def test_missing_spellings_in_any_case_are_missing(tmp_path, cell):
    frame = read_table(write(tmp_path / "m.csv", f"a,y\n{cell},0\n2,1\n3,0\n4,1\n"))
    X = prepare_training(frame, target="y", test_size=0, standardize=False, impute="mean").X_train
    assert X[:, 0].tolist() == [3.0, 2.0, 3.0, 4.0]  # the mean of 2, 3, 4 fills row 0


def test_iso_dates_and_timestamps_arrive_as_datetime64(tmp_path):
    text = "d,t,z\n2020-01-31,2020-01-31 10:30:00,2020-01-31T10:30:00+02:00\nNA,,2020-02-01T00:00:00Z\n"
    frame = read_table(write(tmp_path / "d.csv", text))
    d, t, z = frame.columns
    assert d.dtype == np.dtype("datetime64[D]") and t.dtype.kind == "M" and z.dtype.kind == "M"
    assert d[0] == np.datetime64("2020-01-31") and np.isnat(d[1])
    assert t[0] == np.datetime64("2020-01-31T10:30:00") and np.isnat(t[1])
    assert z.tolist() == [np.datetime64("2020-01-31T08:30:00"), np.datetime64("2020-02-01T00:00:00")]  # in UTC


def test_decimal_commas_are_read_by_pyarrow_when_they_are_the_file_s_decimal_point(tmp_path):
    frame = read_table(write(tmp_path / "s.csv", "a;b;c\n1,5;2,25;x\n-0,5;3;y\n"))
    assert frame.decimal_comma
    assert frame.columns[0].tolist() == [1.5, -0.5] and frame.columns[1].tolist() == [2.25, 3.0]


def test_a_one_column_file_skips_blank_lines_and_reads_numbers(tmp_path):
    frame = read_table(write(tmp_path / "one.csv", 'a\n1\n  \n""\n\t\nNA\n2.5\n'))
    assert frame.columns[0].tolist()[0] == 1.0 and np.isnan(frame.columns[0][1]) and frame.columns[0][2] == 2.5
    assert frame.lines.tolist() == [2, 6, 7]


# ------------------------------------------------------------------ past the sample


def test_text_late_in_a_number_column_makes_the_column_text(tmp_path):
    path = write(tmp_path / "late.csv", "a,b\n" + numbered() + "007x,1\n")
    frame = read_table(path)
    assert frame.columns[0].dtype == object and frame.columns[1].dtype == np.float64
    assert frame.columns[0][[0, 1, ROWS]].tolist() == ["0", "1", "007x"]  # the file's text, not 0.0
    assert frame.where(ROWS) == f"row {ROWS} (line {ROWS + 2})"


def test_text_late_in_a_number_column_when_streamed(tmp_path):
    path = write(tmp_path / "late.csv", "a,b\n" + numbered() + "x,1\n")
    chunks = list(iter_tables(path, chunk_rows=40_000))
    assert [c.n_rows for c in chunks] == [40_000, 40_000, 40_000, 30_001]
    assert [c.offset for c in chunks] == [0, 40_000, 80_000, 120_000]
    assert chunks[0].columns[0].dtype == np.float64  # given before the text was found
    assert chunks[-1].columns[0].dtype == object and chunks[-1].columns[0][-1] == "x"
    assert chunks[-1].columns[0][0] == "120000"  # the rows after those given, read again as text
    assert chunks[-1].where(30_000) == f"row {ROWS} (line {ROWS + 2})"


def test_many_columns_with_late_text_are_read_as_text_then_cast(tmp_path):
    # Four columns turn to text past the sample: two are read again, then everything is read as
    # text and each column cast to its type where every cell allows (e, the one without text).
    body = "".join(f"{i},{i},{i},{i},{i / 4}\n" for i in range(ROWS))
    path = write(tmp_path / "m.csv", "a,b,c,d,e\n" + body + "x,y,z,w,0.5\n")
    for frame in (read_table(path), list(iter_tables(path, chunk_rows=100_000))[-1]):
        assert [c.dtype.kind for c in frame.columns] == ["O", "O", "O", "O", "f"]
        assert frame.columns[3][-1] == "w" and frame.columns[4][-2:].tolist() == [(ROWS - 1) / 4, 0.5]


def test_a_ragged_row_past_the_sample_names_its_row_and_line(tmp_path):
    path = write(tmp_path / "r.csv", "a,b\n" + numbered() + "\n\n1,2,3\n")
    message = rf"r\.csv: row {ROWS} \(line {ROWS + 4}\) has 3 fields, the header has 2; check the delimiter \(','\)"
    with pytest.raises(DataError, match=message):
        read_table(path)
    with pytest.raises(DataError, match=message):
        list(iter_tables(path, chunk_rows=50_000))


def test_a_quote_never_closed_past_the_sample(tmp_path):
    path = write(tmp_path / "q.csv", "a,b\n" + numbered() + '1,"' + "x" * 140_000 + "\n2,3\n")
    with pytest.raises(DataError, match=rf"line {ROWS + 2} is not valid CSV \(field larger than field limit"):
        read_table(path)


def test_a_row_longer_than_pyarrow_s_block_is_read(tmp_path):
    long = "y" * (3 << 20)  # 3 MiB in one quoted field, longer than a block
    path = write(tmp_path / "long.csv", "a,b\n" + numbered() + f'1,"{long}"\n2,z\n')
    frame = read_table(path)
    assert frame.n_rows == ROWS + 2 and frame.columns[1][ROWS] == long and frame.columns[1][-1] == "z"


def test_newlines_in_quotes_after_megabytes_without_a_quote(tmp_path):
    # A file without a quote is cut at every newline (faster); one quote anywhere, even past the
    # first blocks, and its quoted newlines stay inside their fields, wherever pyarrow's blocks end.
    plain, quoted = 1_500_000, 300_000  # 6 MB of "1,a" rows, then 3 MB of rows whose field holds a newline
    path = write(tmp_path / "n.csv", "a,b\n" + "1,a\n" * plain + '2,"x\ny"\n' * quoted)
    frame = read_table(path)
    assert frame.n_rows == plain + quoted
    assert frame.columns[1][plain - 1] == "a" and frame.columns[1][plain] == frame.columns[1][-1] == "x\ny"
    assert read_table(write(tmp_path / "p.csv", "a,b\n" + "1,a\n" * plain)).n_rows == plain


def test_latin1_past_the_sample(tmp_path):
    path = write(tmp_path / "l.csv", ("a,b\n" + numbered()).encode() + "é,1\n".encode("latin-1"))
    frame = read_table(path)
    assert frame.columns[0][-1] == "é"
    assert any("is not valid UTF-8 (past its first 1 MiB); read it as Latin-1" in note for note in frame.notes)
    with pytest.raises(DataError, match=r"l\.csv is not valid UTF-8 \(past its first 1 MiB\); convert it to UTF-8"):
        list(iter_tables(path))


# ------------------------------------------------------------------ lines, headers, sources


def test_lines_count_quoted_newlines_blank_lines_and_a_multiline_header(tmp_path):
    path = write(tmp_path / "h.csv", '\n  \n"first\nname",b\n1,"x\ny"\n\n2,z\n')
    frame = read_table(path)
    assert frame.names == ["first\nname", "b"]
    assert frame.lines.tolist() == [6, 8]
    assert frame.where(1) == "row 1 (line 8)"
    assert frame.take(np.array([1, 0])).lines.tolist() == [8, 6]  # rows taken out of order keep their lines


def test_utf16_with_a_byte_order_mark_reads_numbers(tmp_path):
    path = write(tmp_path / "u.csv", "\ufeffa,b\n1,x\n2.5,y\n", encoding="utf-16-le")
    frame = read_table(path)
    assert frame.columns[0].tolist() == [1.0, 2.5] and frame.columns[1].tolist() == ["x", "y"]
    assert frame.lines.tolist() == [2, 3]


def test_standard_input_read_whole_keeps_its_lines(tmp_path):
    frame = read_table("-", stdin=io.BytesIO(codecs.BOM_UTF8 + b"a,b\n1,x\n\n2,y\n"))
    assert frame.source == "<stdin>" and frame.names == ["a", "b"]
    assert frame.columns[0].tolist() == [1.0, 2.0] and frame.where(1) == "row 1 (line 4)"


def test_standard_input_streamed_is_read_once_as_text_and_converted(tmp_path):
    data = ("a,b\n" + numbered() + "x,1\n").encode()
    chunks = list(iter_tables("-", chunk_rows=60_000, stdin=io.BytesIO(data)))
    assert [c.n_rows for c in chunks] == [60_000, 60_000, 30_001]
    assert [c.columns[0].dtype for c in chunks] == [np.float64, np.float64, object]
    assert chunks[1].columns[0][0] == 60_000.0 and chunks[2].columns[0][-1] == "x"
    assert chunks[2].where(0) == "row 120000"  # a stream read once has no lines to give


def test_a_wide_file_comes_in_fewer_rows_a_chunk(tmp_path):
    names = ",".join(f"c{j}" for j in range(3000))
    row = ",".join(["word"] * 3000)
    path = write(tmp_path / "w.csv", names + "\n" + "".join(f"{row}\n" for _ in range(400)))
    chunks = list(iter_tables(path))  # 3,000 text cells a row: 216 kB, 310 rows to the 64 MiB chunk
    assert [c.n_rows for c in chunks] == [310, 90]
    assert [c.offset for c in chunks] == [0, 310]


def test_header_only_and_empty_files(tmp_path):
    frame = read_table(write(tmp_path / "h.csv", "a,b\n\n  \n"))
    assert frame.names == ["a", "b"] and frame.n_rows == 0 and frame.lines.tolist() == []
    assert [c.n_rows for c in iter_tables(str(tmp_path / "h.csv"))] == [0]
    with pytest.raises(DataError, match=re.escape("e.csv is empty: no header and no rows")):
        read_table(write(tmp_path / "e.csv", " \n\t\n"))


def test_standard_input_streamed_whole_in_its_sample_names_rows_and_lines():
    chunks = list(iter_tables("-", stdin=io.BytesIO(b"a,b\n1,2\n\n3,x\n")))
    assert chunks[0].where(1) == "row 1 (line 4)"
    with pytest.raises(DataError, match=r"<stdin>: row 1 \(line 3\) has 1 field, the header has 2"):
        list(iter_tables("-", stdin=io.BytesIO(b"a,b\n1,2\n3\n")))
