"""Malformed tables that used to be read silently as something else (issue 41): each is one DataError line
naming file:line. Duplicate header columns, NUL bytes, and an unbalanced quote reported where it opened."""

import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine.data import readers
from engine.data.errors import DataError


def _rows(n: int) -> str:
    return "".join(f"{u},{u * 3},{1000 + u}\n" for u in range(1, n + 1))


def _read(path):
    return readers.read_table(path, user_col="user", item_col="item", time_col="timestamp")


def test_duplicate_header_column(write):
    path = write("log.csv", "user,item,user,timestamp\n1,2,3,4\n")
    with pytest.raises(DataError) as e:
        _read(path)
    assert str(e.value) == f"{path}:1: column 'user' appears twice in the header (fields 1 and 3)"


def test_duplicate_header_column_in_item_tsv(write):
    path = write("items.tsv", "item_id\tasin\ttitle\tattributes\ttitle\n1\ta\tt\tx\tt\n")
    with pytest.raises(DataError) as e:
        readers.read_beauty_items(path)
    assert str(e.value) == f"{path}:1: column 'title' appears twice in the header (fields 3 and 5)"


def test_duplicate_parquet_column(tmp_path):
    path = tmp_path / "log.parquet"
    pq.write_table(pa.Table.from_arrays([pa.array(["1"]), pa.array(["2"]), pa.array(["3"])],
                                        names=["user", "item", "item"]), path)
    with pytest.raises(DataError) as e:
        readers.read_table(path, user_col="user", item_col="item")
    assert str(e.value) == f"{path}: column 'item' appears twice in the header (fields 2 and 3)"


@pytest.mark.parametrize("name", ["log.csv", "log.csv.gz"])
def test_nul_byte_in_a_field(write, name):
    path = write(name, "user,item,timestamp\n" + _rows(3) + "4,1\x002,1004\n")
    with pytest.raises(DataError) as e:
        _read(path)
    assert str(e.value) == f"{path}:5: NUL byte in the text; the file is binary or corrupt"


def test_nul_byte_in_movielens_and_sasrec_files(write):
    path = write("ratings.dat", "1::2::3::4\n1::3\x00::3::5\n")
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}:2: NUL byte"):
        readers.read_movielens_ratings(path)
    path = write("seq.txt", "1 2 3\n2 4\x00 5\n")
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}:2: NUL byte"):
        readers.read_sasrec_sequences(path)


def test_nul_byte_in_parquet(tmp_path):
    path = tmp_path / "log.parquet"
    pq.write_table(pa.table({"user": ["1", "2"], "item": ["5", "6\x00"]}), path)
    with pytest.raises(DataError) as e:
        readers.read_table(path, user_col="user", item_col="item")
    assert str(e.value) == f"{path}: row 2: column 'item' holds a NUL byte; the file is corrupt"


def test_unbalanced_quote_reported_where_it_opened(write):
    # The quote on line 61 is never closed: the parser swallows every later line into one field.
    lines = _rows(99).splitlines(keepends=True)
    lines[59] = '60,"180,1060\n'
    path = write("log.csv", "user,item,timestamp\n" + "".join(lines))
    with pytest.raises(DataError) as e:
        _read(path)
    assert str(e.value) == f"{path}:61: unbalanced quote: the quoted field opened on this line is not closed before line 100"


def test_unbalanced_quote_closed_by_a_later_quote(write):
    # Two stray quotes make a row of the right width whose item spans lines 3-5: still an error at line 3.
    path = write("log.csv", 'user,item,timestamp\n1,2,3\n2,"5,6\n3,7,8\n4,9",10\n5,1,2\n')
    with pytest.raises(DataError) as e:
        _read(path)
    assert str(e.value) == f"{path}:3: unbalanced quote: the quoted field opened on this line is not closed before line 5"


def test_unbalanced_quote_past_the_field_size_limit(write):
    lines = _rows(20_000).splitlines(keepends=True)
    lines[60] = '61,"183,1061\n'
    path = write("log.csv", "user,item,timestamp\n" + "".join(lines))
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}:62: unbalanced quote: .* not closed before line \d+$"):
        _read(path)


def test_multiline_quoted_text_is_still_allowed_in_item_text(write):
    path = write("items.csv", 'item,title,plot\n1,A,"two\nlines"\n2,B,one\n')
    assert readers.read_item_text(path, "item") == {"1": {"title": "A", "plot": "two\nlines"},
                                                   "2": {"title": "B", "plot": "one"}}


def test_rows_keep_their_line_numbers(write):
    path = write("log.csv", 'user,item,timestamp\n1,2,3\n\n2,3,x\n')
    with pytest.raises(DataError) as e:
        _read(path)
    assert str(e.value) == f"{path}:4: timestamp 'x' is neither integer seconds nor ISO-8601"
