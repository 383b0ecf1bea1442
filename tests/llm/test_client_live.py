"""The client against the real embedded llama.cpp server: text, JSON-schema output, logprobs, cache, batches."""

import math

from llm.cache import AnswerCache
from llm.calls import chat_request, completion_request
from llm.errors import RequestFailed

SCHEMA = {
    "type": "object",
    "properties": {"genre": {"enum": ["comedy", "drama", "horror"]}, "year": {"type": "integer"},
                   "liked": {"type": "boolean"}},
    "required": ["genre", "year", "liked"],
    "additionalProperties": False,
}


def test_chat_returns_text_and_counts_tokens(client):
    answer = client.chat("Name one colour of the rainbow. Answer with one word.", max_tokens=16)
    assert answer.text.strip() and not answer.cached
    assert answer.prompt_tokens > 0 and 0 < answer.completion_tokens <= 16
    assert answer.finish_reason in ("stop", "length")
    u = client.usage
    assert (u.requests, u.calls, u.retries, u.cache_hits) == (1, 1, 0, 0)
    assert u.completion_tokens == answer.completion_tokens and u.seconds > 0


def test_json_schema_output_parses_and_matches_the_schema(client):
    answer = client.chat("Describe the movie Airplane! as JSON with its genre, release year and whether "
                         "audiences liked it.", max_tokens=48, json_schema=SCHEMA)
    value = answer.json()
    assert set(value) == {"genre", "year", "liked"}
    assert value["genre"] in SCHEMA["properties"]["genre"]["enum"]
    assert isinstance(value["year"], int) and isinstance(value["liked"], bool)


def test_chat_logprobs_are_consistent_with_greedy_decoding(client):
    answer = client.chat("Is the sky blue? Answer Yes or No.", max_tokens=4, top_logprobs=3)
    assert answer.logprobs and len(answer.logprobs) == answer.completion_tokens
    for position in answer.logprobs:
        assert position.logprob <= 0 and 1 <= len(position.top) <= 3
        # temperature 0 picks the most likely token, so the chosen one is the best of the alternatives
        assert math.isclose(position.logprob, max(position.top.values()), abs_tol=1e-4)
        assert position.token in position.top


def test_completion_logprobs(client):
    answer = client.complete("The capital of France is", max_tokens=3, top_logprobs=2)
    assert answer.text and len(answer.logprobs) == answer.completion_tokens
    assert all(1 <= len(p.top) <= 2 for p in answer.logprobs)


def test_second_run_is_answered_from_the_cache_with_zero_calls(endpoint, tmp_path):
    requests = [chat_request(f"Say the number {i}.", max_tokens=8) for i in range(3)]
    first = endpoint.client(cache=AnswerCache.in_run_dir(tmp_path))
    texts = [a.text for a in first.run(requests)]
    assert first.usage.calls == 3 and first.usage.cache_hits == 0
    first.cache.close()

    again = endpoint.client(cache=AnswerCache.in_run_dir(tmp_path))
    answers = again.run(requests)
    assert again.usage.calls == 0 and again.usage.cache_hits == 3
    assert [a.text for a in answers] == texts and all(a.cached for a in answers)


def test_identical_requests_in_one_batch_share_one_call(client):
    request = chat_request("Say hello.", max_tokens=6)
    a, b = client.run([request, request])
    assert client.usage.calls == 1 and a.text == b.text and b.cached


def test_sampled_requests_are_cached_only_under_a_sample_index(endpoint, tmp_path):
    cache = AnswerCache(tmp_path / "c.jsonl")
    client = endpoint.client(cache=cache)
    unnamed = chat_request("Invent a word.", max_tokens=6, temperature=0.9)
    client.run([unnamed, unnamed])
    assert client.usage.calls == 2 and len(cache) == 0  # two independent draws, neither cached

    draws = [chat_request("Invent a word.", max_tokens=6, temperature=0.9, sample_index=i) for i in range(2)]
    first = client.run(draws)
    assert client.usage.calls == 4 and len(cache) == 2
    replay = client.run(draws)
    assert client.usage.calls == 4 and [a.text for a in replay] == [a.text for a in first]


def test_batch_failures_can_be_returned_in_place(client):
    ok = completion_request("One, two,", max_tokens=3)
    too_long = completion_request("word " * 3000, max_tokens=3)  # beyond n_ctx: the server rejects it
    answers = client.run([ok, too_long], return_exceptions=True)
    assert answers[0].text
    assert isinstance(answers[1], RequestFailed) and answers[1].status == 400
    assert f"{client.base_url}/v1/completions rejected" in str(answers[1]) and "context_length_exceeded" in str(answers[1])
