"""Continuation log-probabilities and verbalizer scores against transformers; verbalizer token checks."""

import numpy as np
import pytest

from engine.lm.score import Scorer
from engine.lm.templates import prompt_ids


@pytest.fixture(scope="module")
def scorer(lm, tokenizer):
    return Scorer(lm, tokenizer, batch_size=4)


def _reference_logprobs(hf_model, prompt, continuation):
    import torch

    ids = torch.tensor([prompt + continuation])
    with torch.no_grad():
        logp = torch.log_softmax(hf_model(ids).logits[0].double(), -1).numpy()
    return sum(logp[len(prompt) - 1 + j, t] for j, t in enumerate(continuation))


def test_continuation_logprobs_match_transformers(scorer, tokenizer, hf_model):
    prompts = [tokenizer.encode(p) for p in ("The capital of France is", "My favourite film is", "2 + 2 =")]
    conts = [tokenizer.encode(c) for c in (" Paris.", " Toy Story (1995), a comedy", " 4")]
    ours = scorer.continuation_logprobs(prompts, conts)
    for i in range(3):
        assert abs(ours[i] - _reference_logprobs(hf_model, prompts[i], conts[i])) <= 1e-3


def test_verbalizer_is_the_next_token_distribution_over_the_options(scorer, tokenizer, hf_model):
    questions = ["Is Toy Story (1995) an animated film? Answer Yes or No.", "Is the sun cold? Answer Yes or No.",
                 "Is water wet? Answer Yes or No.", "Is 7 an even number? Answer Yes or No.", "Is Paris in Spain?"]
    prompts = [prompt_ids(tokenizer, "chat", q) for q in questions]
    v = scorer.verbalizer(prompts, ("Yes", "No"))
    assert v.token_ids == ((tokenizer.encode("Yes")[0],), (tokenizer.encode("No")[0],))
    np.testing.assert_allclose(v.probs.sum(1), 1.0, rtol=1e-6)
    for i, p in enumerate(prompts[:2]):
        ref = [_reference_logprobs(hf_model, p, list(t)) for t in v.token_ids]
        np.testing.assert_allclose(v.logprobs[i], ref, atol=1e-3)
    # Multi-token mode scores each option as a continuation: the same numbers for one-token options.
    multi = scorer.verbalizer(prompts, ("Yes", "No"), multi_token=True)
    np.testing.assert_allclose(multi.logprobs, v.logprobs, atol=1e-4)


def test_multi_token_verbalizer_is_an_error_unless_asked(scorer, tokenizer):
    prompts = [prompt_ids(tokenizer, "chat", "Pick a film.")]
    option = "Toy Story"
    assert len(tokenizer.encode(option)) > 1
    with pytest.raises(ValueError, match=r"verbalizer option 'Toy Story' is \d tokens .* ask for multi_token"):
        scorer.verbalizer(prompts, ("Yes", option))
    both = scorer.verbalizer(prompts, ("Yes", option), multi_token=True)
    expected = scorer.continuation_logprobs(prompts, [tokenizer.encode(option)])
    np.testing.assert_allclose(both.logprobs[:, 1], expected, atol=1e-5)
    with pytest.raises(ValueError, match="do not encode to distinct tokens"):
        scorer.verbalizer(prompts, ("Yes", "Yes"))
