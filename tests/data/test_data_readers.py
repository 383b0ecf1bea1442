"""Every reader on small hand-made files, and every kind of bad input it must report with path:line."""

import sys

import numpy as np
import pytest

from engine.data import readers
from engine.data.errors import DataError

# --------------------------------------------------------------------------- MovieLens


@pytest.mark.parametrize("name", ["ratings.dat", "ratings.dat.gz"])
def test_ml1m_ratings_in_file_order(write, name):
    path = write(name, "2::10::5::300\n1::7::3::100\r\n1::3::4::100\n")
    raw = readers.read_movielens_ratings(path, "::")
    assert raw.users.tolist() == ["2", "1", "1"]
    assert raw.items.tolist() == ["10", "7", "3"]
    assert raw.timestamps.dtype == np.int64 and raw.timestamps.tolist() == [300, 100, 100]
    assert raw.ratings.dtype == np.float32 and raw.ratings.tolist() == [5, 3, 4]


def test_ml100k_ratings_are_tab_separated(write):
    raw = readers.read_movielens_ratings(write("u.data", "196\t242\t3\t881250949\n186\t302\t3\t891717742\n"), "\t")
    assert raw.users.tolist() == ["196", "186"] and raw.timestamps.tolist() == [881250949, 891717742]


def test_ml1m_movies_merged_with_extra_info(write):
    movies = write("movies.dat", "1::Toy Story (1995)::Animation|Comedy\n2::Café au lait (1993)::Comedy\n"
                                 "3::Untitled::Drama\n", encoding="latin-1")
    extra = write("extra.dat.gz", "1::Toy Story::1995::G::22 Nov 1995::Animation::John Lasseter::Writers A"
                                  "::Tom Hanks, Tim Allen::A boy's toys live.::http://poster\r\n"
                                  "2::Café::1993::N/A::x::y::N/A::N/A::N/A::N/A::N/A\r\n")
    text = readers.read_ml1m_movies(movies, extra)
    assert text["1"] == {"title": "Toy Story", "year": "1995", "genres": "Animation, Comedy",
                         "director": "John Lasseter", "writers": "Writers A", "actors": "Tom Hanks, Tim Allen",
                         "plot": "A boy's toys live.", "rated": "G"}
    assert text["2"]["title"] == "Café au lait" and text["2"]["plot"] == "" and text["2"]["rated"] == ""
    assert text["3"] == {"title": "Untitled", "year": "", "genres": "Drama"}  # no extra info for it
    assert readers.read_ml1m_movies(movies)["1"] == {"title": "Toy Story", "year": "1995", "genres": "Animation, Comedy"}


def test_ml100k_items_with_genre_names(write):
    genres = write("u.genre", "unknown|0\nAction|1\nComedy|2\n\n")
    items = write("u.item", "1|Toy Story (1995)|01-Jan-1995||http://imdb/1|0|0|1\n"
                            "2|Heat (1995)|01-Jan-1995||http://imdb/2|0|1|1\n")
    text = readers.read_ml100k_items(items, genres)
    assert text["1"] == {"title": "Toy Story", "year": "1995", "genres": "Comedy",
                         "release_date": "01-Jan-1995", "imdb_url": "http://imdb/1"}
    assert text["2"]["genres"] == "Action, Comedy"


# --------------------------------------------------------------------------- SASRec format


@pytest.mark.parametrize("name", ["seq.txt", "seq.txt.gz"])
def test_sasrec_one_user_per_line(write, name):
    raw = readers.read_sasrec_sequences(write(name, "1 5 3 5\n2 4\n"))
    assert raw.users.tolist() == ["1", "1", "1", "2"]
    assert raw.items.tolist() == ["5", "3", "5", "4"]
    assert raw.timestamps is None and raw.ratings is None


def test_sasrec_one_pair_per_line(write):
    raw = readers.read_sasrec_sequences(write("ml.txt", "1 1\n1 2\n\n2 3\r\n2 1\n"))
    assert raw.users.tolist() == ["1", "1", "2", "2"] and raw.items.tolist() == ["1", "2", "3", "1"]


def test_id_map(write):
    assert readers.read_id_map(write("map.txt", "1 1198\n2 3552\n")) == {"1": "1198", "2": "3552"}


def test_beauty_items_split_brand_from_categories(write):
    path = write("items.tsv", "item_id\tasin\ttitle\tattributes\n"
                              "1\tA1\tOPI Red\tOPI|Makeup|Nails\n"
                              "2\tA2\tCream \"Deluxe\"\tSkin Care|Face\n"
                              "3\tA3\tA serum\tUnknown|Skin Care|Face|Serums\n"
                              "4\tA4\tNo brand nail\tMakeup|Nails\n")
    text = readers.read_beauty_items(path)
    assert text["1"] == {"title": "OPI Red", "brand": "OPI", "categories": "Makeup, Nails", "asin": "A1"}
    assert text["2"] == {"title": 'Cream "Deluxe"', "brand": "", "categories": "Skin Care, Face", "asin": "A2"}
    assert text["3"]["brand"] == "" and text["3"]["categories"] == "Skin Care, Face, Serums"
    assert text["4"]["brand"] == "" and text["4"]["categories"] == "Makeup, Nails"


def test_yelp_items(write):
    path = write("items.tsv", "item_id\tbusiness_id\tname\tcategories\n1\tB1\tRudy's \"Store\"\tFood|Barbeque\n"
                              "2\tB2\tEmpty\t\n")
    text = readers.read_yelp_items(path)
    assert text["1"] == {"name": 'Rudy\'s "Store"', "categories": "Food, Barbeque", "business_id": "B1"}
    assert text["2"]["categories"] == ""


# --------------------------------------------------------------------------- a user's own tables


def test_csv_table_with_iso_and_integer_timestamps(write):
    path = write("log.csv", 'uid,iid,when,stars\nalice,"Book, The",2020-01-01T00:00:10Z,4.5\n'
                            "bob,x1,1577836800,3\nalice,x1,2020-01-01,1\n")
    raw = readers.read_table(path, user_col="uid", item_col="iid", time_col="when", rating_col="stars")
    assert raw.users.tolist() == ["alice", "bob", "alice"]
    assert raw.items.tolist() == ["Book, The", "x1", "x1"]
    assert raw.timestamps.tolist() == [1577836810, 1577836800, 1577836800]
    assert raw.ratings.tolist() == [4.5, 3.0, 1.0]


def test_tsv_gz_table_without_time_or_rating(write):
    raw = readers.read_table(write("log.tsv.gz", "user\titem\nu1\ti1\nu2\ti2\n"), user_col="user", item_col="item")
    assert raw.items.tolist() == ["i1", "i2"] and raw.timestamps is None and raw.ratings is None


def test_item_text_csv_and_jsonl(write):
    csv_text = readers.read_item_text(write("items.csv", 'item,title,genre\ni1,"Dune, Part One",SF\n'), "item")
    assert csv_text == {"i1": {"title": "Dune, Part One", "genre": "SF"}}
    jsonl = write("items.jsonl.gz", '{"item": 7, "title": "Heat", "tags": ["crime", "drama"], "year": 1995}\n\n')
    assert readers.read_item_text(jsonl, "item") == {"7": {"title": "Heat", "tags": "crime, drama", "year": "1995"}}


def test_parquet_table(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = tmp_path / "log.parquet"
    pq.write_table(pa.table({"user": [1, 2, 1], "item": ["a", "b", "c"],
                             "timestamp": pa.array([2_000, 1_000, 3_000], pa.timestamp("ms")),
                             "rating": [1.0, 2.5, 5.0]}), path)
    raw = readers.read_table(path, user_col="user", item_col="item", time_col="timestamp", rating_col="rating")
    assert raw.users.tolist() == ["1", "2", "1"] and raw.items.tolist() == ["a", "b", "c"]
    assert raw.timestamps.tolist() == [2, 1, 3] and raw.ratings.tolist() == [1.0, 2.5, 5.0]
    with pytest.raises(DataError, match=r"column 'time' not found"):
        readers.read_table(path, user_col="user", item_col="item", time_col="time")


def test_parquet_text_timestamps_nulls_and_item_text(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = tmp_path / "log.pq"
    pq.write_table(pa.table({"u": ["a", "b"], "i": [1, 2], "t": ["2020-01-01T00:00:01", "1577836800"]}), path)
    raw = readers.read_table(path, user_col="u", item_col="i", time_col="t")
    assert raw.timestamps.tolist() == [1577836801, 1577836800] and raw.items.tolist() == ["1", "2"]
    pq.write_table(pa.table({"u": ["a", None], "i": [1, 2]}), path)
    with pytest.raises(DataError, match=r"log\.pq: row 2: column 'u' is empty"):
        readers.read_table(path, user_col="u", item_col="i")
    pq.write_table(pa.table({"item": [5], "title": ["Five"], "tags": [["x", "y"]]}), tmp_path / "items.parquet")
    assert readers.read_item_text(tmp_path / "items.parquet", "item") == {"5": {"title": "Five", "tags": "x, y"}}


def test_parquet_without_pyarrow_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # makes `import pyarrow` raise ImportError
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(DataError, match=r"log\.parquet.*pip install pyarrow"):
        readers.read_table(tmp_path / "log.parquet", user_col="user", item_col="item")


# --------------------------------------------------------------------------- bad input


def test_wrong_field_count_names_the_line(write):
    path = write("ratings.dat", "1::2::3::4\n\n1::2::3\n")
    with pytest.raises(DataError, match=rf"^{path}:3: expected 4 fields .* got 3"):
        readers.read_movielens_ratings(path)


def test_wrong_field_count_in_gzipped_file(write):
    path = write("movies_extrainfos.dat.gz", "1::a::b\n")
    with pytest.raises(DataError, match=rf"^{path}:1: expected 11 fields"):
        readers.read_ml1m_movies(write("movies.dat", "1::A (1990)::Drama\n"), path)


@pytest.mark.parametrize("line, message", [
    ("1::x::3::4", "item id 'x' is not an integer"),
    ("u1::2::3::4", "user id 'u1' is not an integer"),
    ("1::2::3::4.5", "timestamp '4.5' is not an integer"),
    ("1::2::good::4", "rating 'good' is not a number"),
])
def test_bad_values_name_the_line(write, line, message):
    path = write("ratings.dat", f"1::2::3::4\n{line}\n")
    with pytest.raises(DataError, match=rf"^{path}:2: {message}"):
        readers.read_movielens_ratings(path)


def test_non_integer_sasrec_id(write):
    path = write("seq.txt", "1 2 3\n2 4 five 6\n")
    with pytest.raises(DataError, match=rf"^{path}:2: item id 'five' is not an integer"):
        readers.read_sasrec_sequences(path)


def test_sasrec_user_without_items(write):
    path = write("seq.txt", "1 2 3\n2\n")
    with pytest.raises(DataError, match=rf"^{path}:2: expected `user item"):
        readers.read_sasrec_sequences(path)


@pytest.mark.parametrize("name", ["ratings.dat", "ratings.dat.gz"])
def test_undecodable_bytes_name_the_line(write, name):
    path = write(name, b"1::2::3::4\n1::2::3::4\n1::\xff\xfe::3::4\n")
    with pytest.raises(DataError, match=rf"^{path}:3: bytes are not valid utf-8"):
        readers.read_movielens_ratings(path)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match=rf"{tmp_path / 'nope.dat'}: file not found"):
        readers.read_movielens_ratings(tmp_path / "nope.dat")


def test_not_gzip(write):
    path = write("x.txt", b"plain")
    path = path.rename(path.with_suffix(".gz"))
    with pytest.raises(DataError, match=rf"{path}: cannot read"):
        readers.read_sasrec_sequences(path)


def test_missing_column_in_custom_table(write):
    path = write("log.csv", "user,item\nu,i\n")
    with pytest.raises(DataError, match=rf"{path}: column 'timestamp' not found \(header: user, item\)"):
        readers.read_table(path, user_col="user", item_col="item", time_col="timestamp")


def test_missing_item_column_in_item_text(write):
    path = write("items.csv", "id,title\n1,a\n")
    with pytest.raises(DataError, match=rf"{path}: column 'item' not found"):
        readers.read_item_text(path, "item")


def test_custom_table_errors_name_the_line(write):
    path = write("log.csv", "user,item,timestamp\nu,i,1\nu,i\n")
    with pytest.raises(DataError, match=rf"^{path}:3: expected 3 fields, got 2"):
        readers.read_table(path, user_col="user", item_col="item", time_col="timestamp")
    path = write("log2.csv", "user,item,timestamp\nu,i,1\nu,j,yesterday\n")
    with pytest.raises(DataError, match=rf"^{path}:3: timestamp 'yesterday' is neither"):
        readers.read_table(path, user_col="user", item_col="item", time_col="timestamp")
    path = write("log3.csv", "user,item\nu,i\n ,j\n")
    with pytest.raises(DataError, match=rf"^{path}:3: column 'user' is empty"):
        readers.read_table(path, user_col="user", item_col="item")


def test_bad_jsonl_item_text(write):
    path = write("items.jsonl", '{"item": 1}\n{"item": 2,\n')
    with pytest.raises(DataError, match=rf"^{path}:2: not valid JSON"):
        readers.read_item_text(path, "item")


def test_unknown_table_extension(write):
    with pytest.raises(DataError, match=r"log\.xlsx: unknown table format"):
        readers.read_table(write("log.xlsx", "x"), user_col="user", item_col="item")


def test_empty_file(write):
    with pytest.raises(DataError, match=r"no ratings"):
        readers.read_movielens_ratings(write("ratings.dat", "\n"))
