"""One of several processes sharing an answer cache: python -m tests.llm.shared_cache_worker URL MODEL CACHE OUT.

Asks SHARED_PROMPTS, then writes its usage and answers to OUT (JSON) for the test to add up."""

import json
import sys

from llm.cache import AnswerCache
from llm.calls import chat_request
from llm.client import LLMClient

SHARED_PROMPTS = 8


def shared_requests():
    return [chat_request(f"Name an animal that starts with the letter {c}.", max_tokens=8) for c in "ABCDEFGH"]


if __name__ == "__main__":
    url, model, cache_path, out = sys.argv[1:5]
    with AnswerCache(cache_path) as cache:
        client = LLMClient(url, model, dialect="llama_cpp", cache=cache, max_concurrency=2)
        answers = client.run(shared_requests())
    with open(out, "w") as f:
        json.dump({"usage": client.usage.to_dict(), "texts": [a.text for a in answers]}, f)
