"""The JAX LM against transformers on PyTorch CPU, same weights: logits within 1e-3 (float32).

SmolLM2-135M-Instruct (converted from the GGUF) for the Llama path; small random Qwen2 and Llama models
(untied output, llama3 RoPE scaling, biases, sharded safetensors) that transformers writes, for the rest."""

import numpy as np
import pytest

PROMPTS = [
    "The capital of France is",
    "def fibonacci(n):\n    ",
    "Toy Story (1995), Heat (1995), GoldenEye (1995). The user will also like",
    "1 + 1 = 2, 2 + 2 =",
    "Once upon a time, in a land far away, there lived a",
    "Ünïcödé, 日本語 and emoji 🎬 in a movie title:",
]


def left_padded(seqs, pad_id, length=None):
    length = length or max(map(len, seqs))
    ids = np.full((len(seqs), length), pad_id, np.int32)
    valid = np.zeros((len(seqs), length), bool)
    for i, s in enumerate(seqs):
        ids[i, length - len(s):], valid[i, length - len(s):] = s, True
    return ids, valid


def jax_logits(lm, ids, valid):
    import jax
    return np.asarray(jax.jit(lambda p, i, v: lm.model(p)(i, v))(lm.params, ids, valid))


def test_smollm2_logits_match_transformers(lm, tokenizer, hf_model):
    import torch

    prompts = PROMPTS + [tokenizer.apply_chat_template([{"role": "user", "content": "Recommend a film."}])]
    seqs = [tokenizer.encode(p) for p in prompts]
    ids, valid = left_padded(seqs, tokenizer.pad_id, 48)
    ours = jax_logits(lm, ids, valid)
    for i, s in enumerate(seqs):
        with torch.no_grad():
            ref = hf_model(torch.tensor([s])).logits[0].numpy()
        assert np.abs(ours[i, -len(s):] - ref).max() <= 1e-3, prompts[i]


def test_right_padding_gives_the_same_logits(lm, tokenizer):
    seqs = [tokenizer.encode(p) for p in PROMPTS[:3]]
    left = jax_logits(lm, *left_padded(seqs, tokenizer.pad_id, 32))
    ids, valid = np.full((3, 32), tokenizer.pad_id, np.int32), np.zeros((3, 32), bool)
    for i, s in enumerate(seqs):
        ids[i, :len(s)], valid[i, :len(s)] = s, True
    right = jax_logits(lm, ids, valid)
    for i, s in enumerate(seqs):
        np.testing.assert_allclose(left[i, -len(s):], right[i, :len(s)], atol=2e-4)


def test_tokenizer_and_chat_template_match_transformers(model_dir, tokenizer, torch_required):
    import transformers

    ref = transformers.AutoTokenizer.from_pretrained(model_dir)
    for text in PROMPTS:
        assert tokenizer.encode(text) == ref.encode(text, add_special_tokens=False)
    conversations = [[{"role": "user", "content": "Hi"}],
                     [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Why?"},
                      {"role": "assistant", "content": "Because."}, {"role": "user", "content": "Ok"}]]
    for messages in conversations:
        for gen in (True, False):
            assert tokenizer.apply_chat_template(messages, add_generation_prompt=gen) == ref.apply_chat_template(
                messages, add_generation_prompt=gen, tokenize=False)


def _random_hf_model(tmp_path, kind: str):
    import torch
    import transformers

    common = {"vocab_size": 96, "hidden_size": 64, "intermediate_size": 80, "num_hidden_layers": 2,
              "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 512,
              "tie_word_embeddings": False}
    if kind == "qwen2":
        config = transformers.Qwen2Config(**common, rope_theta=1e6)
        cls = transformers.Qwen2ForCausalLM
    else:
        config = transformers.LlamaConfig(**common, rope_parameters={
            "rope_type": "llama3", "rope_theta": 5e5, "factor": 8.0, "low_freq_factor": 1.0,
            "high_freq_factor": 4.0, "original_max_position_embeddings": 32})
        cls = transformers.LlamaForCausalLM
    torch.manual_seed(0)
    model = cls(config).eval()
    with torch.no_grad():
        for p in model.parameters():  # biases start at zero: make every weight count
            p.normal_(0, 0.3 if p.ndim == 1 else 0.05)
    model.save_pretrained(tmp_path, max_shard_size="100KB")  # several shards + an index
    return model


@pytest.mark.parametrize("kind", ["qwen2", "llama3-rope-untied"])
def test_random_models_match_transformers(tmp_path, kind, torch_required):
    import torch

    from engine.lm.weights import load_lm

    reference = _random_hf_model(tmp_path, kind.split("-")[0])
    assert (tmp_path / "model.safetensors.index.json").is_file()
    lm = load_lm(tmp_path)
    assert lm.config.attention_bias == (kind == "qwen2") and not lm.config.tie_word_embeddings
    rng = np.random.default_rng(0)
    seqs = [rng.integers(0, 96, n).tolist() for n in (150, 37, 5)]  # past llama3's original 32 positions
    ours = jax_logits(lm, *left_padded(seqs, 0))
    for i, s in enumerate(seqs):
        with torch.no_grad():
            ref = reference(torch.tensor([s])).logits[0].numpy()
        assert np.abs(ours[i, -len(s):] - ref).max() <= 1e-3
