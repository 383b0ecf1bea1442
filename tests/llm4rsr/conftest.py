"""A small real-text dataset (12 movies in three clusters, 40 users) and the shared llama.cpp server."""

import json

import numpy as np
import pytest

from tests.llm.conftest import client, endpoint, llama_server  # noqa: F401  (the session's real server)

MOVIES = [
    ("Toy Story", 1995, "Animation|Children's|Comedy"), ("The Lion King", 1994, "Animation|Children's|Musical"),
    ("Aladdin", 1992, "Animation|Children's|Comedy"), ("Babe", 1995, "Children's|Comedy|Drama"),
    ("Heat", 1995, "Action|Crime|Thriller"), ("Casino", 1995, "Drama|Thriller"),
    ("GoldenEye", 1995, "Action|Adventure|Thriller"), ("Die Hard", 1988, "Action|Thriller"),
    ("Star Wars", 1977, "Action|Adventure|Sci-Fi"), ("Alien", 1979, "Action|Horror|Sci-Fi"),
    ("Blade Runner", 1982, "Film-Noir|Sci-Fi"), ("The Terminator", 1984, "Action|Sci-Fi|Thriller"),
]


def write_dataset(folder, num_users: int = 40, seed: int = 0):
    """Users stay within one cluster of four movies but for rare jumps: frequent pairs, and pairs never seen."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(num_users):
        cluster = u % 3
        length = int(rng.integers(6, 14))
        for t in range(length):
            c = cluster if rng.random() < 0.95 else int(rng.integers(0, 3))
            rows.append(f"u{u},m{4 * c + int(rng.integers(0, 4))},{1000 * u + t}")
    events = folder / "events.csv"
    events.write_text("user,item,timestamp\n" + "\n".join(rows) + "\n")
    items = folder / "items.jsonl"
    items.write_text("".join(json.dumps({"item": f"m{i}", "title": t, "year": str(y), "genres": g.replace("|", ", ")})
                             + "\n" for i, (t, y, g) in enumerate(MOVIES)))
    return events, items


@pytest.fixture
def small_config(tmp_path):
    from configs.llm4rsr import get_config

    events, items = write_dataset(tmp_path)
    config = get_config("tiny")
    config.data.name, config.data.path, config.data.item_text_path = "custom", str(events), str(items)
    config.data.cache_dir = str(tmp_path / "cache")
    config.item_type = "movie"
    return config


def use_server(config, endpoint):  # noqa: F811
    config.llm.url, config.llm.model, config.llm.dialect = endpoint.url, endpoint.model, endpoint.dialect
    config.llm.max_concurrency = 2
    return config
