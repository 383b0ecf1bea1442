"""Prompt formats shared by training, scoring and generation, so a model is asked the way it was tuned.

An example is {"instruction": ..., "input": optional context, "output": the answer} (TALLRec's files), or
{"prompt": ..., "answer": ...}.

  chat    the model's chat template with one user turn (instruction, a blank line, input), generation prompt on
  alpaca  the Alpaca / TALLRec text template
  raw     the instruction text as it is (input appended after a blank line)
"""

from __future__ import annotations

TEMPLATES = ("chat", "alpaca", "raw")

ALPACA_WITH_INPUT = ("Below is an instruction that describes a task, paired with an input that provides further "
                     "context. Write a response that appropriately completes the request.\n\n"
                     "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n")
ALPACA_NO_INPUT = ("Below is an instruction that describes a task. Write a response that appropriately completes "
                   "the request.\n\n### Instruction:\n{instruction}\n\n### Response:\n")


def example_parts(example: dict, where: str = "example") -> tuple[str, str, str | None]:
    """(instruction, input, output or None) of an example in either spelling."""
    if "instruction" in example:
        return example["instruction"], example.get("input", "") or "", example.get("output")
    if "prompt" in example:
        return example["prompt"], "", example.get("answer")
    raise ValueError(f"{where}: needs an 'instruction' (with optional 'input', 'output') or a 'prompt' "
                     f"(with 'answer'); it has keys {sorted(example)}")


def render_prompt(tokenizer, template: str, instruction: str, input_text: str = "") -> str:
    """The text the model continues with its answer."""
    if template == "chat":
        content = f"{instruction}\n\n{input_text}" if input_text else instruction
        return tokenizer.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True)
    if template == "alpaca":
        if input_text:
            return ALPACA_WITH_INPUT.format(instruction=instruction, input=input_text)
        return ALPACA_NO_INPUT.format(instruction=instruction)
    if template == "raw":
        return f"{instruction}\n\n{input_text}" if input_text else instruction
    raise ValueError(f"unknown prompt template {template!r} (config key data.template); known: {', '.join(TEMPLATES)}")


def prompt_ids(tokenizer, template: str, instruction: str, input_text: str = "") -> list[int]:
    """Token ids of the rendered prompt. Only the raw template adds the tokenizer's own specials (e.g. a BOS):
    chat templates write theirs in the text."""
    text = render_prompt(tokenizer, template, instruction, input_text)
    return tokenizer.encode(text, add_special_tokens=template != "chat")
