"""The batch progress bar and the cost record a stage dumps as cost.json, against the real server."""

import json

from llm.cache import AnswerCache
from llm.calls import chat_request, completion_request


def test_progress_bar_reports_answers_tokens_and_cache_hits(endpoint, tmp_path, capfd):
    client = endpoint.client(cache=AnswerCache.in_run_dir(tmp_path), progress=True)
    client.run([chat_request("Say one.", max_tokens=4)])  # cached for the batch below
    capfd.readouterr()
    client.run([chat_request(f"Say {w}.", max_tokens=4) for w in ("one", "two", "three")])
    err = capfd.readouterr().err
    last = err.replace("\r", "\n").strip().splitlines()[-1]
    # tqdm writes the rate as answer/s, or s/answer when an answer takes more than a second
    assert last.startswith("LLM: 100%") and "2/2" in last and ("answer/s" in last or "s/answer" in last), err
    assert "tok/s, 1 cached, 0 failed" in last, err
    quiet = endpoint.client(progress=False)
    quiet.run([chat_request("Say four.", max_tokens=4)] * 2)
    assert capfd.readouterr().err == ""


def test_cost_record_counts_calls_hits_tokens_failures_and_time(endpoint, tmp_path):
    client = endpoint.client(cache=AnswerCache.in_run_dir(tmp_path), max_retries=0)
    before = client.usage.copy()
    requests = [chat_request("Say yes.", max_tokens=4), completion_request("word " * 3000, max_tokens=2)]
    client.run(requests, return_exceptions=True)  # the second exceeds the context: HTTP 400
    client.run(requests[:1])  # a cache hit
    used = client.usage - before
    used.write(tmp_path / "cost.json")
    cost = json.loads((tmp_path / "cost.json").read_text())
    assert {k: cost[k] for k in ("requests", "calls", "retries", "cache_hits")} == \
        {"requests": 3, "calls": 2, "retries": 0, "cache_hits": 1}
    assert cost["prompt_tokens"] > 0 and 0 < cost["completion_tokens"] <= 4
    assert cost["failures"] == {"RequestFailed": 1}
    assert cost["wall_seconds"] > 0 and cost["seconds"] > 0
