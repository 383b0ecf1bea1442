"""/v1/embeddings through the client, against an embedded server started with embedding=True."""

import numpy as np
import pytest

from llm.server import LlamaCppServer


@pytest.fixture(scope="module")
def embedding_server(llama_server):  # llama_server: for its skip/fail logic when the packages are missing
    with LlamaCppServer(n_ctx=512, embedding=True) as server:
        yield server


def test_embeddings_keep_order_across_chunks_and_are_deterministic(embedding_server):
    client = embedding_server.endpoint.client()
    texts = ["a funny comedy film", "a slow drama about grief", "a funny comedy film"]
    vectors = np.array(client.embed(texts, batch_size=2))
    assert vectors.shape == (3, 576)  # SmolLM2-135M's hidden size, one mean-pooled vector per text
    assert client.usage.calls == 2 and client.usage.cache_hits == 0
    np.testing.assert_allclose(vectors[0], vectors[2], atol=1e-5)
    assert not np.allclose(vectors[0], vectors[1], atol=1e-3)
    alone = np.array(client.embed([texts[1]]))
    np.testing.assert_allclose(alone[0], vectors[1], atol=1e-4)


def test_generation_still_works_on_an_embedding_server(embedding_server):
    answer = embedding_server.endpoint.client().chat("Say hi.", max_tokens=4)
    assert answer.text
