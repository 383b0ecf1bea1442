"""Failures over real sockets: injected 503s, dropped connections and stalls, a server that is down, and a
batch run killed half-way that resumes without repeating its answers."""

import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from llm.cache import AnswerCache
from llm.calls import chat_request
from llm.client import LLMClient
from llm.errors import RequestFailed, ServerUnavailable
from llm.server import connect, free_port, served_models
from tests.llm.batch_worker import N_REQUESTS, resume_requests
from tests.llm.faulty_proxy import FaultyProxy

ROOT = pathlib.Path(__file__).resolve().parents[2]


def through(proxy, endpoint, **kwargs):
    options = {"max_retries": 3, "backoff": 0.02, "timeout": 60, **kwargs}
    return LLMClient(proxy.url, endpoint.model, dialect=endpoint.dialect, **options)


@pytest.mark.parametrize("mode, failures", [("status", 2), ("drop", 1)])
def test_transient_failures_are_retried_then_answered(endpoint, mode, failures):
    with FaultyProxy(endpoint.url, mode, failures) as proxy:
        client = through(proxy, endpoint)
        answer = client.chat("Say yes.", max_tokens=4)
    assert answer.text
    assert proxy.requests == failures + 1
    assert (client.usage.calls, client.usage.retries) == (failures + 1, failures)


def test_a_stalled_request_times_out_and_is_retried(endpoint):
    with FaultyProxy(endpoint.url, "stall", failures=1) as proxy:
        client = through(proxy, endpoint)
        answer = client.run([chat_request("Say yes.", max_tokens=4, timeout=5)])[0]
    # At least one retry: the stall; more only if the machine is so loaded that the real answer took > 5 s.
    assert answer.text and client.usage.retries >= 1 and proxy.requests == client.usage.calls


def test_client_errors_are_not_retried(endpoint):
    with FaultyProxy(endpoint.url, "status", failures=1, status=400) as proxy:
        client = through(proxy, endpoint)
        with pytest.raises(RequestFailed, match=rf"{proxy.url}/v1/chat/completions rejected .*'Say yes.'.*HTTP 400"):
            client.chat("Say yes.", max_tokens=4)
    assert proxy.requests == 1 and client.usage.retries == 0


def test_persistent_5xx_gives_up_after_the_retries_naming_url_and_request(endpoint):
    with FaultyProxy(endpoint.url, "status", failures=100) as proxy:
        client = through(proxy, endpoint, max_retries=2)
        with pytest.raises(ServerUnavailable, match=rf"{proxy.url}.*failed 3 time.*'Say yes.'.*HTTP 503"):
            client.chat("Say yes.", max_tokens=4)
    assert proxy.requests == 3


def test_concurrency_is_bounded(endpoint):
    with FaultyProxy(endpoint.url) as proxy:
        client = through(proxy, endpoint, max_concurrency=2)
        answers = client.run([chat_request(f"Count to {i}.", max_tokens=4) for i in range(5)])
    assert len(answers) == 5 and proxy.requests == 5
    # llama.cpp answers one request at a time, so the others queue in the proxy: exactly the bound
    assert proxy.max_in_flight == 2


def test_a_server_that_is_down_is_a_clear_error():
    url = f"http://127.0.0.1:{free_port()}"
    client = LLMClient(url, "m", max_retries=1, backoff=0.01, timeout=5)
    with pytest.raises(ServerUnavailable, match=rf"{url} unavailable: .*failed 2 time.*connection failed"):
        client.chat("hi", max_tokens=4)
    with pytest.raises(ServerUnavailable, match=rf"{url} unreachable"):
        served_models(url)
    with pytest.raises(ServerUnavailable, match=rf"{url} not healthy after 0.5s"), connect(url, health_timeout=0.5):
        pass


def test_a_killed_batch_resumes_without_repeating_answers(endpoint, tmp_path):
    cache_path = tmp_path / "llm_cache.jsonl"
    worker = subprocess.Popen([sys.executable, "-m", "tests.llm.batch_worker", endpoint.url, endpoint.model,
                               str(cache_path)], cwd=ROOT)
    try:
        deadline = time.monotonic() + 120
        while not (cache_path.exists() and cache_path.read_bytes().count(b"\n") >= 2):
            assert worker.poll() is None, f"worker exited early with {worker.returncode}"
            assert time.monotonic() < deadline, "worker wrote no answers in 120 s"
            time.sleep(0.05)
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()

    cache = AnswerCache(cache_path)
    done = len(cache)
    assert 2 <= done < N_REQUESTS, f"kill came too late to test resuming ({done} answers cached)"
    client = endpoint.client(cache=cache)
    answers = client.run(resume_requests())
    assert all(a.text for a in answers)
    assert client.usage.cache_hits == done and client.usage.calls == N_REQUESTS - done
    assert len(AnswerCache(cache_path)) == N_REQUESTS


def test_several_servers_share_the_load_and_cover_for_a_broken_one(endpoint):
    with FaultyProxy(endpoint.url) as a, FaultyProxy(endpoint.url) as b:
        client = LLMClient([a.url, b.url], endpoint.model, dialect=endpoint.dialect, max_concurrency=2)
        answers = client.run([chat_request(f"Count to {i}.", max_tokens=4) for i in range(6)])
    assert all(x.text for x in answers) and a.requests >= 2 and b.requests >= 2 and a.requests + b.requests == 6
    with FaultyProxy(endpoint.url, "status", failures=100) as broken, FaultyProxy(endpoint.url) as good:
        client = LLMClient([broken.url, good.url], endpoint.model, dialect=endpoint.dialect, max_concurrency=1,
                           max_retries=2, backoff=0.01)
        answers = client.run([chat_request(f"Say {i}.", max_tokens=4) for i in range(3)])
    assert all(x.text for x in answers) and good.requests == 3 and client.usage.retries == broken.requests
