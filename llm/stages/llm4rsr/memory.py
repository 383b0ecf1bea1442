"""Stage `item_memory` (§3.1 iii): one LLM-written description per item from its attributes.

Artifact memory.jsonl: {"item": internal id, "id": original id, "description": ..., "attributes": ...,
"source": "llm" | "attributes", "failure": kind or null}. An item whose every attempt failed keeps its attribute
text as its description (source "attributes") and is counted in cost.json's failures: nothing is dropped.
"""

from __future__ import annotations

import json

from engine.run_dir import write_text_atomic
from llm.prompts.llm4rsr import ITEM_MEMORY
from llm.stages.llm4rsr.common import dataset_key, item_attributes, item_type, load_data
from llm.stages.stage import run_stage
from llm.stages.structured import Invalid, ask_json, meaningful

NAME = "item_memory"
OUTPUTS = ("memory.jsonl",)
SCHEMA = {"type": "object", "properties": {"description": {"type": "string", "minLength": 1}},
          "required": ["description"]}


def _description(answer) -> str:
    text = " ".join(str(answer.get("description", "")).split()) if isinstance(answer, dict) else ""
    if not meaningful(text, 3):
        raise Invalid(f"no description in the answer: {text!r}", "empty")
    return text


def run(config, workdir, llm):
    dataset, _ = load_data(config)
    kind = item_type(config, dataset)
    m = config.memory

    def compute(ctx):
        attributes = item_attributes(dataset)
        prompts = [ITEM_MEMORY.render(item_type=kind, item_type_cap=kind.capitalize(), attributes=attributes[i],
                                      max_words=int(m.max_words)) for i in range(1, dataset.num_items + 1)]
        outcomes = ask_json(ctx, prompts, schema=SCHEMA, validate=_description, max_tokens=int(m.max_tokens),
                            max_attempts=int(config.llm.max_attempts),
                            retry_temperature=float(config.llm.retry_temperature))
        rows = [{"item": i, "id": str(dataset.item_ids[i]),
                 "description": o.value if o.ok else attributes[i], "attributes": attributes[i],
                 "source": "llm" if o.ok else "attributes", "failure": o.failure}
                for i, o in enumerate(outcomes, 1)]
        write_text_atomic(ctx.dir / "memory.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        ctx.notes["items"] = len(rows)
        return {"num_items": len(rows), "num_fallback": sum(r["source"] != "llm" for r in rows)}

    inputs = {"dataset": dataset_key(dataset), "prompt": ITEM_MEMORY.id, "item_type": kind,
              "max_words": int(m.max_words), "max_tokens": int(m.max_tokens), "llm": llm_identity(config),
              "max_attempts": int(config.llm.max_attempts), "retry_temperature": float(config.llm.retry_temperature)}
    return run_stage(workdir, NAME, inputs, compute, OUTPUTS, llm)


def llm_identity(config) -> dict:
    """What decides the answers: the server and model (an embedded server is named by its model file)."""
    return {"url": config.llm.url or "embedded", "model": config.llm.model or "default"}


def load(result) -> dict[int, str]:
    """item -> description."""
    with open(result.path("memory.jsonl"), encoding="utf-8") as f:
        return {row["item"]: row["description"] for row in map(json.loads, f)}
