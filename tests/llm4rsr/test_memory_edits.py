"""TGD's memory update (Prompts 5-6): flaws of the two items of an error case become insert/modify/remove edits
applied to the shared memory and recorded in the history. The LLM's answers are fixed here (the prompts' own
behaviour is exercised against the real server in test_pipeline.py)."""

import io
import json

from configs.llm4rsr import get_config
from llm.stages.llm4rsr.prompt import Items
from llm.stages.llm4rsr.tgd import TGD
from llm.stages.structured import Outcome

ITEMS = Items(["", "Heat (1995)", "Casino (1995)", "Babe (1995)"],
              {1: "A crime film.", 2: "A casino film. Very long plot summary.", 3: "A pig."}, "movie")


class Scripted(TGD):
    """TGD whose LLM answers come from a script, in call order."""

    def __init__(self, answers):
        config = get_config("tiny")
        super().__init__(ctx=None, config=config, items=ITEMS, train=[], test=[], history=io.StringIO())
        self.answers, self.prompts = list(answers), []

    def ask(self, prompts, schema, validate, prefix, first_attempt=0, max_tokens=None):
        self.prompts.append((prefix, prompts))
        return self.answers.pop(0)


def _ok(value):
    return Outcome(value, None, 1, json.dumps(value))


def test_flaws_become_edits_applied_to_the_memory_and_logged():
    error = {"kind": "relevant_missed", "sample": 0, "input": 1, "target": 2,
             "line": "input 'Heat (1995)' / target 'Casino (1995)': relevant but missed"}
    flaws = [{"item": 1, "missing": "It is directed by Michael Mann", "incorrect": "", "redundant": ""},
             {"item": 2, "missing": "", "incorrect": "", "redundant": "the very long plot summary"}]
    tgd = Scripted([[_ok(flaws)],
                    [_ok("A crime film directed by Michael Mann."), _ok("A casino film by Martin Scorsese.")]])
    memory = tgd.edit_memory([error], iteration=1)
    assert memory == {1: "A crime film directed by Michael Mann.", 2: "A casino film by Martin Scorsese.",
                      3: "A pig."}
    assert tgd.items.memory[1] == "A crime film."  # the caller decides when the new memory is used
    prefix, prompts = tgd.prompts[1]
    assert prefix == "memory_edit_" and "missing: It is directed by Michael Mann" in prompts[0]
    assert "redundant: the very long plot summary" in prompts[1] and "missing: none" in prompts[1]
    records = [json.loads(line) for line in tgd.history.getvalue().splitlines()]
    assert [(r["item"], r["ops"], r["changed"]) for r in records] == [(1, ["insert"], True), (2, ["remove"], True)]
    assert records[0]["before"] == "A crime film." and records[0]["iteration"] == 1


def test_no_meaningful_flaw_no_edit_and_a_failed_edit_keeps_the_description():
    error = {"kind": "irrelevant_selected", "sample": 0, "input": 3, "target": 2, "line": "x: irrelevant but selected"}
    tgd = Scripted([[_ok([{"item": 1, "missing": "...", "incorrect": "N/A", "redundant": ""},
                          {"item": 2, "missing": "", "incorrect": "the year is wrong", "redundant": ""}])],
                    [Outcome(None, "unparsable", 3, "{")]])
    memory = tgd.edit_memory([error], iteration=2)
    assert memory == ITEMS.memory  # item 3 had no real flaw; item 2's edit failed
    (record,) = [json.loads(line) for line in tgd.history.getvalue().splitlines()]
    assert record["item"] == 2 and record["ops"] == ["modify"] and not record["applied"] and not record["changed"]
