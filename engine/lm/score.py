"""Scoring with one forward pass per batch: log-probabilities of continuations, and the next-token distribution
restricted to a set of verbalizer strings ("Yes"/"No", letters A-J).

    scorer = Scorer(lm, tokenizer, batch_size=16)
    scorer.continuation_logprobs(prompt_ids, continuation_ids)   # [N] summed log p(continuation | prompt)
    v = scorer.verbalizer(prompt_ids, ("Yes", "No"))             # v.probs [N, 2] (softmax over the options),
                                                                 # v.logprobs [N, 2] (over the whole vocabulary)

Verbalizer token ids come from the tokenizer. A string that is not exactly one token is an error unless
multi_token=True, which scores each option as a continuation (one forward pass per option).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from engine.lm.batching import DEFAULT_BUCKETS, LMMesh, bucket_for, pad_batch


@dataclasses.dataclass
class VerbalizerScores:
    options: tuple[str, ...]
    token_ids: tuple[tuple[int, ...], ...]
    logprobs: np.ndarray  # [N, K] log p(option | prompt) over the full vocabulary (summed over tokens if several)
    probs: np.ndarray     # [N, K] softmax of logprobs over the K options


def verbalizer_token_ids(tokenizer, options: Sequence[str], multi_token: bool = False) -> tuple[tuple[int, ...], ...]:
    ids = tuple(tuple(tokenizer.encode(o)) for o in options)
    for option, toks in zip(options, ids, strict=True):
        if not toks:
            raise ValueError(f"verbalizer option {option!r} encodes to no token")
        if len(toks) != 1 and not multi_token:
            pieces = [tokenizer.decode([t], skip_special_tokens=False) for t in toks]
            raise ValueError(f"verbalizer option {option!r} is {len(toks)} tokens {pieces} for this tokenizer; "
                             "use one-token strings or ask for multi_token scoring")
    if len(set(ids)) != len(ids):
        raise ValueError(f"verbalizer options {list(options)} do not encode to distinct tokens")
    return ids


class Scorer:
    def __init__(self, lm, tokenizer, *, batch_size: int = 16, buckets: Sequence[int] = DEFAULT_BUCKETS,
                 params=None, lora=None, mesh: LMMesh | None = None, compute_dtype: str = "float32"):
        self.lm, self.tokenizer = lm, tokenizer
        self.mesh = mesh or LMMesh.create()
        self.mesh.check_batch(batch_size, "batch_size")
        self.batch_size = batch_size
        context = lm.config.max_position_embeddings
        self.buckets = tuple(sorted(b for b in buckets if b <= context)) or (context,)
        # Weights are arguments of the compiled functions, so assigning another adapter to .lora (the trainer's
        # validation does) reuses the compiled code.
        self.params = lm.params if params is None else params
        self.lora = lm.lora if lora is None else lora
        self.dtype = jnp.dtype(compute_dtype)

    def _model(self, params, lora):
        cast = lambda t: jax.tree.map(lambda x: x.astype(self.dtype), t)
        return self.lm.model(cast(params), None if lora is None else cast(lora))

    @functools.partial(jax.jit, static_argnums=(0,))
    def _last_logprobs(self, params, lora, ids, valid, cols):
        """log p(token | ids) of the tokens `cols` at the last position: [B, len(cols)] (only those leave the device)."""
        model = self._model(params, lora)
        hidden, _ = model.hidden(ids, valid)
        return jax.nn.log_softmax(model.logits(hidden[:, -1]), axis=-1)[:, cols]

    @functools.partial(jax.jit, static_argnums=(0, 5))
    def _tail_logprobs(self, params, lora, ids, valid, tail: int):
        """log p(ids[:, t] | ids[:, :t]) for the last `tail` positions: [B, tail]."""
        model = self._model(params, lora)
        hidden, _ = model.hidden(ids, valid)
        logits = model.logits(hidden[:, -tail - 1:-1])
        logp = jax.nn.log_softmax(logits, axis=-1)
        return jnp.take_along_axis(logp, ids[:, -tail:, None], axis=-1)[..., 0]

    def _check(self, seqs, what):
        context = self.lm.config.max_position_embeddings
        for i, s in enumerate(seqs):
            if len(s) > context:
                raise ValueError(f"{what} {i}: {len(s)} tokens exceed the model's context of {context} "
                                 f"({self.lm.model_dir / 'config.json'})")
            if not s:
                raise ValueError(f"{what} {i} is empty")

    def _batches(self, n: int, lengths):
        order = sorted(range(n), key=lambda i: lengths[i])
        for start in range(0, n, self.batch_size):
            yield order[start:start + self.batch_size]

    def next_token_logprobs(self, prompts: Sequence[Sequence[int]], token_ids: Sequence[int]) -> np.ndarray:
        """[N, len(token_ids)]: log p(token | prompt) of the given next tokens (one forward pass per batch)."""
        self._check(prompts, "prompt")
        out = np.zeros((len(prompts), len(token_ids)), np.float32)
        cols = jnp.asarray(token_ids, jnp.int32)
        for rows in self._batches(len(prompts), [len(p) for p in prompts]):
            seqs = [prompts[i] for i in rows]
            length = bucket_for(max(map(len, seqs)), self.buckets, "a prompt")
            ids, valid = pad_batch(seqs, length, self.tokenizer.pad_id, rows=self.batch_size)
            logp = np.asarray(self._last_logprobs(self.params, self.lora, *self.mesh.put(ids, valid), cols))
            out[rows] = logp[:len(rows)]
        return out

    def continuation_logprobs(self, prompts: Sequence[Sequence[int]],
                              continuations: Sequence[Sequence[int]]) -> np.ndarray:
        """[N]: sum of log p(continuation tokens | prompt and the continuation before them).

        Prompt and continuation are tokenised separately and concatenated, so the continuation's tokens are
        exactly the ones scored (no merge across the boundary)."""
        if len(prompts) != len(continuations):
            raise ValueError(f"{len(prompts)} prompts but {len(continuations)} continuations")
        seqs = [list(p) + list(c) for p, c in zip(prompts, continuations, strict=True)]
        self._check(seqs, "prompt + continuation")
        for i, c in enumerate(continuations):
            if not c:
                raise ValueError(f"continuation {i} is empty")
        out = np.zeros((len(seqs),), np.float32)
        for rows in self._batches(len(seqs), [len(s) for s in seqs]):
            batch = [seqs[i] for i in rows]
            length = bucket_for(max(map(len, batch)), self.buckets, "a prompt + continuation")
            tail = min(bucket_for(max(len(continuations[i]) for i in rows), (1, 2, 4, 8, 16, 32, 64, 128, 256, length)),
                       length - 1)  # the first token has no prediction
            ids, valid = pad_batch(batch, length, self.tokenizer.pad_id, rows=self.batch_size)
            logp = np.asarray(self._tail_logprobs(self.params, self.lora, *self.mesh.put(ids, valid), tail))
            for j, i in enumerate(rows):
                n = len(continuations[i])
                out[i] = logp[j, tail - n:].sum()
        return out

    def verbalizer(self, prompts: Sequence[Sequence[int]], options: Sequence[str], *,
                   multi_token: bool = False) -> VerbalizerScores:
        token_ids = verbalizer_token_ids(self.tokenizer, options, multi_token)
        if all(len(t) == 1 for t in token_ids):
            logprobs = self.next_token_logprobs(prompts, [t[0] for t in token_ids])
        else:
            logprobs = np.stack([self.continuation_logprobs(prompts, [list(t)] * len(prompts))
                                 for t in token_ids], axis=1)
        shifted = logprobs - logprobs.max(axis=1, keepdims=True)
        probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
        return VerbalizerScores(tuple(options), token_ids, logprobs, probs)
