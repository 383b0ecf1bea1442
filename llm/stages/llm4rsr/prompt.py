"""The instruction prompt (IP, §3.1) as data, rendered by one function, and the item-selection call.

An IP is (profile, plan, memory); restriction and example are fixed templates. `render` builds the chat
messages for one input-target pair; `select` asks the LLM for the relevant input positions as JSON
{"relevant": [positions]}, constrained by a schema whose integers range over 1..len(inputs). An answer that does
not parse, or names a position outside the input, is retried (llm.stages.structured) and then counted as a
failure of kind `select_unparsable` / `select_out_of_range` / ...; a failed answer scores P = R = F1 = 0.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

from llm.prompts.llm4rsr import EXAMPLE, INITIAL_PLAN, INITIAL_PROFILE, RESTRICTION, TASK
from llm.stages.structured import Invalid, Outcome, ask_json


@dataclasses.dataclass(frozen=True)
class InstructionPrompt:
    profile: str
    plan: str
    origin: str = "initial"  # how it was made: initial, refined, paraphrase, ... (history only)

    @property
    def key(self) -> str:
        return hashlib.sha256(json.dumps([self.profile, self.plan]).encode()).hexdigest()[:16]

    def to_dict(self) -> dict:
        return {"key": self.key, **dataclasses.asdict(self)}


def initial_prompt(item_type: str) -> InstructionPrompt:
    return InstructionPrompt(INITIAL_PROFILE.render(item_type=item_type), INITIAL_PLAN.render(item_type=item_type))


@dataclasses.dataclass(frozen=True)
class Items:
    """What the prompts say about items: a short name per item and the memory (item -> description)."""

    names: list[str]        # index = internal item id
    memory: dict[int, str]  # the descriptions (TGD edits a copy)
    item_type: str

    def with_memory(self, memory: dict[int, str]) -> Items:
        return dataclasses.replace(self, memory=memory)


def render(ip: InstructionPrompt, inputs: list[int], target: int, items: Items, *, use_profile: bool = True,
           use_plan: bool = True, use_memory: bool = True) -> list[dict]:
    """The chat messages of one item-selection question (the use_* switches are the paper's w/o ablations)."""
    kind = items.item_type
    parts = []
    if use_plan and ip.plan:
        parts.append(f"Plan: {ip.plan}")
    if use_memory:
        described = list(dict.fromkeys([*inputs, target]))
        parts.append(f"Memory (descriptions of the {kind}s):\n" + "\n".join(
            f"- {items.names[v]}: {items.memory.get(v, '')}" for v in described))
    parts.append(EXAMPLE.render(item_type=kind))
    parts.append(TASK.render(item_type=kind, inputs="\n".join(f"{i}. {items.names[v]}" for i, v in enumerate(inputs, 1)),
                             target=items.names[target]))
    parts.append(RESTRICTION.render(item_type=kind, n=len(inputs)))
    messages = [{"role": "system", "content": ip.profile}] if use_profile and ip.profile else []
    return [*messages, {"role": "user", "content": "\n\n".join(parts)}]


def answer_schema(n: int) -> dict:
    return {"type": "object", "required": ["relevant"],
            "properties": {"relevant": {"type": "array", "maxItems": n,
                                        "items": {"type": "integer", "minimum": 1, "maximum": n}}}}


def _validator(n: int):
    def validate(answer) -> frozenset[int]:
        got = answer.get("relevant") if isinstance(answer, dict) else None
        if not isinstance(got, list) or not all(isinstance(p, int) and not isinstance(p, bool) for p in got):
            raise Invalid(f"'relevant' must be a list of integer positions, got {got!r}", "not_positions")
        outside = [p for p in got if not 1 <= p <= n]
        if outside:
            raise Invalid(f"positions {outside} are outside the input (1..{n})", "out_of_range")
        return frozenset(got)
    return validate


def select(ctx, ip: InstructionPrompt, questions: list[tuple[list[int], int]], items: Items, config, *,
           use_profile: bool = True, use_plan: bool = True, use_memory: bool = True) -> list[Outcome]:
    """The LLM's relevant positions (frozenset, 1-based) for each (inputs, target), or failures."""
    out: list[Outcome | None] = [None] * len(questions)
    by_length: dict[int, list[int]] = {}
    for i, (inputs, _) in enumerate(questions):
        by_length.setdefault(len(inputs), []).append(i)
    for n, members in by_length.items():  # one schema per input length
        prompts = [render(ip, questions[i][0], questions[i][1], items, use_profile=use_profile, use_plan=use_plan,
                          use_memory=use_memory) for i in members]
        got = ask_json(ctx, prompts, schema=answer_schema(n), validate=_validator(n),
                       max_tokens=int(config.tgd.select_max_tokens), max_attempts=int(config.llm.max_attempts),
                       retry_temperature=float(config.llm.retry_temperature), failure_prefix="select_")
        for i, outcome in zip(members, got):
            out[i] = outcome
    return out


def prf(predicted: frozenset[int] | None, relevant: set[int]) -> tuple[float, float, float]:
    """Precision, recall, F1 of one sample's selection. An empty selection of an empty truth (a complete mismatch
    detected) is perfect; a failed answer (None) scores 0."""
    if predicted is None:
        return 0.0, 0.0, 0.0
    hit = len(predicted & relevant)
    p = hit / len(predicted) if predicted else 1.0
    r = hit / len(relevant) if relevant else 1.0
    if (predicted or relevant) and hit == 0:
        return p, r, 0.0
    return p, r, 2 * p * r / (p + r)
