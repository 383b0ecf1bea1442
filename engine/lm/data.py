"""Instruction data for LoRA tuning: examples -> token ids with a loss mask -> fixed-shape batches.

Files are JSONL, one example per line ({"instruction", "input", "output"} or {"prompt", "answer"}; see
templates.py). The answer is followed by the tokenizer's end token, so the model learns to stop. By default
only the answer (and that end token) carries loss; `train_on_inputs` puts the prompt in the loss too
(TALLRec's option).

Batches: every global batch of `batch_size` rows is `accum` micro-batches of batch_size/accum rows, padded on
the right to the smallest length bucket holding its longest row. The order is a function of (seed, epoch)
and the batch of step s depends only on s, so a resumed run sees exactly the batches of an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
from collections.abc import Sequence

import grain
import numpy as np

from engine.lm.batching import bucket_for
from engine.lm.templates import example_parts, prompt_ids


@dataclasses.dataclass
class Encoded:
    ids: list[int]
    loss_mask: list[bool]  # True where ids[t] is a target (predicted from ids[:t])
    prompt_len: int
    where: str


def read_jsonl(path) -> list[dict]:
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: examples file not found")
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}:{n}: not valid JSON ({error.msg})") from None
        if not isinstance(row, dict):
            raise ValueError(f"{path}:{n}: an example must be a JSON object")  # noqa: TRY004 (bad input, not a bug)
        row["_where"] = f"{path}:{n}"
        out.append(row)
    if not out:
        raise ValueError(f"{path}: no examples")
    return out


def answer_ids(tokenizer, answer: str) -> list[int]:
    """The answer's tokens followed by the tokenizer's end token (when it has one): what carries the loss."""
    return tokenizer.encode(answer) + ([tokenizer.eos_id] if tokenizer.eos_id is not None else [])


def encode_examples(examples: Sequence[dict], tokenizer, template: str, *, train_on_inputs: bool,
                    max_len: int) -> list[Encoded]:
    out = []
    for i, ex in enumerate(examples):
        where = ex.get("_where", f"example {i}")
        instruction, input_text, answer = example_parts(ex, where)
        if answer is None:
            raise ValueError(f"{where}: no answer ('output' or 'answer') to train on")
        prompt = prompt_ids(tokenizer, template, instruction, input_text)
        target = answer_ids(tokenizer, answer)
        ids = prompt + target
        if len(ids) > max_len:
            raise ValueError(f"{where}: {len(ids)} tokens (prompt {len(prompt)} + answer {len(target)}) exceed "
                             f"the longest length bucket {max_len} (config key train.length_buckets)")
        mask = [train_on_inputs and t > 0 for t in range(len(prompt))] + [True] * len(target)
        out.append(Encoded(ids, mask, len(prompt), where))
    return out


class LMBatches:
    """Global batches as a checkpointable grain iterator: step s -> {"ids", "valid", "loss_mask"} of shape
    [accum, micro, length]."""

    def __init__(self, encoded: list[Encoded], batch_size: int, accum: int, buckets: Sequence[int], seed: int,
                 pad_id: int):
        if batch_size % accum:
            raise ValueError(f"train.batch_size={batch_size} must be divisible by train.grad_accum={accum}")
        self.encoded, self.batch_size, self.accum = encoded, batch_size, accum
        self.buckets, self.seed, self.pad_id = tuple(sorted(buckets)), seed, pad_id
        self.steps_per_epoch = -(-len(encoded) // batch_size)

    def rows(self, step: int) -> np.ndarray:
        """Example indices of a step's batch; -1 marks filler rows of an epoch's last, short batch."""
        epoch, index = divmod(step, self.steps_per_epoch)
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.encoded))
        rows = order[index * self.batch_size:(index + 1) * self.batch_size]
        return np.concatenate([rows, np.full(self.batch_size - len(rows), -1)])

    def batch(self, step: int) -> dict:
        rows = self.rows(int(step))
        length = bucket_for(max(len(self.encoded[r].ids) for r in rows if r >= 0), self.buckets, "an example")
        ids = np.full((self.batch_size, length), self.pad_id, np.int32)
        valid = np.zeros((self.batch_size, length), bool)
        mask = np.zeros((self.batch_size, length), bool)
        for j, r in enumerate(rows):
            if r < 0:
                valid[j, 0] = True  # a filler row: one visible token, no loss
                continue
            e = self.encoded[r]
            ids[j, :len(e.ids)], valid[j, :len(e.ids)], mask[j, :len(e.ids)] = e.ids, True, e.loss_mask
        shape = (self.accum, self.batch_size // self.accum, length)
        return {"ids": ids.reshape(shape), "valid": valid.reshape(shape), "loss_mask": mask.reshape(shape)}

    def iterator(self, total_steps: int):
        return iter(grain.MapDataset.range(total_steps).map(self.batch).to_iter_dataset())

    def tokens(self, step: int) -> int:
        return sum(len(self.encoded[r].ids) for r in self.rows(step) if r >= 0)
