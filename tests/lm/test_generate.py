"""Batched KV-cache generation against transformers' greedy decoding, plus stop strings, max tokens, sampling."""

import numpy as np
import pytest

from engine.lm.generate import Generator
from engine.lm.templates import prompt_ids

QUESTIONS = [
    "What is the capital of France?", "Name three colors.", "Write a haiku about rain.", "What is 2+2?",
    "Give me a movie recommendation for a rainy day.", "Who wrote Hamlet?", "Translate 'thank you' into Spanish.",
    "What is the boiling point of water?", "List two fruits.", "Describe a cat in one sentence.",
    "Is Toy Story a comedy? Answer Yes or No.", "What comes after Monday?", "Say hello.",
    "Why is the sky blue?", "Name a famous painter.", "What is Python?", "How many legs does a spider have?",
    "Suggest a name for a dog.", "What is the largest ocean?", "Complete: The quick brown fox",
]


@pytest.fixture(scope="module")
def generator(lm, tokenizer):
    return Generator(lm, tokenizer, batch_size=8)


def test_greedy_matches_transformers_on_20_prompts(generator, tokenizer, hf_model):
    import torch

    prompts = [prompt_ids(tokenizer, "chat", q) for q in QUESTIONS]
    ours = generator.generate(prompts, max_new_tokens=16)
    for q, p, g in zip(QUESTIONS, prompts, ours, strict=True):
        with torch.no_grad():
            ref = hf_model.generate(torch.tensor([p]), attention_mask=torch.ones(1, len(p), dtype=torch.long),
                                    max_new_tokens=16, do_sample=False)[0, len(p):].tolist()
        ref = ref[:ref.index(2)] if 2 in ref else ref  # transformers keeps the end token; we report the reason
        assert g.token_ids == ref, q
        assert g.finish_reason == ("eos" if len(ref) < 16 else "length")


def test_batch_composition_does_not_change_greedy_output(generator, tokenizer):
    prompts = [prompt_ids(tokenizer, "chat", q) for q in QUESTIONS[:3]]
    together = generator.generate(prompts, max_new_tokens=12)
    alone = [generator.generate([p], max_new_tokens=12)[0] for p in prompts]
    assert [g.token_ids for g in together] == [g.token_ids for g in alone]


def test_stop_strings_and_max_tokens(generator, tokenizer):
    prompts = [prompt_ids(tokenizer, "chat", "Count from 1 to 5."), prompt_ids(tokenizer, "chat", "Say hello.")]
    full = generator.generate(prompts, max_new_tokens=40)
    stopped = generator.generate(prompts, max_new_tokens=40, stop=["3", "\n"])
    for f, s in zip(full, stopped, strict=True):
        hits = [f.text.find(x) for x in ("3", "\n") if x in f.text]
        assert s.text == (f.text[:min(hits)] if hits else f.text)
        assert s.finish_reason == ("stop" if hits else f.finish_reason)
    short = generator.generate(prompts, max_new_tokens=3)
    assert [len(g.token_ids) for g in short] == [3, 3] and all(g.finish_reason == "length" for g in short)
    assert all(s.token_ids == f.token_ids[:3] for s, f in zip(short, full, strict=True))


def test_sampling_is_seeded_and_top_p_small_is_greedy(generator, tokenizer):
    prompts = [prompt_ids(tokenizer, "chat", "Write a haiku about rain.")] * 2
    a = generator.generate(prompts, max_new_tokens=16, temperature=1.0, top_p=0.95, seed=3)
    b = generator.generate(prompts, max_new_tokens=16, temperature=1.0, top_p=0.95, seed=3)
    c = generator.generate(prompts, max_new_tokens=16, temperature=1.0, top_p=0.95, seed=4)
    assert [g.token_ids for g in a] == [g.token_ids for g in b]
    assert [g.token_ids for g in a] != [g.token_ids for g in c]
    # top_p below the top token's probability keeps only that token: sampling equals greedy.
    nucleus = generator.generate(prompts[:1], max_new_tokens=8, temperature=1.0, top_p=1e-6, seed=5)
    assert nucleus[0].token_ids == generator.generate(prompts[:1], max_new_tokens=8)[0].token_ids


def test_prompt_over_the_context_is_refused(generator, lm):
    too_long = [1] * (lm.config.max_position_embeddings - 3)
    with pytest.raises(ValueError, match=r"prompt 0: 8189 tokens \+ max_new_tokens 8 exceed the model's context"):
        generator.generate([too_long], max_new_tokens=8)
    assert np.isfinite(lm.config.rope_theta)
