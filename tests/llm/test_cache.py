"""The answer cache on its own: what makes two requests the same answer, and surviving a killed run."""

import hashlib
import json
import logging

import pytest

from llm.cache import AnswerCache, cache_key, is_cacheable
from llm.calls import CHAT, chat_request
from llm.errors import CacheError


def body(**params):
    return {"model": "m", **chat_request("Name a colour.", **params).body}


def test_key_changes_with_everything_that_changes_the_answer():
    base = cache_key(CHAT, body(max_tokens=16), None)
    assert cache_key(CHAT, body(max_tokens=16), None) == base
    assert cache_key(CHAT, {**body(max_tokens=16), "model": "other"}, None) != base
    assert cache_key(CHAT, body(max_tokens=17), None) != base
    assert cache_key(CHAT, body(max_tokens=16, top_logprobs=3), None) != base
    assert cache_key(CHAT, body(max_tokens=16, json_schema={"type": "object"}), None) != base
    assert cache_key("completions", body(max_tokens=16), None) != base
    # The timeout is transport, not content.
    assert cache_key(CHAT, {"model": "m", **chat_request("Name a colour.", max_tokens=16, timeout=1).body},
                     None) == base


def test_greedy_requests_ignore_the_sample_index_and_sampled_ones_need_it():
    greedy, sampled = body(temperature=0.0), body(temperature=0.7)
    assert is_cacheable(greedy, None)
    assert cache_key(CHAT, greedy, None) == cache_key(CHAT, greedy, 3)
    assert not is_cacheable(sampled, None)
    assert not is_cacheable({**sampled, "seed": 1}, None)
    assert is_cacheable(sampled, 0)
    assert cache_key(CHAT, sampled, 0) != cache_key(CHAT, sampled, 1)


def test_answers_persist_across_instances(tmp_path):
    with AnswerCache.in_run_dir(tmp_path / "run") as cache:
        cache.put("k1", CHAT, body(), None, {"choices": [{"text": "red"}]})
        cache.put("k2", CHAT, body(), None, {"choices": [{"text": "blue"}]})
    reopened = AnswerCache.in_run_dir(tmp_path / "run")
    assert len(reopened) == 2 and reopened.get("k2") == {"choices": [{"text": "blue"}]}
    assert reopened.dropped_tail is None


def test_truncated_last_line_is_dropped_reported_and_repaired(tmp_path, caplog):
    path = tmp_path / "cache.jsonl"
    with AnswerCache(path) as cache:
        cache.put("k1", CHAT, body(), None, {"n": 1})
        cache.put("k2", CHAT, body(), None, {"n": 2})
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) - 15])  # killed while writing the second answer

    with caplog.at_level(logging.WARNING, logger="llm.cache"):
        cache = AnswerCache(path)
    assert "k1" in cache and "k2" not in cache
    assert cache.dropped_tail is not None and cache.dropped_tail.startswith('{"key":"k2"')
    assert "truncated last line" in caplog.text and str(path) in caplog.text
    cache.put("k3", CHAT, body(), None, {"n": 3})
    cache.close()
    lines = path.read_text().splitlines()
    assert [json.loads(line)["key"] for line in lines] == ["k1", "k3"]


def test_last_answer_without_its_newline_is_kept_and_not_glued_to_the_next(tmp_path):
    path = tmp_path / "cache.jsonl"
    with AnswerCache(path) as cache:
        cache.put("k1", CHAT, body(), None, {"n": 1})
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    with AnswerCache(path) as cache:
        assert "k1" in cache
        cache.put("k2", CHAT, body(), None, {"n": 2})
    assert set(AnswerCache(path)._answers) == {"k1", "k2"}


def test_corruption_before_the_end_is_an_error_naming_file_and_line(tmp_path):
    path = tmp_path / "cache.jsonl"
    with AnswerCache(path) as cache:
        cache.put("k1", CHAT, body(), None, {"n": 1})
    path.write_text(path.read_text() + "not json\n" + path.read_text())
    with pytest.raises(CacheError, match=rf"{path}:2: unreadable"):
        AnswerCache(path)


def test_attempt_is_in_the_key_only_when_positive():
    greedy = body(temperature=0.0)
    # attempt 0 keeps the key written before attempts existed (a literal from that version of cache_key)
    legacy = hashlib.sha256(json.dumps({"endpoint": CHAT, "body": greedy, "sample_index": None}, sort_keys=True,
                                       separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()
    assert cache_key(CHAT, greedy, None) == cache_key(CHAT, greedy, None, 0) == legacy
    keys = {cache_key(CHAT, greedy, None, a) for a in range(4)}
    assert len(keys) == 4
    # a sampled request is cacheable once it names its attempt, and attempts of one draw differ
    sampled = body(temperature=0.7)
    assert not is_cacheable(sampled, None) and is_cacheable(sampled, None, 1)
    assert cache_key(CHAT, sampled, 0, 1) != cache_key(CHAT, sampled, 0, 2)


def test_attempt_is_validated_and_recorded(tmp_path):
    with pytest.raises(ValueError, match="attempt must be an integer >= 0, got -1"):
        chat_request("hi", attempt=-1)
    assert "attempt=2" in chat_request("hi", attempt=2).describe()
    with AnswerCache(tmp_path / "c.jsonl") as cache:
        cache.put("k", CHAT, body(), None, {"n": 1}, attempt=2)
    assert json.loads((tmp_path / "c.jsonl").read_text())["attempt"] == 2
