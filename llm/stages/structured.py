"""JSON answers with a schema, validated, retried a bounded number of times, failures counted and kept.

    outcomes = ask_json(ctx, prompts, schema=SCHEMA, validate=check, max_tokens=64, max_attempts=3)
    outcomes[i].value      # what validate() returned, or None when every attempt failed
    outcomes[i].failure    # None, or the kind of the last failure: unparsable, invalid, truncated, server, ...

The first attempt is greedy (temperature 0, reproducible). A greedy re-ask would get the same bad answer, so
attempt k > 0 samples at `retry_temperature` with seed k, asked as attempt k (llm.calls.Request.attempt):
its own cache record, replayed in order by a re-run, so a resumed stage ends exactly where the first ended.
A prompt whose every attempt failed is returned as a failure with its kind, counted in ctx.failures, and
the stage decides what a failure means (an error sample in TGD, an unchanged instance in correction) — it
is never silently dropped.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from llm.calls import chat_request
from llm.errors import BadResponse, LLMError, RequestFailed

_WORD = re.compile(r"[^\W\d_]{2,}")


def meaningful(text: str, min_words: int = 2) -> bool:
    """Whether a free-text answer says something: at least min_words words of letters (a small model answers
    "...", "N/A" or "" when it has nothing, or copies a placeholder)."""
    words = _WORD.findall(text or "")
    return len(words) >= min_words and " ".join(words).lower() not in ("n a", "none", "nothing")


class Invalid(ValueError):
    """An answer that parsed but is not acceptable (e.g. names a position outside the input)."""

    def __init__(self, message: str, kind: str = "invalid"):
        super().__init__(message)
        self.kind = kind


@dataclasses.dataclass(frozen=True)
class Outcome:
    value: Any
    failure: str | None  # kind of the last failure when no attempt succeeded
    attempts: int
    text: str  # the last answer's text ('' if the server gave none)
    detail: str = ""  # the last failure's message

    @property
    def ok(self) -> bool:
        return self.failure is None


def _request(messages, schema, max_tokens: int, attempt: int, retry_temperature: float):
    if attempt == 0:
        return chat_request(messages, max_tokens=max_tokens, temperature=0.0, json_schema=schema)
    return chat_request(messages, max_tokens=max_tokens, temperature=retry_temperature, seed=attempt,
                        json_schema=schema, attempt=attempt)


def classify(result, validate: Callable[[Any], Any]) -> tuple[Any, str | None, str, str]:
    """(value, failure kind or None, text, detail) of one answer or LLMError."""
    if isinstance(result, RequestFailed):
        # llama.cpp and SGLang answer 400 when the prompt does not fit the context window.
        kind = "context_window" if "context" in str(result).lower() or "too long" in str(result) else "rejected"
        return None, kind, "", str(result)
    if isinstance(result, LLMError):
        return None, "server" if not isinstance(result, BadResponse) else "bad_response", "", str(result)
    text = result.text
    try:
        parsed = json.loads(text)
    except ValueError as error:
        kind = "truncated" if result.finish_reason == "length" else "unparsable"
        return None, kind, text, f"{error}"
    try:
        return validate(parsed), None, text, ""
    except Invalid as error:
        return None, error.kind, text, str(error)


def ask_json(ctx, prompts: Sequence, *, schema: dict, validate: Callable[[Any], Any], max_tokens: int,
             max_attempts: int = 3, retry_temperature: float = 0.7, failure_prefix: str = "",
             first_attempt: int = 0) -> list[Outcome]:
    """Ask every prompt (a chat message list or a user string) for JSON matching `schema`, then `validate` it;
    retry the failed ones up to max_attempts in all. Counts the final failures in ctx.failures as
    `<failure_prefix><kind>`; a server that stays unavailable raises (nothing can be answered then).

    first_attempt > 0 starts with a sampled draw (attempt numbers first_attempt, first_attempt + 1, ...): how a
    stage asks for several different answers to one prompt (paraphrases), each reproducible from the cache."""
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
    outcomes: list[Outcome | None] = [None] * len(prompts)
    pending = list(range(len(prompts)))
    last: dict[int, tuple] = {}
    for attempt in range(first_attempt, first_attempt + max_attempts):
        if not pending:
            break
        requests = [_request(prompts[i], schema, max_tokens, attempt, retry_temperature) for i in pending]
        results = ctx.client.run(requests, return_exceptions=True)
        still = []
        for i, result in zip(pending, results):
            if isinstance(result, LLMError) and not isinstance(result, (RequestFailed, BadResponse)):
                raise result  # ServerUnavailable after the client's own retries: stop, the cache keeps the rest
            value, kind, text, detail = classify(result, validate)
            if kind is None:
                outcomes[i] = Outcome(value, None, attempt - first_attempt + 1, text)
            elif kind == "context_window":  # the same prompt will not fit next time either
                outcomes[i] = Outcome(None, kind, attempt - first_attempt + 1, text, detail)
            else:
                last[i] = (kind, text, detail)
                still.append(i)
        pending = still
    for i in pending:
        kind, text, detail = last[i]
        outcomes[i] = Outcome(None, kind, max_attempts, text, detail)
    for outcome in outcomes:
        if outcome.failure is not None:
            ctx.fail(failure_prefix + outcome.failure)
    return outcomes
