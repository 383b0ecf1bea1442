"""The instruction prompt rendered as data, scoring, and the selection call against the real server."""

from llm.stages.llm4rsr.prompt import InstructionPrompt, Items, _validator, initial_prompt, prf, render, select
from llm.stages.stage import LLMSession, StageContext
from llm.stages.structured import Invalid
from tests.llm4rsr.conftest import use_server

ITEMS = Items(["", "Toy Story (1995)", "Heat (1995)", "Aladdin (1992)"],
              {1: "Pixar's animated film about toys.", 2: "A crime thriller.", 3: "Disney's animated musical."},
              "movie")


def test_render_has_every_module_and_the_ablations_remove_them():
    ip = initial_prompt("movie")
    full = render(ip, [1, 2], 3, ITEMS)
    assert full[0] == {"role": "system", "content": ip.profile}
    user = full[1]["content"]
    assert "Plan: " + ip.plan in user and "- Toy Story (1995): Pixar's" in user and "- Aladdin (1992): Disney" in user
    assert "1. Toy Story (1995)\n2. Heat (1995)" in user and "Target movie: Aladdin (1992)" in user
    assert "positions (1 to 2)" in user and "Example." in user
    bare = render(ip, [1, 2], 3, ITEMS, use_profile=False, use_plan=False, use_memory=False)
    assert len(bare) == 1 and "Plan:" not in bare[0]["content"] and "Pixar" not in bare[0]["content"]


def test_answers_outside_the_input_are_invalid():
    check = _validator(3)
    assert check({"relevant": [3, 1, 1]}) == frozenset({1, 3})
    for bad, kind in (({"relevant": [4]}, "out_of_range"), ({"relevant": [0]}, "out_of_range"),
                      ({"relevant": "1"}, "not_positions"), ({"x": 1}, "not_positions")):
        try:
            check(bad)
        except Invalid as error:
            assert error.kind == kind
        else:
            raise AssertionError(bad)


def test_precision_recall_f1_conventions():
    assert prf(frozenset({1, 2}), {2, 3}) == (0.5, 0.5, 0.5)
    assert prf(frozenset(), set()) == (1.0, 1.0, 1.0)         # complete mismatch detected
    assert prf(frozenset({1}), set()) == (0.0, 1.0, 0.0)
    assert prf(frozenset(), {1}) == (1.0, 0.0, 0.0)
    assert prf(None, {1}) == (0.0, 0.0, 0.0)                  # a failed answer


def test_select_against_the_server_gives_positions_in_range(small_config, endpoint, tmp_path):
    config = use_server(small_config, endpoint)
    with LLMSession(tmp_path, config.llm.url, config.llm.model, config.llm.dialect) as llm:
        ctx = StageContext("t", tmp_path, tmp_path, llm)
        got = select(ctx, InstructionPrompt("You are a movie expert.", "Compare genres."),
                     [([1, 2], 3), ([2, 1, 3], 1)], ITEMS, config)
    assert len(got) == 2
    for outcome, n in zip(got, (2, 3)):
        assert outcome.ok or outcome.failure.startswith(("select_", "truncated", "unparsable"))
        if outcome.ok:
            assert all(1 <= p <= n for p in outcome.value)
    assert sum(ctx.failures.values()) == sum(not o.ok for o in got)
