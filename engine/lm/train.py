"""LoRA tuning of the JAX LM, top to bottom (the recommender trainer's habits):

config check -> mesh, tokenizer, base weights (frozen; replicated or split over `model`) and adapter -> data ->
optimiser over the adapter only -> compiled step (one per length bucket, donated state) -> checkpoints (resume)
-> loop (step; log; validate, checkpoint, early-stop) -> best adapter: valid/test metrics, results.json,
adapter/ (PEFT).

The train state is {"lora", "opt_state", "step"}; the base weights are an argument of the step, never part of
the state, the optimiser or a checkpoint. Validation at step 0 scores the base model (a fresh adapter's B is
zero), which is the "before tuning" figure.
"""

from __future__ import annotations

import pathlib
import statistics
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from tqdm import tqdm

from engine.eval.auc import yes_no_auc
from engine.lm.adapters import read_adapter, resolve_adapter_dir, write_adapter
from engine.lm.batching import LMMesh
from engine.lm.convert import default_model_dir
from engine.lm.data import LMBatches, answer_ids, encode_examples, read_jsonl
from engine.lm.model import LoRASpec
from engine.lm.score import Scorer
from engine.lm.templates import example_parts, prompt_ids
from engine.lm.tokenizer import LMTokenizer
from engine.lm.weights import load_lm
from engine.run_dir import RunLog, check_config, config_to_dict, write_atomic, write_json_atomic
from engine.train.checkpoints import RunCheckpoints
from engine.train.experiment import make_optimizer

METRICS = ("auc", "accuracy", "loss")


def lora_spec(config) -> LoRASpec:
    c = config.lora
    return LoRASpec(int(c.rank), float(c.alpha), float(c.dropout), tuple(c.targets))


def model_dir(config) -> pathlib.Path:
    return pathlib.Path(config.model.dir) if config.model.dir else default_model_dir()


def _cast(tree, dtype):
    return jax.tree.map(lambda x: x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x, tree)


def make_train_step(lm, optimizer, compute_dtype: str, seed: int, max_targets: int | None = None):
    """max_targets: with answer-only loss, the most loss tokens of any row; the output layer (49k-way for
    SmolLM2, a fifth of the model's FLOPs at 200 tokens) then runs on those positions only. None: every position."""
    dtype = jnp.dtype(compute_dtype)
    base_key = jax.random.key(seed)

    def loss_sum(lora, params, ids, valid, mask, key):
        model = lm.model(params, _cast(lora, dtype))
        hidden, _ = model.hidden(ids, valid, dropout_key=key, remat=True)
        hidden, targets, weight = hidden[:, :-1], ids[:, 1:], mask[:, 1:]
        if max_targets is not None:  # the first max_targets loss positions of each row (stable order)
            where = jnp.argsort(~weight, axis=1, stable=True)[:, :max_targets]
            hidden = jnp.take_along_axis(hidden, where[..., None], axis=1)
            targets, weight = (jnp.take_along_axis(x, where, axis=1) for x in (targets, weight))
        logp = jax.nn.log_softmax(model.logits(hidden), axis=-1)  # float32 logits
        target = jnp.take_along_axis(logp, targets[..., None], axis=-1)[..., 0]
        weight = weight.astype(jnp.float32)
        return -(target * weight).sum(), weight.sum()

    grad_fn = jax.value_and_grad(loss_sum, has_aux=True)

    def train_step(state, params, batch):
        # Dropout noise is a function of (seed, step, micro-batch): a resumed run draws the same noise.
        key = jax.random.fold_in(base_key, state["step"])
        params = _cast(params, dtype)  # the frozen base, cast once per step rather than once per micro-batch

        def micro(carry, xs):
            grads, total, count = carry
            ids, valid, mask, i = xs
            (value, n), g = grad_fn(state["lora"], params, ids, valid, mask, jax.random.fold_in(key, i))
            return (jax.tree.map(jnp.add, grads, g), total + value, count + n), None

        zeros = jax.tree.map(jnp.zeros_like, state["lora"])
        accum = batch["ids"].shape[0]
        (grads, total, count), _ = jax.lax.scan(
            micro, (zeros, 0.0, 0.0), (batch["ids"], batch["valid"], batch["loss_mask"], jnp.arange(accum)))
        # The mean over every loss token of the global batch, however it is split into micro-batches.
        grads = jax.tree.map(lambda g: g / jnp.maximum(count, 1.0), grads)
        updates, opt_state = optimizer.update(grads, state["opt_state"], state["lora"])
        new_state = {"lora": optax.apply_updates(state["lora"], updates), "opt_state": opt_state,
                     "step": state["step"] + 1}
        return new_state, {"loss": total / jnp.maximum(count, 1.0), "loss_tokens": count}

    return jax.jit(train_step, donate_argnums=0)


def init_state(lora, optimizer, mesh: LMMesh) -> dict:
    """The train state at step 0: the adapter and the optimiser's moments where the adapter lives (replicated, or
    split over `model` as its kernels), counters replicated."""
    lora_shardings = jax.tree.map(lambda x: x.sharding, lora)
    opt_shardings = optax.tree_map_params(optimizer, lambda _, sharding: sharding, jax.eval_shape(optimizer.init, lora),
                                          lora_shardings, transform_non_params=lambda _: mesh.replicated)
    return jax.jit(lambda lora: {"lora": lora, "opt_state": optimizer.init(lora), "step": jnp.zeros((), jnp.int32)},
                   out_shardings={"lora": lora_shardings, "opt_state": opt_shardings, "step": mesh.replicated})(lora)


def verbalizer_metrics(probs: np.ndarray, labels: np.ndarray) -> dict:
    """Accuracy of the verbalizer's argmax over [N, K] option probabilities, and with two options and both
    labels present the AUC of the first option."""
    metrics = {"accuracy": float(np.mean(probs.argmax(1) == labels))}
    if probs.shape[1] == 2 and len(set(labels.tolist())) == 2:
        metrics["auc"] = yes_no_auc(probs[:, 0], labels == 0)
    return metrics


class Validator:
    """The validation (or test) metric of the current adapter: AUC / accuracy from the verbalizer's next-token
    distribution (one forward pass per batch), or the answer tokens' mean negative log-likelihood."""

    def __init__(self, examples, tokenizer, scorer: Scorer, template: str, verbalizer, where: str, with_loss: bool):
        self.scorer, self.tokenizer, self.verbalizer = scorer, tokenizer, tuple(verbalizer)
        # The answer NLL costs a second pass over every prompt: computed only when it is the metric or the
        # only one (no verbalizer).
        self.with_loss = with_loss or not self.verbalizer
        self.prompts, self.answers = [], []
        for i, ex in enumerate(examples):
            instruction, input_text, answer = example_parts(ex, ex.get("_where", f"{where} example {i}"))
            if answer is None:
                raise ValueError(f"{ex.get('_where', where)}: validation/test examples need an answer")
            self.prompts.append(prompt_ids(tokenizer, template, instruction, input_text))
            self.answers.append(answer)
        if self.verbalizer:
            unknown = sorted({a for a in self.answers} - set(self.verbalizer))
            if unknown:
                raise ValueError(f"{where}: answers {unknown[:3]} are not among data.verbalizer {list(self.verbalizer)}")
            self.labels = np.array([self.verbalizer.index(a) for a in self.answers])
        self.answer_ids = [answer_ids(tokenizer, a) for a in self.answers]

    def __call__(self, lora) -> tuple[dict, np.ndarray | None]:
        self.scorer.lora = lora
        metrics, scores = {}, None
        if self.verbalizer:
            v = self.scorer.verbalizer(self.prompts, self.verbalizer)
            scores = v.probs
            metrics.update(verbalizer_metrics(v.probs, self.labels))
        if self.with_loss:
            logp = self.scorer.continuation_logprobs(self.prompts, self.answer_ids)
            metrics["loss"] = float(-logp.sum() / sum(map(len, self.answer_ids)))
        return metrics, scores


def selection_value(metrics: dict, name: str) -> float:
    if name not in METRICS:
        raise ValueError(f"unknown eval.metric {name!r}; known: {', '.join(METRICS)}")
    if name not in metrics:
        raise ValueError(f"eval.metric {name!r} needs data.verbalizer answers with both classes in validation")
    return -metrics[name] if name == "loss" else metrics[name]


def train(config: ml_collections.ConfigDict, workdir, *, examples: dict | None = None) -> dict:
    """Tune (or resume) a LoRA adapter in `workdir`. `examples` {"train", "valid", "test"} replaces the files
    config.data names (tests, task builders)."""
    workdir = pathlib.Path(workdir)
    check_config(workdir, config)
    tc, dc = config.train, config.data
    if config.eval.metric not in METRICS:
        raise ValueError(f"unknown eval.metric {config.eval.metric!r}; known: {', '.join(METRICS)}")

    # --- Mesh, tokenizer, frozen base weights (replicated, or split over mesh.model devices) and the adapter.
    mesh = LMMesh.create(config.mesh.model)
    mesh.check_batch(tc.batch_size // tc.grad_accum, "train.batch_size / train.grad_accum")
    mesh.check_batch(config.eval.batch_size, "eval.batch_size")
    spec = lora_spec(config)
    mdir = model_dir(config)
    tokenizer = LMTokenizer(mdir)
    lm = load_lm(mdir, lora=spec, seed=config.seed, dtype=config.model.dtype, mesh=mesh)
    if config.lora.init_from:  # a sequential stage: start from the previous stage's adapter
        lm.lora = mesh.place_weights(read_adapter(resolve_adapter_dir(config.lora.init_from), lm, lm.lora))

    # --- Data.
    if examples is None:
        examples = {name: read_jsonl(dc[name]) for name in ("train", "valid", "test") if dc[name]}
    if "train" not in examples or "valid" not in examples:
        raise ValueError("data.train and data.valid must name JSONL files of examples")
    buckets = tuple(tc.length_buckets)
    encoded = encode_examples(examples["train"], tokenizer, dc.template, train_on_inputs=dc.train_on_inputs,
                              max_len=max(buckets))
    batches = LMBatches(encoded, tc.batch_size, tc.grad_accum, buckets, config.seed, tokenizer.pad_id)
    total_steps = tc.max_steps or tc.num_epochs * batches.steps_per_epoch
    eval_every = tc.eval_every or batches.steps_per_epoch
    scorer = Scorer(lm, tokenizer, batch_size=config.eval.batch_size, buckets=buckets, mesh=mesh,
                    compute_dtype=tc.compute_dtype)
    validators = {name: Validator(examples[name], tokenizer, scorer, dc.template, dc.verbalizer, name,
                                  config.eval.metric == "loss") for name in ("valid", "test") if name in examples}

    # --- Optimiser over the adapter only; its moments placed as the adapter, counters replicated.
    optimizer = make_optimizer(tc, total_steps)
    workdir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(workdir / "config.json", config_to_dict(config))
    state = init_state(lm.lora, optimizer, mesh)

    # --- Checkpoints: resume from the last one when the workdir has it.
    iterator = batches.iterator(total_steps)
    checkpoints = RunCheckpoints(workdir, tc.keep_last)
    state, progress = checkpoints.resume(state, iterator)
    start_step = int(state["step"])
    log = RunLog(workdir, resume_step=start_step)
    most = max(sum(e.loss_mask) for e in encoded)
    # Micro-batch rows split over the mesh's `data` axis; the accumulation axis stays whole on every device.
    batch_sharding = jax.sharding.NamedSharding(mesh.mesh, jax.sharding.PartitionSpec(None, "data"))
    step_fn = make_train_step(lm, optimizer, tc.compute_dtype, config.seed,
                              None if dc.train_on_inputs else 1 << (most - 1).bit_length())

    best_scores = {}

    def validate(step: int) -> bool:
        metrics, scores = validators["valid"](state["lora"])
        progress["train_seconds"] = seconds_before + time.perf_counter() - train_start
        log.write(step, "valid", {**metrics, "train_seconds": progress["train_seconds"]})
        if step == 0:
            progress["base_valid"] = metrics
        value = selection_value(metrics, config.eval.metric)
        if value > progress["best_metric"]:
            progress.update(best_metric=value, best_step=step, bad_evals=0, best_valid=metrics)
            best_scores["valid"] = scores
            checkpoints.save_best(step, state, progress)
        else:
            progress["bad_evals"] += 1
        checkpoints.save_last(step, state, iterator, progress)
        bar.set_postfix_str(f"valid {config.eval.metric}={metrics[config.eval.metric]:.4f} "
                            f"best@{progress['best_step']}")
        return progress["bad_evals"] >= tc.patience

    # --- Loop.
    bar = tqdm(total=total_steps, initial=start_step, desc="lora", unit="step", dynamic_ncols=True,
               disable=not config.progress)
    train_start = time.perf_counter()
    seconds_before = progress.get("train_seconds", 0.0)
    rates_before = progress.get("token_rates", [])
    rates, compile_seconds, compiled = [], 0.0, {}
    stopped_early = progress["bad_evals"] >= tc.patience
    if start_step == 0 and "base_valid" not in progress:
        stopped_early = validate(0)
    step = start_step
    pending, window_tokens, window_start = [], 0, time.perf_counter()
    while step < total_steps and not stopped_early:
        batch = jax.device_put(next(iterator), batch_sharding)
        length = batch["ids"].shape[-1]
        if length not in compiled:  # compile outside the timed window
            jax.block_until_ready(pending)
            t0 = time.perf_counter()
            compiled[length] = step_fn.lower(state, lm.params, batch).compile()
            compile_seconds += time.perf_counter() - t0
            window_start += time.perf_counter() - t0
        window_tokens += batches.tokens(step)
        state, metrics = compiled[length](state, lm.params, batch)
        pending.append(metrics)
        step += 1
        if step % tc.log_every == 0 or step == total_steps:
            fetched = jax.device_get(pending)
            seconds = time.perf_counter() - window_start
            count = sum(float(m["loss_tokens"]) for m in fetched)
            loss = sum(float(m["loss"]) * float(m["loss_tokens"]) for m in fetched) / max(count, 1.0)
            rates.append(window_tokens / seconds)
            log.write(step, "train", {"loss": loss, "tokens_per_s": window_tokens / seconds,
                                      "steps_per_s": len(fetched) / seconds})
            bar.update(len(fetched))
            bar.set_description_str(f"lora loss={loss:.4f} {window_tokens / seconds:.0f} tok/s")
            pending, window_tokens, window_start = [], 0, time.perf_counter()
        if step % eval_every == 0 or step == total_steps:
            jax.block_until_ready(pending)
            progress["token_rates"] = rates_before + rates[1:]
            stopped_early = validate(step)
            window_start = time.perf_counter()
    bar.close()

    # --- The best adapter: metrics on valid (and test), PEFT files, results.json (last: it says "complete").
    checkpoints.last.wait_until_finished()
    best = checkpoints.restore_best(state)
    if best is None:
        raise RuntimeError(f"{workdir}: no validation checkpoint was written")
    best_state, best_progress = best
    results = {"seed": config.seed, "model": str(mdir), "best_step": best_progress["best_step"], "steps": step,
               "stopped_early": stopped_early, "base_valid": best_progress.get("base_valid")}
    for name, validator in validators.items():
        if name == "valid" and "best_valid" in best_progress and "valid" in best_scores:
            results[name], scores = best_progress["best_valid"], best_scores["valid"]  # scored when it was best
        else:
            results[name], scores = validator(best_state["lora"])
        log.write(best_progress["best_step"], f"best_{name}", results[name])
        if scores is not None:
            write_atomic(workdir / f"scores_{name}.npy", "wb", lambda f, s=scores: np.save(f, s))
    write_adapter(workdir / "adapter", lm, best_state["lora"], spec)
    token_rates = rates_before + rates[1:] or rates
    results["timing"] = {"train_wall_seconds": seconds_before + time.perf_counter() - train_start,
                         "compile_seconds": compile_seconds,
                         "steady_tokens_per_second": statistics.median(token_rates) if token_rates else None,
                         "platform": jax.devices()[0].platform, "devices": jax.device_count(),
                         "resumed_from_step": start_step}
    write_json_atomic(workdir / "results.json", results)
    checkpoints.close()
    log.close()
    return results
