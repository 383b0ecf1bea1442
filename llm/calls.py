"""What one LLM call asks for and what it answers, independent of any server or transport.

Requests are plain data so a stage can build thousands of them up front, hand them to
`LLMClient.run` as one batch, and have the cache key computed from exactly what is sent.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from llm.errors import BadResponse

CHAT = "chat/completions"
COMPLETIONS = "completions"
EMBEDDINGS = "embeddings"


@dataclasses.dataclass(frozen=True, eq=False)
class Request:
    """One call: the endpoint under /v1, its JSON body without "model" (the client fills it in), which draw of
    a sampled request this is (see llm.cache for why that matters), an optional timeout override, and which
    attempt at this prompt it is: a stage that got an unusable answer (invalid JSON, cut off) asks again with
    attempt 1, 2, ..., each a separate cache record, so the bad answer stays on file but is not replayed."""

    endpoint: str
    body: dict
    sample_index: int | None = None
    timeout: float | None = None
    attempt: int = 0

    def __post_init__(self):
        if not isinstance(self.attempt, int) or self.attempt < 0:
            raise ValueError(f"attempt must be an integer >= 0, got {self.attempt!r}")

    def describe(self, limit: int = 120) -> str:
        """A one-line summary for error messages: enough of the prompt to find it, not the whole prompt."""
        if "messages" in self.body:
            last = self.body["messages"][-1]
            shown = f"{last.get('role')}: {last.get('content')!r}"
        elif "prompt" in self.body:
            shown = f"prompt {self.body['prompt']!r}"
        else:
            shown = f"input {self.body.get('input')!r}"
        if len(shown) > limit:
            shown = shown[:limit] + "...'"
        extra = ", ".join(f"{k}={self.body[k]}" for k in ("max_tokens", "temperature") if k in self.body)
        index = "" if self.sample_index is None else f", sample_index={self.sample_index}"
        index += f", attempt={self.attempt}" if self.attempt else ""
        return f"{self.endpoint} request ({shown}{', ' + extra if extra else ''}{index})"


def _sampling(max_tokens: int, temperature: float, top_p: float | None, stop, seed: int | None) -> dict:
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    body: dict[str, Any] = {"max_tokens": int(max_tokens), "temperature": float(temperature)}
    if top_p is not None:
        body["top_p"] = float(top_p)
    if stop:
        body["stop"] = [stop] if isinstance(stop, str) else list(stop)
    if seed is not None:
        body["seed"] = int(seed)
    return body


def _messages(messages) -> list[dict]:
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    out = []
    for i, m in enumerate(messages):
        if not (isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)):
            # A ValueError: the messages are a request's content, not a programmer's type mistake.
            raise ValueError(f"message {i} must be a dict with string 'role' and 'content', got {m!r}")  # noqa: TRY004
        out.append({"role": m["role"], "content": m["content"]})
    if not out:
        raise ValueError("a chat request needs at least one message")
    return out


def chat_request(messages, *, max_tokens: int = 256, temperature: float = 0.0, top_p: float | None = None,
                 stop=None, seed: int | None = None, top_logprobs: int | None = None,
                 json_schema: dict | None = None, regex: str | None = None, sample_index: int | None = None,
                 timeout: float | None = None, extra_body: dict | None = None, attempt: int = 0) -> Request:
    """A /v1/chat/completions request. `messages` is a list of {"role", "content"} dicts or one user string.

    top_logprobs: return the log-probability of each generated token and of the n most likely alternatives.
    json_schema: constrain the output to JSON matching this schema (sent in the OpenAI `response_format`
      form, which SGLang enforces; the llama_cpp dialect rewrites it to {"type": "json_object", "schema"}).
    regex: constrain the output to a regular expression (SGLang's `regex` extra field).
    extra_body: further server-specific fields, merged into the body as they are.
    attempt: 0 for the first ask; 1, 2, ... to ask again after an unusable answer (see Request).
    """
    body = {"messages": _messages(messages), **_sampling(max_tokens, temperature, top_p, stop, seed)}
    if top_logprobs is not None:
        body["logprobs"] = True
        body["top_logprobs"] = int(top_logprobs)
    _check_constraints(json_schema, regex)
    if json_schema is not None:
        body["response_format"] = {"type": "json_schema",
                                   "json_schema": {"name": "answer", "schema": json_schema, "strict": True}}
    if regex is not None:
        body["regex"] = regex
    body.update(extra_body or {})
    return Request(CHAT, body, sample_index, timeout, attempt)


def _check_constraints(json_schema, regex) -> None:
    if json_schema is not None and regex is not None:
        raise ValueError("give json_schema or regex, not both: a server applies one constraint per request")
    if json_schema is not None and not isinstance(json_schema, dict):
        raise ValueError(f"json_schema must be a dict (a JSON schema), got {type(json_schema).__name__}")


def completion_request(prompt: str, *, max_tokens: int = 256, temperature: float = 0.0, top_p: float | None = None,
                       stop=None, seed: int | None = None, top_logprobs: int | None = None,
                       json_schema: dict | None = None, regex: str | None = None, sample_index: int | None = None,
                       timeout: float | None = None, extra_body: dict | None = None, attempt: int = 0) -> Request:
    """A /v1/completions request on a raw prompt (no chat template): scoring a verbalizer, few-shot text.

    json_schema: constrain the output to JSON matching this schema. The completions endpoint has no OpenAI
      `response_format`, so it goes as SGLang's `json_schema` extra field (a JSON string); the llama_cpp
      dialect turns it into the GBNF `grammar` field that llama-cpp-python's server reads.
    """
    if not isinstance(prompt, str) or not prompt:
        raise ValueError(f"prompt must be a non-empty string, got {prompt!r}")
    body = {"prompt": prompt, **_sampling(max_tokens, temperature, top_p, stop, seed)}
    if top_logprobs is not None:
        body["logprobs"] = int(top_logprobs)
    _check_constraints(json_schema, regex)
    if json_schema is not None:
        body["json_schema"] = json.dumps(json_schema, sort_keys=True)
    if regex is not None:
        body["regex"] = regex
    body.update(extra_body or {})
    return Request(COMPLETIONS, body, sample_index, timeout, attempt)


def embedding_request(texts: list[str], *, timeout: float | None = None) -> Request:
    if not texts or not all(isinstance(t, str) for t in texts):
        raise ValueError("embeddings need a non-empty list of strings")
    return Request(EMBEDDINGS, {"input": list(texts)}, None, timeout)


@dataclasses.dataclass(frozen=True)
class TokenLogprob:
    token: str
    logprob: float
    top: dict[str, float]  # the most likely alternatives at this position, token -> logprob


@dataclasses.dataclass(frozen=True)
class Answer:
    text: str
    finish_reason: str | None
    logprobs: list[TokenLogprob] | None
    prompt_tokens: int
    completion_tokens: int
    cached: bool  # served from the answer cache (or shared with an identical request in the same batch)
    source: str  # "<url> <request>", for messages about this answer
    raw: dict = dataclasses.field(repr=False)
    attempt: int = 0  # the Request's attempt this answers

    def json(self) -> Any:
        """The text parsed as JSON, e.g. for a json_schema request; BadResponse names the request otherwise."""
        try:
            return json.loads(self.text)
        except ValueError as error:
            hint = " (cut off by max_tokens)" if self.finish_reason == "length" else ""
            raise BadResponse(f"{self.source}: answer is not valid JSON{hint}: {error}; text: "
                              f"{self.text[:300]!r}") from error


def parse_answer(endpoint: str, response: dict, cached: bool, source: str, attempt: int = 0,
                 asked_logprobs: bool = False) -> Answer:
    """Read the first choice of a chat or completions response, normalising the two logprob formats."""
    try:
        choice = response["choices"][0]
        if endpoint == CHAT:
            text = choice["message"].get("content") or ""
            logprobs = _chat_logprobs(choice.get("logprobs"))
        else:
            text = choice["text"]
            logprobs = _completion_logprobs(choice.get("logprobs"))
        if asked_logprobs and logprobs is None:
            raise ValueError("log-probabilities were asked for but the answer has none in a known format")
        usage = response.get("usage") or {}
        return Answer(text=text, finish_reason=choice.get("finish_reason"), logprobs=logprobs,
                      prompt_tokens=int(usage.get("prompt_tokens") or 0),
                      completion_tokens=int(usage.get("completion_tokens") or 0),
                      cached=cached, source=source, raw=response, attempt=attempt)
    except (KeyError, IndexError, TypeError, AttributeError, ValueError) as error:
        raise BadResponse(f"{source}: response does not look like an OpenAI {endpoint} answer "
                          f"({type(error).__name__}: {error}): {str(response)[:300]}") from error


def _chat_logprobs(logprobs: dict | None) -> list[TokenLogprob] | None:
    # OpenAI chat format: {"content": [{"token", "logprob", "top_logprobs": [{"token", "logprob"}]}]}
    if not logprobs or logprobs.get("content") is None:
        return None
    return [TokenLogprob(t["token"], float(t["logprob"]),
                         {a["token"]: float(a["logprob"]) for a in t.get("top_logprobs") or []})
            for t in logprobs["content"]]


def _completion_logprobs(logprobs: dict | None) -> list[TokenLogprob] | None:
    # Legacy completions format: parallel lists "tokens", "token_logprobs", "top_logprobs" (dicts).
    # llama.cpp's llama-server answers completions in the chat format ({"content": [...]}) instead.
    if logprobs and logprobs.get("tokens") is None and logprobs.get("content") is not None:
        return _chat_logprobs(logprobs)
    if not logprobs or logprobs.get("tokens") is None:
        return None
    tops = logprobs.get("top_logprobs") or [None] * len(logprobs["tokens"])
    return [TokenLogprob(tok, float(lp) if lp is not None else float("nan"),
                         {k: float(v) for k, v in (top or {}).items()})
            for tok, lp, top in zip(logprobs["tokens"], logprobs["token_logprobs"], tops)]
