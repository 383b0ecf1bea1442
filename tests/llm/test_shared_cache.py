"""Several processes sharing one answer cache ask each prompt once (issue 41: 3 workers asked 24 times for 8)."""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

from llm.cache import AnswerCache
from llm.calls import CHAT
from tests.llm.shared_cache_worker import SHARED_PROMPTS, shared_requests

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_three_processes_ask_each_prompt_once(endpoint, tmp_path):
    cache_path = tmp_path / "llm_cache.jsonl"
    workers = [subprocess.Popen([sys.executable, "-m", "tests.llm.shared_cache_worker", endpoint.url, endpoint.model,
                                 str(cache_path), str(tmp_path / f"w{i}.json")], cwd=ROOT) for i in range(3)]
    assert [w.wait(timeout=300) for w in workers] == [0, 0, 0]
    results = [json.loads((tmp_path / f"w{i}.json").read_text()) for i in range(3)]
    calls = [r["usage"]["calls"] for r in results]
    assert sum(calls) == SHARED_PROMPTS, calls
    assert all(r["usage"]["calls"] + r["usage"]["cache_hits"] == SHARED_PROMPTS for r in results)
    assert results[0]["texts"] == results[1]["texts"] == results[2]["texts"]
    assert len(cache_path.read_text().splitlines()) == SHARED_PROMPTS
    assert len(AnswerCache(cache_path)) == SHARED_PROMPTS


def test_a_dead_claimer_is_taken_over(endpoint, tmp_path):
    # A process that took a claim and was killed before answering must not make the others wait for ever:
    # the kernel drops its lock with it.
    cache_path = tmp_path / "llm_cache.jsonl"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\nfrom llm.cache import AnswerCache\nc = AnswerCache(sys.argv[1])\n"
        "assert c.claim(sys.argv[2]) is True\nprint('claimed', flush=True)\ntime.sleep(600)"),
        str(cache_path), _key(endpoint)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "claimed"
        cache = AnswerCache(cache_path)
        assert cache.claim(_key(endpoint)) is False  # held by the other process
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        client = endpoint.client(cache=cache)
        start = time.monotonic()
        [answer] = client.run(shared_requests()[:1])
        assert answer.text and client.usage.calls == 1 and time.monotonic() - start < 60
    finally:
        if holder.poll() is None:
            holder.kill()


def test_claims_exclude_caches_in_one_process_and_answers_are_seen_after_refresh(tmp_path):
    a, b = AnswerCache(tmp_path / "c.jsonl"), AnswerCache(tmp_path / "c.jsonl")
    assert a.claim("ab" * 32) is True and b.claim("ab" * 32) is False
    a.put("ab" * 32, CHAT, {}, None, {"n": 1})
    a.release("ab" * 32)
    assert b.claim("ab" * 32) == {"n": 1}  # b reads a's answer instead of asking
    a.close()
    b.close()


def _key(endpoint):
    from llm.cache import cache_key
    request = shared_requests()[0]
    return cache_key(request.endpoint, {"model": endpoint.model, **request.body}, None)
