"""Schema-constrained answers and re-asking unusable ones with distinct attempts, against the real server."""

import json

from llm.cache import AnswerCache
from llm.calls import chat_request, completion_request
from llm.errors import BadResponse
from tests.llm.test_client_live import SCHEMA


def test_schema_constrained_completion_parses(client):
    schema = {"type": "object", "properties": {"title": {"type": "string", "maxLength": 20},
                                               "year": {"type": "integer"}},
              "required": ["title", "year"], "additionalProperties": False}
    answer = client.run([completion_request("A movie from 1995 as JSON:", max_tokens=40, json_schema=schema)])[0]
    value = answer.json()
    assert set(value) == {"title", "year"} and isinstance(value["year"], int)


def test_cut_off_answer_is_kept_and_reasked_under_a_new_attempt(endpoint, tmp_path):
    # 4 tokens cannot hold the object, so attempt 0 is cut off (invalid JSON); the retry grows max_tokens.
    request = chat_request("Describe the movie Airplane! as JSON.", max_tokens=4, json_schema=SCHEMA)
    cache = AnswerCache.in_run_dir(tmp_path)
    client = endpoint.client(cache=cache)
    [value] = client.run_checked([request], lambda a: a.json(), max_attempts=3, grow_cut_off=8.0)
    assert set(value) == {"genre", "year", "liked"}
    assert client.usage.failures == {"invalid_answer": 1} and client.usage.calls == 2
    cache.close()
    lines = [json.loads(line) for line in (tmp_path / "llm_cache.jsonl").read_text().splitlines()]
    assert [line.get("attempt", 0) for line in lines] == [0, 1]  # the bad answer stays on record
    assert lines[0]["response"]["choices"][0]["finish_reason"] == "length"

    # A re-run replays both attempts from the cache and ends with the same value, asking nothing.
    again = endpoint.client(cache=AnswerCache.in_run_dir(tmp_path))
    assert again.run_checked([request], lambda a: a.json(), max_attempts=3, grow_cut_off=8.0) == [value]
    assert again.usage.calls == 0 and again.usage.cache_hits == 2


def test_prompts_that_never_pass_are_counted_not_dropped(client):
    def never(answer):
        raise ValueError("not the answer we want")

    ok, bad = client.run_checked([chat_request("Say yes.", max_tokens=3), chat_request("Say no.", max_tokens=3)],
                                 lambda a: a.text if "Say yes" in a.source else never(a), max_attempts=2,
                                 return_exceptions=True)
    assert isinstance(ok, str) and ok
    assert isinstance(bad, BadResponse) and "no usable answer in 2 attempt(s)" in str(bad)
    assert "attempt=1" in str(bad) and "not the answer we want" in str(bad)
    assert client.usage.failures == {"invalid_answer": 2, "gave_up": 1}
