"""Bounded, attempt-keyed retries of unusable answers, against the real server: retried, counted, replayed."""

from llm.stages.stage import LLMSession, StageContext
from llm.stages.structured import Invalid, ask_json
from tests.llm4rsr.conftest import use_server

SCHEMA = {"type": "object", "properties": {"relevant": {"type": "array", "items": {"type": "integer"}}},
          "required": ["relevant"]}


def _never(answer):
    raise Invalid(f"rejected {answer}", "out_of_range")


def _ask(config, workdir, validate):
    with LLMSession(workdir, config.llm.url, config.llm.model, config.llm.dialect) as llm:
        ctx = StageContext("t", workdir, workdir, llm)
        got = ask_json(ctx, ["Which of 1. Heat 2. Casino is a comedy? JSON positions."], schema=SCHEMA,
                       validate=validate, max_tokens=16, max_attempts=3, failure_prefix="select_")
        return got[0], ctx.failures, llm.client.usage


def test_an_answer_rejected_every_time_is_retried_then_counted_and_a_rerun_replays_it(small_config, endpoint,
                                                                                        tmp_path):
    config = use_server(small_config, endpoint)
    outcome, failures, usage = _ask(config, tmp_path, _never)
    assert not outcome.ok and outcome.failure == "out_of_range" and outcome.attempts == 3
    assert dict(failures) == {"select_out_of_range": 1}
    assert usage.calls == 3 and usage.cache_hits == 0  # three distinct attempts, each its own cache record
    again, failures, usage = _ask(config, tmp_path, _never)
    assert again == outcome and usage.calls == 0 and usage.cache_hits == 3

    def accept_second(answer, seen=[]):  # noqa: B006 - counts the answers validated in this run
        seen.append(answer)
        if len(seen) < 2:
            raise Invalid("first one rejected")
        return answer
    third, failures, usage = _ask(config, tmp_path, accept_second)
    assert third.ok and third.attempts == 2 and not failures and usage.calls == 0
