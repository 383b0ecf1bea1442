"""Request building and answer parsing on hand-written server responses (both OpenAI logprob formats)."""

import json
import math

import pytest

from llm.calls import CHAT, COMPLETIONS, chat_request, completion_request, parse_answer
from llm.client import LLMClient, Usage, normalize_url, retry_request
from llm.errors import BadResponse


def test_chat_request_body():
    r = chat_request("hi", max_tokens=8, top_logprobs=3, json_schema={"type": "object"}, stop="\n", seed=1,
                     extra_body={"top_k": 5})
    assert r.endpoint == CHAT
    assert r.body["messages"] == [{"role": "user", "content": "hi"}]
    assert r.body["logprobs"] is True and r.body["top_logprobs"] == 3
    assert r.body["response_format"]["json_schema"]["schema"] == {"type": "object"}
    assert r.body["stop"] == ["\n"] and r.body["seed"] == 1 and r.body["top_k"] == 5
    assert chat_request("hi", regex=r"(Yes|No)").body["regex"] == "(Yes|No)"


@pytest.mark.parametrize("kwargs, message", [
    ({"messages": [{"role": "user"}]}, "message 0"),
    ({"messages": []}, "at least one message"),
    ({"messages": "hi", "max_tokens": 0}, "max_tokens"),
    ({"messages": "hi", "temperature": -1}, "temperature"),
    ({"messages": "hi", "json_schema": {"type": "object"}, "regex": "a"}, "not both"),
])
def test_bad_chat_requests_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        chat_request(**kwargs)


def test_dialects_spell_json_schema_differently_and_llama_cpp_refuses_regex():
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    r = chat_request("hi", json_schema=schema)
    openai = LLMClient("http://127.0.0.1:1/v1/", "m")._wire_body(r, "m")
    assert openai["response_format"]["type"] == "json_schema" and openai["model"] == "m"
    llama = LLMClient("http://127.0.0.1:1", "m", dialect="llama_cpp")._wire_body(r, "m")
    assert llama["response_format"] == {"type": "json_object", "schema": schema}
    with pytest.raises(ValueError, match=r"127\.0\.0\.1:1/v1/chat/completions.*regex"):
        LLMClient("http://127.0.0.1:1", "m", dialect="llama_cpp")._wire_body(chat_request("hi", regex="a"), "m")


def test_url_normalisation():
    assert normalize_url("http://h:1/v1/") == "http://h:1"
    with pytest.raises(ValueError, match="'h:1'"):
        normalize_url("h:1")


def test_parse_chat_logprobs():
    response = {"choices": [{"message": {"content": "Yes"}, "finish_reason": "stop", "logprobs": {"content": [
        {"token": "Yes", "logprob": -0.1, "top_logprobs": [{"token": "Yes", "logprob": -0.1},
                                                           {"token": "No", "logprob": -2.4}]}]}}],
                "usage": {"prompt_tokens": 7, "completion_tokens": 1}}
    a = parse_answer(CHAT, response, False, "src")
    assert a.text == "Yes" and a.prompt_tokens == 7 and a.completion_tokens == 1
    assert a.logprobs[0].top == {"Yes": -0.1, "No": -2.4}


def test_parse_completion_logprobs():
    response = {"choices": [{"text": " No", "finish_reason": "length", "logprobs": {
        "tokens": [" No"], "token_logprobs": [None], "top_logprobs": [{" No": -0.3, " Yes": -1.5}]}}]}
    a = parse_answer(COMPLETIONS, response, True, "src")
    assert a.cached and a.text == " No" and math.isnan(a.logprobs[0].logprob)
    assert a.logprobs[0].top[" Yes"] == -1.5


def test_malformed_response_and_bad_json_name_the_source():
    with pytest.raises(BadResponse, match="http://x/v1/chat/completions"):
        parse_answer(CHAT, {"error": "boom"}, False, "http://x/v1/chat/completions: req")
    a = parse_answer(COMPLETIONS, {"choices": [{"text": '{"a": ', "finish_reason": "length"}]}, False, "SRC")
    with pytest.raises(BadResponse, match=r"SRC: answer is not valid JSON \(cut off by max_tokens\)"):
        a.json()


def test_completion_request():
    r = completion_request("Q: 2+2=\nA:", max_tokens=4, top_logprobs=2)
    assert r.endpoint == COMPLETIONS and r.body["logprobs"] == 2
    with pytest.raises(ValueError, match="prompt"):
        completion_request("")


def test_backoff_grows_exponentially_with_jitter_and_honours_retry_after():
    client = LLMClient("http://127.0.0.1:1", "m", backoff=1.0, max_backoff=8.0)
    for attempt, step in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (6, 8.0)]:
        delays = [client._delay(attempt, None) for _ in range(200)]
        assert all(step / 2 <= d <= step for d in delays)
        assert max(delays) - min(delays) > step / 10  # jittered, not a fixed sleep
    assert client._delay(1, 5.0) >= 5.0 and client._delay(1, 100.0) <= 8.0


def test_usage_difference_gives_one_stage_cost():
    client = LLMClient("http://127.0.0.1:1", "m")
    before = client.usage.copy()
    client.usage.calls += 3
    client.usage.prompt_tokens += 40
    stage = client.usage - before
    assert (stage.calls, stage.prompt_tokens, stage.retries) == (3, 40, 0)


def test_completion_json_schema_per_dialect():
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    r = completion_request("x", json_schema=schema, attempt=1)
    assert r.attempt == 1 and json.loads(r.body["json_schema"]) == schema  # SGLang's extra field, a JSON string
    openai = LLMClient("http://127.0.0.1:1", "m")._wire_body(r, "m")
    assert "grammar" not in openai and openai["json_schema"] == r.body["json_schema"]
    pytest.importorskip("llama_cpp")
    llama = LLMClient("http://127.0.0.1:1", "m", dialect="llama_cpp")._wire_body(r, "m")
    assert "json_schema" not in llama and "root ::=" in llama["grammar"]


def test_retry_request_samples_a_greedy_prompt_and_grows_a_cut_off_one():
    r = chat_request("hi", max_tokens=10)
    again = retry_request(r, 2, temperature=0.5, grow=2.0)
    assert again.attempt == 2 and again.body["temperature"] == 0.5 and again.body["seed"] == 2
    assert again.body["max_tokens"] == 20 and r.body["max_tokens"] == 10 and r.attempt == 0
    sampled = retry_request(chat_request("hi", temperature=0.9, seed=7), 1)
    assert sampled.body["temperature"] == 0.9 and sampled.body["seed"] == 8


def test_usage_subtracts_failures_and_writes_json(tmp_path):
    before = Usage(calls=1, failures={"gave_up": 1})
    after = Usage(calls=5, prompt_tokens=9, failures={"gave_up": 3, "invalid_answer": 2})
    used = after - before
    assert used.calls == 4 and used.failures == {"gave_up": 2, "invalid_answer": 2}
    used.write(tmp_path / "cost.json")
    assert json.loads((tmp_path / "cost.json").read_text())["failures"] == {"gave_up": 2, "invalid_answer": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["cost.json"]


def test_completion_logprobs_in_llama_server_chat_format_and_missing_ones_are_an_error():
    content = {"content": [{"token": " Paris", "logprob": -0.26, "top_logprobs": [
        {"token": " Paris", "logprob": -0.26}, {"token": " the", "logprob": -2.8}]}]}
    response = {"choices": [{"text": " Paris", "finish_reason": "length", "logprobs": content}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 1}}
    a = parse_answer(COMPLETIONS, response, False, "src", asked_logprobs=True)
    assert a.logprobs[0].token == " Paris" and a.logprobs[0].top == {" Paris": -0.26, " the": -2.8}
    bare = {"choices": [{"text": " Paris", "finish_reason": "length"}], "usage": {}}
    assert parse_answer(COMPLETIONS, bare, False, "src").logprobs is None
    with pytest.raises(BadResponse, match="src: .*log-probabilities were asked for"):
        parse_answer(COMPLETIONS, bare, False, "src", asked_logprobs=True)
