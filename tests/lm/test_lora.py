"""LoRA tuning: frozen base outside the optimiser, gradient accumulation, answer-only loss, resume, stages."""

import json

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from configs.lm import get_config
from engine.lm.data import LMBatches, encode_examples
from engine.lm.export import merged_params
from engine.lm.model import LoRASpec
from engine.lm.tokenizer import LMTokenizer
from engine.lm.train import make_train_step
from engine.lm.weights import load_lm
from engine.train.experiment import make_optimizer


def _examples(n, seed=0):
    rng = np.random.default_rng(seed)
    films = ["Toy Story (1995)", "Heat (1995)", "Fargo (1996)", "Casino (1995)", "Babe (1995)", "Clueless (1995)"]
    out = []
    for _ in range(n):
        liked = list(rng.choice(films, 2, replace=False))
        answer = "Yes" if rng.random() < 0.5 else "No"
        out.append({"instruction": "Will the user like the movie? Answer Yes or No.",
                    "input": f"Liked: {', '.join(liked)}. Target: {rng.choice(films)}", "output": answer})
    return out


def _tiny_config(tiny_model_dir, **train):
    c = get_config("default")
    c.model.dir = str(tiny_model_dir)
    c.progress = False
    c.lora.dropout = 0.0
    c.lora.alpha = 64.0  # a visible effect within a few steps of the random tiny model
    c.train.update({"batch_size": 4, "grad_accum": 2, "max_steps": 4, "eval_every": 2, "warmup_steps": 0,
                    "log_every": 1, "learning_rate": 1e-2, "length_buckets": (64, 96), **train})
    c.eval.batch_size = 4
    c.eval.metric = "loss"  # the answer tokens' NLL: the random tiny model's AUC says little
    return c


def _lora_lm(tiny_model_dir, dropout=0.0):
    return load_lm(tiny_model_dir, lora=LoRASpec(4, 8.0, dropout, ("q_proj", "v_proj", "down_proj")), seed=1)


def test_answer_only_loss_mask_and_train_on_inputs(tiny_model_dir):
    tok = LMTokenizer(tiny_model_dir)
    ex = [{"instruction": "Say yes.", "output": "Yes"}]
    answer_only = encode_examples(ex, tok, "chat", train_on_inputs=False, max_len=128)[0]
    full = encode_examples(ex, tok, "chat", train_on_inputs=True, max_len=128)[0]
    n = answer_only.prompt_len
    assert answer_only.ids[n:] == tok.encode("Yes") + [tok.token_id("<|im_end|>")]
    assert answer_only.loss_mask == [False] * n + [True] * (len(answer_only.ids) - n)
    assert full.loss_mask == [False] + [True] * (len(full.ids) - 1)
    with pytest.raises(ValueError, match="example 0: .* exceed the longest length bucket 8"):
        encode_examples(ex, tok, "chat", train_on_inputs=False, max_len=8)


def test_base_is_frozen_and_absent_from_the_optimiser(tiny_model_dir):
    lm = _lora_lm(tiny_model_dir)
    tok = LMTokenizer(tiny_model_dir)
    enc = encode_examples(_examples(4), tok, "raw", train_on_inputs=False, max_len=96)
    batch = LMBatches(enc, 4, 1, (96,), 0, tok.pad_id).batch(0)
    cfg = get_config().train
    optimizer = make_optimizer(cfg, 10)
    state = {"lora": jax.tree.map(jnp.copy, lm.lora), "opt_state": optimizer.init(lm.lora),
             "step": jnp.zeros((), jnp.int32)}
    lora_size = sum(x.size for x in jax.tree.leaves(lm.lora))
    opt_size = sum(x.size for x in jax.tree.leaves(state["opt_state"]))
    assert opt_size <= 2 * lora_size + 8  # Adam's two moments of the adapter (and counters), nothing of the base
    base_before = jax.tree.map(np.asarray, lm.params)
    step = make_train_step(lm, optimizer, "float32", 0)
    for _ in range(2):
        state, metrics = step(state, lm.params, batch)
    assert np.isfinite(float(metrics["loss"]))
    jax.tree.map(np.testing.assert_array_equal, base_before, jax.tree.map(np.asarray, lm.params))
    b = state["lora"]["layers"]["q_proj"]["lora_b"][...]
    assert float(jnp.abs(b).max()) > 0  # the adapter moved


def test_grad_accumulation_and_answer_gather_match_one_full_batch(tiny_model_dir):
    lm = _lora_lm(tiny_model_dir)
    tok = LMTokenizer(tiny_model_dir)
    enc = encode_examples(_examples(4), tok, "chat", train_on_inputs=False, max_len=96)
    whole = LMBatches(enc, 4, 1, (96,), 0, tok.pad_id).batch(0)
    split = LMBatches(enc, 4, 2, (96,), 0, tok.pad_id).batch(0)
    optimizer = make_optimizer(get_config().train, 10)

    def one_step(batch, max_targets):
        state = {"lora": jax.tree.map(jnp.copy, lm.lora), "opt_state": optimizer.init(lm.lora), "step": jnp.zeros((), jnp.int32)}
        state, metrics = make_train_step(lm, optimizer, "float32", 0, max_targets)(state, lm.params, batch)
        return state["lora"], float(metrics["loss"])

    ref_lora, ref_loss = one_step(whole, None)
    for batch, max_targets in ((split, None), (whole, 4), (split, 8)):
        lora, loss = one_step(batch, max_targets)
        assert abs(loss - ref_loss) < 1e-5
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), lora, ref_lora)


def test_merged_weights_give_the_adapter_logits(tiny_model_dir):
    lm = _lora_lm(tiny_model_dir)
    lm.lora = jax.tree.map(lambda x: x + 0.05, lm.lora)  # B = 0 would make the check empty
    ids = np.array([[5, 17, 300, 4000, 9]], np.int32)
    valid = np.ones_like(ids, bool)
    with_adapter = np.asarray(lm.model()(ids, valid))
    merged = merged_params(lm, lm.lora)
    base = load_lm(tiny_model_dir)
    merged_logits = np.asarray(base.model(merged)(ids, valid))
    plain = np.asarray(base.model()(ids, valid))
    np.testing.assert_allclose(merged_logits, with_adapter, atol=1e-4)
    assert np.abs(plain - with_adapter).max() > 1e-3
    np.testing.assert_array_equal(np.asarray(base.model()(ids, valid)), plain)  # merging copied, never mutated


def test_resume_reproduces_the_uninterrupted_run(tiny_model_dir, tmp_path):
    from engine.lm.train import train

    examples = {"train": _examples(8), "valid": _examples(8, 1)}
    full = train(_tiny_config(tiny_model_dir), tmp_path / "full", examples=examples)
    train(_tiny_config(tiny_model_dir, max_steps=2), tmp_path / "cut", examples=examples)
    resumed = train(_tiny_config(tiny_model_dir), tmp_path / "cut", examples=examples)
    assert resumed["timing"]["resumed_from_step"] == 2
    assert resumed["valid"] == full["valid"] and resumed["best_step"] == full["best_step"]
    lines = [json.loads(x) for x in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines if x["split"] == "train"] == [1, 2, 3, 4]
    a = (tmp_path / "full" / "adapter" / "adapter_model.safetensors").read_bytes()
    assert a == (tmp_path / "cut" / "adapter" / "adapter_model.safetensors").read_bytes()
    assert full["base_valid"]["loss"] > full["valid"]["loss"]  # tuning lowered the validation loss


def test_sequential_stages_start_from_the_previous_adapter(tiny_model_dir, tmp_path):
    from engine.lm.stages import run

    data = tmp_path / "data"
    data.mkdir()
    for name, seed in (("a", 0), ("b", 2), ("valid", 1)):
        (data / f"{name}.jsonl").write_text("".join(json.dumps(e) + "\n" for e in _examples(8, seed)))
    c = _tiny_config(tiny_model_dir)
    c.data.valid = str(data / "valid.jsonl")
    c.stages = ({"name": "first", "data.train": str(data / "a.jsonl")},
                {"name": "second", "data.train": str(data / "b.jsonl"), "train.max_steps": 2})
    c.lock()
    results = run(c, tmp_path / "run")
    second = json.loads((tmp_path / "run" / "second" / "config.json").read_text())
    assert second["lora"]["init_from"] == str(tmp_path / "run" / "first")
    assert second["train"]["max_steps"] == 2 and results["steps"] == 2
    first = json.loads((tmp_path / "run" / "first" / "results.json").read_text())
    # Stage 2's step-0 validation is stage 1's best adapter on the same validation file.
    lines = [json.loads(x) for x in (tmp_path / "run" / "second" / "metrics.jsonl").read_text().splitlines()]
    assert lines[0]["step"] == 0 and abs(lines[0]["loss"] - first["valid"]["loss"]) < 1e-5
    assert isinstance(c, ml_collections.ConfigDict)


def test_bfloat16_compute_gives_the_float32_loss_roughly(tiny_model_dir):
    lm = _lora_lm(tiny_model_dir)
    tok = LMTokenizer(tiny_model_dir)
    enc = encode_examples(_examples(4), tok, "chat", train_on_inputs=False, max_len=96)
    batch = LMBatches(enc, 4, 1, (96,), 0, tok.pad_id).batch(0)
    optimizer = make_optimizer(get_config().train, 10)
    losses = {}
    for dtype in ("float32", "bfloat16"):
        state = {"lora": jax.tree.map(jnp.copy, lm.lora), "opt_state": optimizer.init(lm.lora),
                 "step": jnp.zeros((), jnp.int32)}
        state, metrics = make_train_step(lm, optimizer, dtype, 0, 8)(state, lm.params, batch)
        losses[dtype] = float(metrics["loss"])
        assert state["lora"]["layers"]["q_proj"]["lora_a"][...].dtype == jnp.float32  # float32 master weights
    assert abs(losses["bfloat16"] - losses["float32"]) < 0.05 * losses["float32"]
