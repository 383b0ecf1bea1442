"""The real datasets in ../shared/data give the published counts (skipped only when the data is absent)."""

import ml_collections
import numpy as np
import pytest

from engine.data import load_dataset


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")  # shared by this module's tests, so each dataset is parsed once


@pytest.fixture
def load(shared_data, cache):
    def _load(name, **options):
        cfg = ml_collections.ConfigDict({"name": name, "root": str(shared_data), "cache_dir": str(cache),
                                         "min_rating": 0.0, "user_core": 0, "item_core": 0, "dedup": False})
        cfg.update(options)
        return load_dataset(cfg)

    return _load


@pytest.mark.parametrize("name, users, items, interactions", [
    ("ml-1m-sasrec", 6_040, 3_416, 999_611),
    ("beauty", 22_363, 12_101, 198_502),
    ("ml-1m", 6_040, 3_706, 1_000_209),
    ("yelp", 30_431, 20_033, 316_354),
    ("ml-100k", 943, 1_682, 100_000),
    ("beauty-bert4rec", 40_226, 54_542, 353_962),
])
def test_published_counts(load, name, users, items, interactions):
    d = load(name)
    assert (d.num_users, d.num_items, d.num_interactions) == (users, items, interactions)
    assert len(d.item_text()) == items + 1


def test_ml1m_sasrec_keeps_its_ids_and_joins_movie_text(load):
    d = load("ml-1m-sasrec")
    assert d.item_ids[1:].tolist() == [str(k) for k in range(1, 3_417)]
    assert d.user_ids.tolist() == [str(k) for k in range(1, 6_041)]
    assert d.timestamps is None and d.sequence(0)[:3].tolist() == [1, 2, 3]  # user 1's line order
    raiders = d.item_text()[1]  # SASRec item 1 is MovieID 1198
    assert raiders["movie_id"] == "1198" and raiders["title"] == "Raiders of the Lost Ark"
    assert raiders["director"] == "Steven Spielberg" and raiders["year"] == "1981"


def test_ml1m_is_chronological_per_user(load):
    d = load("ml-1m")
    within_user = np.ones(d.num_interactions - 1, bool)
    within_user[d.offsets[1:-1] - 1] = False  # pairs that straddle two users
    assert (np.diff(d.timestamps)[within_user] >= 0).all()
    first = d.offsets[0]  # user 1's first rating in ratings.dat is 1::3186::4::978300019
    assert d.user_ids[0] == "1" and d.item_ids[d.items[first]] == "3186" and d.timestamps[first] == 978300019
    assert d.item_text()[1]["title"] == "Toy Story"


def test_beauty_and_yelp_text(load):
    beauty = load("beauty").item_text()[1]
    assert beauty == {"id": "1", "title": "OPI Nail Lacquer, Simmer and Shimmer, 0.5-Fluid Ounce", "brand": "OPI",
                      "categories": "Makeup, Nails, Nail Polish", "asin": "B004756YJA"}
    yelp = load("yelp").item_text()[1]
    assert yelp["name"] == "The Great Greek" and yelp["categories"].startswith("Diners")


def test_filters_on_real_data(load):
    d = load("ml-100k", min_rating=4, user_core=5, item_core=5, dedup=True)
    assert d.meta["stats"]["after_min_rating"] == 34_174 + 21_201  # SOURCE.md's counts of 4 and 5 stars
    assert np.diff(d.offsets).min() >= 5 and np.bincount(d.items)[1:].min() >= 5
    assert d.meta["stats"]["k_core_passes"] >= 2
