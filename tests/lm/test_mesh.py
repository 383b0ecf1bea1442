"""The `model` mesh axis (tensor parallelism): the weights split over it give the one-device numbers.

Each check runs in a subprocess with simulated CPU devices (the device count is fixed when jax starts)."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

from engine.lm.batching import LMMesh

ROOT = pathlib.Path(__file__).resolve().parents[2]

# SmolLM2-135M on 6 devices, mesh (data 2, model 3): 9 query and 3 key/value heads, so each device holds whole
# heads, 192 of the 576 q_proj outputs, 512 of the 1,536 MLP features, a third of the vocabulary.
_REAL = r"""
import json, re, sys
import jax, numpy as np
from configs.lm import get_config
from engine.lm.batching import LMMesh
from engine.lm.generate import Generator
from engine.lm.model import LoRASpec
from engine.lm.score import Scorer
from engine.lm.templates import prompt_ids
from engine.lm.tokenizer import LMTokenizer
from engine.lm.train import init_state, make_train_step
from engine.lm.weights import load_lm
from engine.train.experiment import make_optimizer

model_dir = sys.argv[1]
spec = LoRASpec(4, 8.0, 0.0, ("q_proj", "v_proj", "o_proj", "down_proj"))
optimizer = make_optimizer(get_config().train, 100)
rng = np.random.default_rng(0)
ids = rng.integers(100, 49152, (1, 6, 48)).astype(np.int32)
valid = np.ones_like(ids, bool)
valid[0, 0, :10] = False  # a left-padded row
mask = np.zeros_like(valid)
mask[..., -3:] = True
out, report, inference = {}, {}, {}
for model in (1, 3):
    mesh = LMMesh.create(model)
    lm = load_lm(model_dir, lora=spec, seed=3, mesh=mesh)
    lm.lora = jax.tree.map(lambda x: x + 0.01, lm.lora)  # B != 0: the adapter changes the logits
    state = init_state(lm.lora, optimizer, mesh)
    batch = jax.device_put({"ids": ids, "valid": valid, "loss_mask": mask},
                           jax.sharding.NamedSharding(mesh.mesh, jax.sharding.PartitionSpec(None, "data")))
    logits = jax.jit(lambda p, l, i, v: lm.model(p, l)(i, v))(lm.params, state["lora"], *mesh.put(ids[0], valid[0]))
    step = make_train_step(lm, optimizer, "float32", 0, 4)
    hlo = step.lower(state, lm.params, batch).compile().as_text()
    for _ in range(2):
        state, metrics = step(state, lm.params, batch)
    out[model] = (np.asarray(logits), float(metrics["loss"]), [np.asarray(x) for x in jax.tree.leaves(state["lora"])])
    # The inference paths on the same mesh: verbalizer scoring and greedy generation with the KV cache.
    tokenizer = LMTokenizer(model_dir)
    prompts = [prompt_ids(tokenizer, "chat", q, "") for q in
               ("Is Paris in France? Answer Yes or No.", "Is the sea dry? Answer Yes or No.")] * 3
    scores = Scorer(lm, tokenizer, batch_size=6, buckets=(64,), mesh=mesh).verbalizer(prompts, ("Yes", "No"))
    gens = Generator(lm, tokenizer, batch_size=6, buckets=(64,), mesh=mesh).generate(prompts[:2], max_new_tokens=8)
    inference[model] = (scores.logprobs, [g.token_ids for g in gens])
    report[model] = {
        "q_shard": list(lm.params["layers"]["q_proj"]["kernel"].addressable_shards[0].data.shape),
        "embed_shard": list(lm.params["embed_tokens"].addressable_shards[0].data.shape),
        "o_lora_a_shard": list(state["lora"]["layers"]["o_proj"]["lora_a"].addressable_shards[0].data.shape),
        "all_gathers": len(re.findall(r"all-gather(?:-start)?\(", hlo)),
        "all_reduces": len(re.findall(r"all-reduce(?:-start)?\(", hlo))}
try:
    mesh.weight_sharding(("layers", "q_proj", "kernel"), (30, 576, 100))
    report["error"] = None
except ValueError as e:
    report["error"] = str(e)
report["logits_diff"] = float(np.abs(out[1][0] - out[3][0]).max())
report["loss"] = [out[1][1], out[3][1]]
report["lora_diff"] = max(float(np.abs(a - b).max()) for a, b in zip(out[1][2], out[3][2]))
report["verbalizer_diff"] = float(np.abs(inference[1][0] - inference[3][0]).max())
report["same_generations"] = inference[1][1] == inference[3][1]
print(json.dumps(report))
"""

# The whole trainer (state, checkpoints, validation, export) on the tiny model with 2 devices: the weights split
# over them (data 1, model 2) against the batch split over them (data 2, model 1).
_TRAINER = r"""
import json, sys
import numpy as np
from tests.lm.test_lora import _examples, _tiny_config
from engine.lm.train import train
from safetensors.numpy import load_file

tiny, work = sys.argv[1], sys.argv[2]
out = {}
for model in (1, 2):
    c = _tiny_config(tiny)
    c.mesh.model = model
    results = train(c, f"{work}/m{model}", examples={"train": _examples(8), "valid": _examples(4, seed=1)})
    out[model] = (results["valid"]["loss"], load_file(f"{work}/m{model}/adapter/adapter_model.safetensors"))
print(json.dumps({"valid_loss": [out[1][0], out[2][0]],
                  "adapter_diff": max(float(np.abs(out[1][1][k] - out[2][1][k]).max()) for k in out[1][1]),
                  "changed": max(float(np.abs(v).max()) for k, v in out[1][1].items() if "lora_B" in k)}))
"""


def _run(script: str, devices: int, *args) -> dict:
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}", JAX_PLATFORMS="cpu",
               PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", script, *map(str, args)], env=env, capture_output=True, text=True,
                          cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_tensor_parallel_smollm2_gives_the_one_device_logits_and_steps(model_dir):
    r = _run(_REAL, 6, model_dir)
    assert r["1"]["q_shard"] == [30, 576, 576] and r["3"]["q_shard"] == [30, 576, 192]
    assert r["3"]["embed_shard"] == [16384, 576]
    assert r["3"]["o_lora_a_shard"] == [30, 192, 4]  # o_proj splits its input, so does its adapter's A
    # Whole heads per device: the block's only collectives are sums (after o_proj, down_proj, the loss), no
    # gathering of weights or activations.
    assert r["3"]["all_gathers"] == 0 and r["3"]["all_reduces"] > 0
    assert r["logits_diff"] < 1e-3
    assert r["loss"][0] == pytest.approx(r["loss"][1], rel=1e-5)
    assert r["lora_diff"] < 1e-5
    assert r["verbalizer_diff"] < 1e-3 and r["same_generations"]
    assert "mesh.model=3 does not divide dimension 2 (size 100) of the weight layers.q_proj.kernel" in r["error"]


def test_trainer_with_a_model_axis_trains_the_same_adapter(tiny_model_dir, tmp_path):
    r = _run(_TRAINER, 2, tiny_model_dir, tmp_path)
    assert r["changed"] > 0  # the adapter trained
    assert r["valid_loss"][0] == pytest.approx(r["valid_loss"][1], rel=1e-5)
    # Adam moves each weight by up to the learning rate (1e-2) a step whatever the gradient's size, so rounding in
    # a near-zero gradient can move a weight by a few percent of that (measured: 1.4e-4 after 4 steps).
    assert r["adapter_diff"] < 0.05 * 1e-2, r


def test_mesh_model_must_divide_the_devices():
    import jax

    n = jax.device_count()
    with pytest.raises(ValueError, match=rf"mesh.model={n + 1} must be a divisor of the {n} devices"):
        LMMesh.create(n + 1)
