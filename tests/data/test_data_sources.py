"""load_dataset and resolve_data_root on small files: named layouts, custom tables, the cache."""

import json

import pytest

from engine.data import readers, sources
from engine.data.errors import DataError
from engine.data.sources import load_dataset, resolve_data_root


@pytest.fixture
def custom(write, make_config):
    """A small custom CSV with ISO timestamps, ratings and an item-text JSONL file."""
    path = write("log.csv", "user,item,timestamp,rating\n"
                            "bob,dune,2021-03-01T10:00:00,5\n"
                            "alice,heat,2021-01-01,4\n"
                            "alice,dune,2020-12-31T23:59:59Z,2\n"
                            "bob,heat,2021-02-01,3\n")
    text = write("items.jsonl", '{"item": "dune", "title": "Dune"}\n{"item": "heat", "title": "Heat"}\n')
    return make_config(name="custom", path=str(path), item_text_path=str(text), rating_col="rating")


def test_custom_end_to_end(custom):
    d = load_dataset(custom)
    assert d.user_ids.tolist() == ["alice", "bob"] and d.item_ids.tolist() == ["", "dune", "heat"]
    assert d.sequence(0).tolist() == [1, 2] and d.sequence(1).tolist() == [2, 1]  # chronological per user
    assert d.timestamps.tolist() == [1609459199, 1609459200, 1612137600, 1614592800]
    assert d.item_text()[1:] == [{"id": "dune", "title": "Dune"}, {"id": "heat", "title": "Heat"}]
    assert d.path.parent.name == "cache" and d.path.name.startswith("custom-") and len(d.path.name) == 19
    roles = {s["role"]: s for s in d.meta["sources"]}
    assert set(roles) == {"interactions", "item_text"} and len(roles["interactions"]["sha256"]) == 64
    assert d.meta["options"]["rating_col"] == "rating" and d.meta["text_fields"] == ["title"]


def test_custom_filters(custom):
    custom.min_rating = 3
    d = load_dataset(custom)
    assert d.num_interactions == 3 and d.meta["stats"]["after_min_rating"] == 3


def test_second_load_reuses_the_cache(custom, monkeypatch):
    first = load_dataset(custom)

    def no_parsing(*args, **kwargs):
        raise AssertionError("the cached dataset should have been reused")

    monkeypatch.setattr(readers, "read_table", no_parsing)
    monkeypatch.setattr(readers, "read_item_text", no_parsing)
    second = load_dataset(custom)
    assert second.path == first.path and second.items.tolist() == first.items.tolist()
    custom.user_core = 2  # a different option is a different cache entry, so it must parse again
    with pytest.raises(AssertionError, match="should have been reused"):
        load_dataset(custom)


def test_changed_source_file_gets_a_new_cache_entry(custom):
    first = load_dataset(custom)
    with open(custom.path, "a") as f:
        f.write("carol,dune,2021-05-01,5\n")
    second = load_dataset(custom)
    assert second.path != first.path and second.num_users == 3


def test_corrupt_cache_entry_is_rebuilt(custom):
    first = load_dataset(custom)
    (first.path / "sequences.npz").write_bytes(b"not a zip")
    assert load_dataset(custom).items.tolist() == first.items.tolist()


def test_custom_without_ratings_or_time_column(write, make_config):
    path = write("log.tsv", "u\ti\n1\t5\n1\t3\n2\t5\n")
    d = load_dataset(make_config(path=str(path), user_col="u", item_col="i", time_col="", min_rating=4))
    assert d.timestamps is None and d.sequence(0).tolist() == [2, 1] and "ignored" in d.meta["notes"][0]


def test_custom_errors(write, make_config, tmp_path):
    with pytest.raises(DataError, match=r"needs `path`"):
        load_dataset(make_config(path=""))
    with pytest.raises(DataError, match=rf"{tmp_path / 'missing.csv'}: file not found"):
        load_dataset(make_config(path=str(tmp_path / "missing.csv")))
    path = write("log.csv", "user,item\nu,i\n")
    with pytest.raises(DataError, match=rf"{path}: column 'timestamp' not found"):
        load_dataset(make_config(path=str(path)))
    with pytest.raises(DataError, match=r"dataset 'custom' is empty after filtering .*user_core=2"):
        load_dataset(make_config(path=str(path), time_col="", user_core=2))


def test_unknown_name_lists_known_names(make_config):
    with pytest.raises(DataError, match=r"unknown dataset 'ml-2m'; known datasets: ml-1m-sasrec, ml-1m, .*custom"):
        load_dataset(make_config(name="ml-2m"))


# --------------------------------------------------------------------------- named layouts on tiny files


def test_named_ml100k_from_a_small_root(write, make_config, tmp_path):
    write("root/ml-100k/u.data", "2\t20\t5\t10\n1\t10\t3\t30\n1\t20\t4\t20\n")
    write("root/ml-100k/u.item", "10|Heat (1995)|x||u|1\n20|Up (2009)|x||u|0\n", encoding="latin-1")
    write("root/ml-100k/u.genre", "Action|0\n")
    d = load_dataset(make_config(name="ml-100k", root=str(tmp_path / "root"), min_rating=4))
    assert d.user_ids.tolist() == ["1", "2"] and d.item_ids.tolist() == ["", "20"]
    assert d.item_text()[1] == {"id": "20", "title": "Up", "year": "2009", "genres": "", "release_date": "x",
                                "imdb_url": "u"}


def test_named_ml1m_sasrec_maps_text_through_movie_ids(write, make_config, tmp_path):
    write("root/ml-1m/ml-1m_sasrec.txt.gz", "1 1\n1 2\n2 2\n2 1\n")
    write("root/ml-1m/sas_to_original_items.txt", "1 1198\n2 1\n")
    write("root/ml-1m/movies.dat", "1::Toy Story (1995)::Animation\n1198::Raiders (1981)::Action\n")
    d = load_dataset(make_config(name="ml-1m-sasrec", root=str(tmp_path / "root")))
    assert d.item_text()[1] == {"id": "1", "title": "Raiders", "year": "1981", "genres": "Action",
                                "movie_id": "1198"}
    assert [s["role"] for s in d.meta["sources"]] == ["sequences", "item_map", "movies"]  # extras optional


def test_named_dataset_missing_file_names_the_root(write, make_config, tmp_path):
    write("root/ml-1m/movies.dat", "1::Toy Story (1995)::Animation\n")
    with pytest.raises(DataError, match=rf"'ml-1m': ratings.dat or ratings.dat.gz not found in "
                                        rf"{tmp_path / 'root' / 'ml-1m'} \(data root {tmp_path / 'root'}, "
                                        r"from the config's `root`\); download it"):
        load_dataset(make_config(name="ml-1m", root=str(tmp_path / "root")))


# --------------------------------------------------------------------------- data root


def test_resolve_data_root_order(tmp_path, monkeypatch):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir(), (tmp_path / "c").mkdir()
    monkeypatch.setattr(sources, "DEFAULT_DATA_ROOT", tmp_path / "c")
    monkeypatch.setenv("SEQREC_DATA", str(tmp_path / "b"))
    assert resolve_data_root(str(tmp_path / "a")) == tmp_path / "a"
    assert resolve_data_root("") == tmp_path / "b"
    monkeypatch.delenv("SEQREC_DATA")
    assert resolve_data_root() == tmp_path / "c"


def test_resolve_data_root_errors(tmp_path, monkeypatch):
    monkeypatch.delenv("SEQREC_DATA", raising=False)
    monkeypatch.setattr(sources, "DEFAULT_DATA_ROOT", tmp_path / "absent")
    with pytest.raises(DataError, match=r"no data root: set the config's `root`, or .*SEQREC_DATA, or put"):
        resolve_data_root()
    with pytest.raises(DataError, match=rf"data root {tmp_path / 'x'} \(from the config's `root`\) does not exist"):
        resolve_data_root(str(tmp_path / "x"))
    monkeypatch.setenv("SEQREC_DATA", str(tmp_path / "y"))
    with pytest.raises(DataError, match=r"from \$SEQREC_DATA"):
        resolve_data_root()


def test_default_data_root_is_beside_the_checkout():
    assert sources.DEFAULT_DATA_ROOT == sources.REPO_ROOT.parent / "shared" / "data"
    assert (sources.REPO_ROOT / "engine" / "data" / "sources.py").is_file()


def test_cache_dir_order(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQREC_CACHE", str(tmp_path / "env"))
    assert sources.cache_dir(str(tmp_path / "cfg")) == tmp_path / "cfg"
    assert sources.cache_dir("") == tmp_path / "env"
    monkeypatch.delenv("SEQREC_CACHE")
    assert sources.cache_dir("") == sources.REPO_ROOT / ".cache" / "datasets"


def test_meta_json_is_plain_json(custom):
    d = load_dataset(custom)
    meta = json.loads((d.path / "meta.json").read_text())
    assert meta == d.meta and meta["name"] == "custom" and meta["num_interactions"] == 4
