"""llama.cpp's own llama-server (launch/build_llama_server.sh builds it into .venv/bin) with parallel slots:
answers in the llama_cpp dialect, JSON schemas enforced, and concurrent requests decoded together.

Skipped when the binary is absent (it is an optional build); LLAMA_SERVER_BIN points at another build."""

import asyncio
import os
import pathlib
import sys

import httpx
import pytest

from llm.calls import chat_request, completion_request
from llm.server import LlamaCppServer
from tests.llm.test_client_live import SCHEMA

BINARY = pathlib.Path(os.environ.get("LLAMA_SERVER_BIN") or pathlib.Path(sys.executable).parent / "llama-server")


@pytest.fixture(scope="module")
def binary_server(llama_server):  # llama_server: skips like the other live tests when llama.cpp is missing
    if not BINARY.is_file():
        pytest.skip(f"{BINARY} not built (bash launch/build_llama_server.sh)")
    with LlamaCppServer(binary=BINARY, parallel=4, n_ctx=1024) as server:
        yield server


def test_schema_answers_parse(binary_server):
    client = binary_server.endpoint.client(timeout=300)
    chat = client.chat("Describe the movie Airplane! as JSON.", max_tokens=48, json_schema=SCHEMA)
    assert set(chat.json()) == {"genre", "year", "liked"}
    schema = {"type": "object", "properties": {"year": {"type": "integer"}}, "required": ["year"]}
    done = client.run([completion_request("A movie year as JSON:", max_tokens=16, json_schema=schema)])[0]
    assert isinstance(done.json()["year"], int)


def test_concurrent_requests_are_decoded_together(binary_server):
    client = binary_server.endpoint.client(timeout=300, max_concurrency=4)
    busy = []

    async def watch():
        async with httpx.AsyncClient(trust_env=False) as http:
            while True:
                slots = (await http.get(f"{binary_server.url}/slots", timeout=30)).json()
                busy.append(sum(bool(s.get("is_processing")) for s in slots))
                await asyncio.sleep(0.05)

    async def both():
        watcher = asyncio.create_task(watch())
        try:
            return await client.arun([chat_request(f"Write a long story about the number {i}.", max_tokens=48)
                                      for i in range(4)])
        finally:
            watcher.cancel()

    answers = asyncio.run(both())
    assert all(a.completion_tokens > 0 for a in answers)
    assert max(busy) >= 2, busy  # llama-cpp-python's server would never show more than one
