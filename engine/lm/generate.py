"""Batched generation with a KV cache: greedy or temperature / top-p sampling, stop strings, max tokens.

    gen = Generator(lm, tokenizer, batch_size=8)
    outputs = gen.generate(prompt_token_lists, max_new_tokens=64, temperature=0.0, stop=("\n\n",))

Prompts are left-padded to a length bucket, so every row's next token sits in the last column. The cache holds
`bucket + max_new_tokens` slots (rounded up to whole chunks). One compiled prefill per (batch, bucket); decoding
runs in compiled chunks of `chunk` steps (a lax.scan), and between chunks the host checks end-of-sequence and
stop strings, so a batch stops soon after its last row is done without a device sync every token.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from engine.lm.batching import DEFAULT_BUCKETS, LMMesh, bucket_for, pad_batch
from engine.lm.model import init_cache


@dataclasses.dataclass
class Generation:
    text: str
    token_ids: list[int]
    finish_reason: str  # "eos", "stop" (a stop string) or "length"


def sample_next(logits, key, temperature, top_p, greedy: bool):
    """Next token ids [B] from logits [B, V] (float32): argmax when greedy, else a draw from the tempered
    distribution restricted to the smallest set of tokens whose probability reaches top_p. temperature and
    top_p are traced, so every sampling setting shares one compiled program."""
    if greedy:
        return jnp.argmax(logits, axis=-1).astype(jnp.int32)
    logits = logits / temperature
    order = jnp.argsort(-logits, axis=-1)
    sorted_logits = jnp.take_along_axis(logits, order, axis=-1)
    probs = jax.nn.softmax(sorted_logits, axis=-1)
    before = jnp.cumsum(probs, axis=-1) - probs  # mass of the tokens ranked above each one (the top token: 0)
    sorted_logits = jnp.where(before < top_p, sorted_logits, -jnp.inf)
    logits = jnp.full_like(logits, -jnp.inf).at[jnp.arange(logits.shape[0])[:, None], order].set(sorted_logits)
    return jax.random.categorical(key, logits, axis=-1).astype(jnp.int32)


class Generator:
    def __init__(self, lm, tokenizer, *, batch_size: int = 8, buckets: Sequence[int] = DEFAULT_BUCKETS,
                 chunk: int = 16, params=None, lora=None, mesh: LMMesh | None = None):
        self.lm, self.tokenizer = lm, tokenizer
        self.mesh = mesh or LMMesh.create()
        self.mesh.check_batch(batch_size, "batch_size")
        self.batch_size, self.chunk = batch_size, chunk
        context = lm.config.max_position_embeddings
        self.buckets = tuple(sorted(b for b in buckets if b <= context)) or (context,)
        self.params = lm.params if params is None else params
        self.lora = lm.lora if lora is None else lora

    @functools.partial(jax.jit, static_argnums=(0, 7), donate_argnums=(4,))
    def _prefill(self, params, lora, batch, cache, temperature, top_p, greedy, key):
        ids, valid = batch
        model = self.lm.model(params, lora)
        hidden, cache = model.hidden(ids, valid, cache=cache, write_at=0)
        logits = model.logits(hidden[:, -1])
        lengths = jnp.sum(valid, axis=1).astype(jnp.int32)
        return sample_next(logits, key, temperature, top_p, greedy), lengths, cache

    @functools.partial(jax.jit, static_argnums=(0, 11), donate_argnums=(3,))
    def _decode(self, params, lora, cache, token, lengths, start, temperature, top_p, key, done, greedy, eos):
        """`chunk` decode steps from slot `start`: feed token, write its key/value, pick the next one."""
        model = self.lm.model(params, lora)

        def step(carry, i):
            cache, token, lengths, done = carry
            hidden, cache = model.hidden(token[:, None], jnp.ones_like(token[:, None], bool),
                                         positions=lengths[:, None], cache=cache, write_at=start + i)
            nxt = sample_next(model.logits(hidden[:, -1]), jax.random.fold_in(key, i), temperature, top_p, greedy)
            done = done | jnp.isin(token, eos)
            nxt = jnp.where(done, jnp.int32(self.tokenizer.pad_id), nxt)
            return (cache, nxt, lengths + 1, done), nxt

        (cache, token, lengths, done), tokens = jax.lax.scan(step, (cache, token, lengths, done),
                                                             jnp.arange(self.chunk))
        return cache, token, lengths, done, tokens.T

    def generate(self, prompts: Sequence[Sequence[int]], *, max_new_tokens: int = 64, temperature: float = 0.0,
                 top_p: float = 1.0, stop: Sequence[str] = (), seed: int = 0,
                 ignore_eos: bool = False) -> list[Generation]:
        """One Generation per prompt (token id lists), in order. ignore_eos (benchmarks) decodes past the end
        token, always max_new_tokens of them."""
        if max_new_tokens < 1 or temperature < 0 or not 0 < top_p <= 1:
            raise ValueError(f"max_new_tokens={max_new_tokens}, temperature={temperature}, top_p={top_p}: need "
                             "max_new_tokens >= 1, temperature >= 0, 0 < top_p <= 1")
        context = self.lm.config.max_position_embeddings
        for i, p in enumerate(prompts):
            if len(p) + max_new_tokens > context:
                raise ValueError(f"prompt {i}: {len(p)} tokens + max_new_tokens {max_new_tokens} exceed the model's "
                                 f"context of {context} tokens ({self.lm.model_dir / 'config.json'})")
            if not p:
                raise ValueError(f"prompt {i} is empty")
        out: list[Generation | None] = [None] * len(prompts)
        # Similar lengths together: less padding, fewer buckets per batch.
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        for start in range(0, len(order), self.batch_size):
            rows = order[start:start + self.batch_size]
            results = self._generate_batch([prompts[i] for i in rows], max_new_tokens, temperature, top_p,
                                           tuple(stop), jax.random.fold_in(jax.random.key(seed), start),
                                           frozenset() if ignore_eos else self.tokenizer.eos_ids)
            for i, r in zip(rows, results, strict=True):
                out[i] = r
        return out

    def _generate_batch(self, prompts, max_new_tokens, temperature, top_p, stop, key, eos) -> list[Generation]:
        longest = max(map(len, prompts))
        bucket = bucket_for(longest, self.buckets, f"a prompt ({self.lm.model_dir})")
        steps = -(-(max_new_tokens - 1) // self.chunk) * self.chunk  # decode steps after the prefill's token
        cache = init_cache(self.lm.config, self.batch_size, bucket + steps,
                           dtype=jax.tree.leaves(self.params)[0].dtype)
        ids, valid = pad_batch(prompts, bucket, self.tokenizer.pad_id, rows=self.batch_size)
        greedy = temperature == 0.0
        token, lengths, cache = self._prefill(self.params, self.lora, self.mesh.put(ids, valid), cache,
                                              float(temperature), float(top_p), greedy, jax.random.fold_in(key, 0))
        generated = [[int(t)] for t in np.asarray(token)[:len(prompts)]]
        finished: list[str | None] = [None] * len(prompts)
        done = jnp.zeros((self.batch_size,), bool)
        position = bucket
        while True:
            for r, toks in enumerate(generated):  # settle rows on the tokens so far
                if finished[r]:
                    continue
                toks = toks[:max_new_tokens]  # a chunk may run past the limit
                if any(t in eos for t in toks):
                    finished[r] = "eos"
                elif stop and any(s in self.tokenizer.decode(toks) for s in stop):
                    finished[r] = "stop"
                elif len(toks) >= max_new_tokens:
                    finished[r] = "length"
            if all(finished) or position >= bucket + steps:
                break
            cache, token, lengths, done, tokens = self._decode(
                self.params, self.lora, cache, token, lengths, position, float(temperature), float(top_p),
                jax.random.fold_in(key, position), done, greedy, np.array(sorted(eos) or [-1], np.int32))
            position += self.chunk
            for r, row in enumerate(np.asarray(tokens)[:len(prompts)]):
                if not finished[r]:
                    generated[r].extend(int(t) for t in row)
        return [self._finish(toks, reason or "length", max_new_tokens, stop, eos) for toks, reason in
                zip(generated, finished, strict=True)]

    def _finish(self, toks: list[int], reason: str, max_new_tokens: int, stop, eos) -> Generation:
        toks = toks[:max_new_tokens]
        cut = next((i for i, t in enumerate(toks) if t in eos), None)
        if cut is not None:
            toks, reason = toks[:cut], "eos"
        text = self.tokenizer.decode(toks)
        hits = [text.find(s) for s in stop if s in text]
        if hits:  # the text up to the first stop string (OpenAI's `stop`: the string itself is not returned)
            text, reason = text[:min(hits)], "stop"
        elif reason != "eos":
            reason = "length"
        return Generation(text, toks, reason)
