"""A batch run in its own process, for the kill-and-resume test: python -m tests.llm.batch_worker URL MODEL CACHE."""

import sys

from llm.cache import AnswerCache
from llm.calls import chat_request
from llm.client import LLMClient

N_REQUESTS = 6


def resume_requests():
    return [chat_request(f"Write a short sentence about the number {i}.", max_tokens=24) for i in range(N_REQUESTS)]


if __name__ == "__main__":
    url, model, cache_path = sys.argv[1:4]
    # One at a time, so answers land in the cache one by one and the test can kill the run between them.
    client = LLMClient(url, model, dialect="llama_cpp", cache=AnswerCache(cache_path), max_concurrency=1)
    client.run(resume_requests())
