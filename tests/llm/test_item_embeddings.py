"""llm.embeddings: the artifact format, the cache (a second run computes nothing), atomic writes, and the
server source against the real embedded llama.cpp server (with and without embedding mode, and resuming
a killed run without asking the server again for the pieces it saved)."""

import json
import pathlib
import shutil

import numpy as np
import pytest

from engine.data.item_embeddings import read_item_embeddings, write_artifact
from llm import embeddings as emb
from llm.client import LLMClient
from llm.errors import LLMError
from llm.item_text import render_item_texts
from llm.server import LlamaCppServer

ROWS = [{}, {"id": "a", "title": "Heat"}, {"id": "b", "title": "Toy Story"}, {"id": "c", "title": ""}]
IDS = ["", "a", "b", "c"]


@pytest.fixture
def fake_model(monkeypatch):
    """A deterministic stand-in for the encoder that counts how many texts it was asked to embed."""
    calls = []

    def embed_texts(texts, spec, *, progress=True, resume_dir=None):
        calls.append(list(texts))
        return np.array([[len(t), 1.0, 0.0] for t in texts], np.float32)

    monkeypatch.setattr(emb, "model_id", lambda spec: "fake:1")
    monkeypatch.setattr(emb, "embed_texts", embed_texts)
    return calls


def test_artifact_format_and_cache(tmp_path, fake_model):
    texts = render_item_texts(ROWS, "{title}")
    spec = emb.EmbeddingSpec()
    directory = emb.build_item_embeddings("toy", texts, IDS, spec, tmp_path)
    table, meta = read_item_embeddings(directory)
    assert table.dtype == np.float32 and table.shape == (4, 3)
    np.testing.assert_array_equal(table[0], 0)
    np.testing.assert_array_equal(table[1:, 0], [4, 9, 6])  # "Heat", "Toy Story", fallback "item c"
    assert fake_model == [["Heat", "Toy Story", "item c"]]
    for key, value in {"dataset": "toy", "num_items": 3, "dim": 3, "source": "minilm", "model": "fake:1",
                       "template": "{title}", "num_fallback": 1, "text_sha256": texts.digest()}.items():
        assert meta[key] == value
    assert {"cache_key", "created", "seconds", "items_per_s"} <= meta.keys()
    rows = [json.loads(line) for line in (directory / "texts.jsonl").read_text().splitlines()]
    assert rows[2] == {"item": 3, "id": "c", "text": "item c", "fallback": True}

    assert emb.build_item_embeddings("toy", texts, IDS, spec, tmp_path) == directory
    assert len(fake_model) == 1  # the second run computed nothing
    other = emb.build_item_embeddings("toy", render_item_texts(ROWS, "Movie: {title}"), IDS, spec, tmp_path)
    assert other != directory and len(fake_model) == 2  # a new template is a new key


def test_the_pieces_of_an_interrupted_run_go_once_the_artifact_is_written(tmp_path, fake_model):
    texts = render_item_texts(ROWS, "{title}")
    first = emb.build_item_embeddings("toy", texts, IDS, emb.EmbeddingSpec(), tmp_path)
    assert not read_item_embeddings(first)[1]["resumed"]
    assert [p.name for p in tmp_path.iterdir()] == [first.name]  # no .partial left beside it
    shutil.rmtree(first)
    (tmp_path / f"{first.name}.partial").mkdir()  # a killed run's pieces
    again = emb.build_item_embeddings("toy", texts, IDS, emb.EmbeddingSpec(), tmp_path)
    assert again == first and read_item_embeddings(again)[1]["resumed"]
    assert [p.name for p in tmp_path.iterdir()] == [first.name]


def test_a_failed_write_leaves_nothing_behind(tmp_path, fake_model, monkeypatch):
    def broken_save(path, array):
        pathlib.Path(path).write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(emb.np, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        emb.build_item_embeddings("toy", render_item_texts(ROWS, "{title}"), IDS, emb.EmbeddingSpec(), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_bad_spec_and_corrupt_artifact(tmp_path):
    with pytest.raises(ValueError, match="embed.source must be one of minilm, server"):
        emb.EmbeddingSpec(source="openai")
    write_artifact(tmp_path / "x", np.ones((3, 2), np.float32), {"num_items": 2, "dim": 2})
    with pytest.raises(ValueError, match="zero padding row"):
        read_item_embeddings(tmp_path / "x")
    write_artifact(tmp_path / "y", np.zeros((3, 2), np.float32), {"num_items": 3, "dim": 2})
    with pytest.raises(ValueError, match=r"y/item_embeddings.npy: shape \(3, 2\), but .*y/meta.json says \(4, 2\)"):
        read_item_embeddings(tmp_path / "y")


@pytest.fixture(scope="module")
def embedding_server(llama_server):  # llama_server: skips (or fails) when the LLM packages are missing
    with LlamaCppServer(n_ctx=1024, embedding=True) as server:
        yield server


def test_server_source_with_the_embedded_llama_cpp_server(tmp_path, embedding_server):
    texts = render_item_texts(ROWS, "{title}")
    spec = emb.EmbeddingSpec(source="server", server_url=embedding_server.url, batch_size=2)
    table, meta = read_item_embeddings(emb.build_item_embeddings("toy", texts, IDS, spec, tmp_path,
                                                                      progress=False))
    assert table.shape == (4, 576) and meta["model"] == "server:smollm2-135m-instruct"
    np.testing.assert_allclose(np.linalg.norm(table[1:], axis=1), 1.0, atol=1e-5)
    assert np.all(table[0] == 0) and not np.allclose(table[1], table[2])
    assert not list(tmp_path.glob("*.partial"))  # its pieces (one per round of requests) went with success


class Killed(Exception):
    """Stands in for a kill between two rounds of requests."""


def test_a_killed_server_embedding_resumes_without_asking_again(tmp_path, embedding_server, monkeypatch):
    texts = [f"item {i}: a short product title" for i in range(20)]
    spec = emb.EmbeddingSpec(source="server", server_url=embedding_server.url, batch_size=1)
    rounds = 8  # batch_size 1 x the client's 8 concurrent requests: pieces of 8, 8 and 4 texts
    whole = emb.embed_texts(texts, spec, progress=False)  # uninterrupted, no pieces
    pieces, asked, kill_on_call, real_embed = tmp_path / "pieces", [], [2], LLMClient.embed

    def counted_embed(self, inputs, **kwargs):  # the real request, counted; killed on call number kill_on_call
        asked.append(len(inputs))
        if len(asked) in kill_on_call:
            raise Killed
        return real_embed(self, inputs, **kwargs)

    monkeypatch.setattr(LLMClient, "embed", counted_embed)
    with pytest.raises(Killed):
        emb.embed_texts(texts, spec, progress=False, resume_dir=pieces)
    assert asked == [rounds, rounds] and len(list(pieces.glob("piece-*.npy"))) == 1

    asked.clear()
    kill_on_call.clear()
    resumed = emb.embed_texts(texts, spec, progress=False, resume_dir=pieces)
    assert asked == [rounds, 4]  # the saved first piece is not asked for again
    np.testing.assert_allclose(resumed, whole, atol=1e-5)


def test_a_server_without_embeddings_gives_a_clear_error(tmp_path, llama_server):
    spec = emb.EmbeddingSpec(source="server", server_url=llama_server.url)
    with pytest.raises(LLMError, match=r"did not answer /v1/embeddings.*is it serving embeddings"):
        emb.build_item_embeddings("toy", render_item_texts(ROWS, "{title}"), IDS, spec, tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []
