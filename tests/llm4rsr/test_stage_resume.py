"""The stage framework against the real llama.cpp server: a stage killed half-way and run again asks the server
only for what it did not have; the artifacts it ends with are those its answers give (a replay of the whole stage
from the cache makes no call and writes the same bytes); a finished stage is skipped without a server.

(An independent second run is not compared byte for byte: llama.cpp's greedy decoding reuses the previous prompt's
KV prefix, so the same prompt after a different one can end differently in the last float bits; the answer cache,
not the server, is what makes a run reproducible.)"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

from llm.stages.llm4rsr import memory
from llm.stages.stage import LLMSession
from tests.llm4rsr.conftest import use_server

SCRIPT = """
import json, shutil, sys, ml_collections
from llm.stages.stage import LLMSession
from llm.stages.llm4rsr import memory
config = ml_collections.ConfigDict(json.load(open(sys.argv[1])))
with LLMSession(sys.argv[2], config.llm.url, config.llm.model, config.llm.dialect, max_concurrency=1) as llm:
    memory.run(config, sys.argv[2], llm)
"""


def _session(config, workdir):
    return LLMSession(workdir, config.llm.url, config.llm.model, config.llm.dialect, max_concurrency=2)


def _cache_lines(workdir):
    path = workdir / "llm_cache.jsonl"
    return sum(1 for line in path.read_text().splitlines() if line.strip()) if path.exists() else 0


def test_killed_stage_reruns_without_repeated_calls_and_ends_identical(small_config, endpoint, tmp_path):
    config = use_server(small_config, endpoint)
    # A run killed once a few answers are on disk.
    work = tmp_path / "killed"
    work.mkdir()
    (tmp_path / "config.json").write_text(config.to_json())
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(tmp_path / "config.json"), str(work)],
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while _cache_lines(work) < 4 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    answered = _cache_lines(work)
    assert 4 <= answered < 12, f"the kill came too late or too early ({answered} answers cached)"
    assert not (work / "item_memory").exists()  # nothing half-written

    with _session(config, work) as llm:
        again = memory.run(config, work, llm)
    # Every answer the killed run got is replayed: the new calls are exactly the missing answers.
    assert not again.skipped and again.cost["requests"] >= 12
    assert again.cost["cache_hits"] >= answered
    assert again.cost["calls"] == again.cost["requests"] - again.cost["cache_hits"] + again.cost["retries"]
    assert _cache_lines(work) == answered + again.cost["calls"] - again.cost["retries"]
    rows = [json.loads(line) for line in (work / "item_memory" / "memory.jsonl").read_text().splitlines()]
    assert [r["item"] for r in rows] == list(range(1, 13)) and all(r["description"] for r in rows)
    first = (work / "item_memory" / "memory.jsonl").read_bytes()

    # The whole stage replayed from the cache: no call, the same bytes.
    shutil.rmtree(work / "item_memory")
    with _session(config, work) as llm:
        replay = memory.run(config, work, llm)
    assert replay.cost["calls"] == 0 and replay.cost["cache_hits"] == again.cost["requests"]
    assert (work / "item_memory" / "memory.jsonl").read_bytes() == first
    assert replay.meta["inputs_digest"] == again.meta["inputs_digest"]

    # Finished: skipped without starting a client.
    with _session(config, work) as llm:
        third = memory.run(config, work, llm)
        assert third.skipped and not llm.started
