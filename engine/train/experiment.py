"""What training and evaluation share: mesh, data, split, model definition, optimiser, scoring."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax import nnx
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from engine.data.sources import load_dataset
from engine.data.splits import Split, split_from_config
from engine.eval.chunked_topk import make_chunked_rank_fn
from engine.eval.extras import check_eval_config
from engine.eval.ranking import evaluate_prompts, make_rank_fn
from engine.models import build_model


def make_schedule(train: ml_collections.ConfigDict, total_steps: int) -> optax.Schedule:
    """Learning rate per step: linear warm-up from zero, then train.schedule."""
    warmup = min(train.warmup_steps, max(total_steps - 1, 0))
    if train.schedule == "cosine":
        lr = optax.warmup_cosine_decay_schedule(0.0, train.learning_rate, warmup, max(total_steps, warmup + 1))
    elif train.schedule in ("constant", "wsd"):
        parts = [optax.linear_schedule(0.0, train.learning_rate, warmup), optax.constant_schedule(train.learning_rate)]
        boundaries = [warmup]
        if train.schedule == "wsd":
            # Warm-up, stable, decay: the peak rate until the last `decay_steps`, then a cosine to zero.
            # Its first steps equal 'constant', so a constant-rate run can be continued into the decay.
            if not 0 < train.decay_steps <= total_steps - warmup:
                raise ValueError(f"train.decay_steps={train.decay_steps} must be in (0, {total_steps - warmup}] "
                                 f"for {total_steps} steps with {warmup} warm-up steps (schedule 'wsd')")
            parts.append(optax.cosine_decay_schedule(train.learning_rate, train.decay_steps))
            boundaries.append(total_steps - train.decay_steps)
        lr = optax.join_schedules(parts, boundaries)
    elif train.schedule == "linear":
        # Hugging Face Trainer's default (TALLRec's runs): warm-up, then a straight line to zero at the last step.
        lr = optax.join_schedules([optax.linear_schedule(0.0, train.learning_rate, warmup),
                                   optax.linear_schedule(train.learning_rate, 0.0, max(total_steps - warmup, 1))],
                                  [warmup])
    else:
        raise ValueError(f"unknown schedule {train.schedule!r} (config key train.schedule); "
                         "known: constant, cosine, wsd, linear")
    return lr


def make_optimizer(train: ml_collections.ConfigDict, total_steps: int) -> optax.GradientTransformation:
    lr = make_schedule(train, total_steps)
    # Decay matrices only: biases and layer-norm scales are not shrunk.
    decay_mask = lambda params: jax.tree.map(lambda p: p.ndim >= 2, params)
    return optax.chain(
        optax.clip_by_global_norm(train.grad_clip) if train.grad_clip > 0 else optax.identity(),
        optax.adamw(lr, b1=0.9, b2=train.adam_b2, weight_decay=train.weight_decay, mask=decay_mask))


@dataclasses.dataclass
class Experiment:
    config: ml_collections.ConfigDict
    mesh: jax.sharding.Mesh
    replicated: NamedSharding
    batch_sharding: NamedSharding
    dataset: object
    split: Split
    graphdef: nnx.GraphDef
    ks: tuple[int, ...]

    @classmethod
    def create(cls, config: ml_collections.ConfigDict, dataset=None) -> Experiment:
        """`dataset` replaces the one config.data names (benchmarks on synthetic catalogues)."""
        # Auto axes: the compiler propagates the batch sharding (data parallel, replicated parameters).
        mesh = jax.make_mesh((jax.device_count(),), ("data",), axis_types=(jax.sharding.AxisType.Auto,))
        if config.train.batch_size % jax.device_count() or config.eval.batch_size % jax.device_count():
            raise ValueError(f"train.batch_size={config.train.batch_size} and eval.batch_size="
                             f"{config.eval.batch_size} must be divisible by the {jax.device_count()} devices")
        dataset = load_dataset(config.data) if dataset is None else dataset
        split = split_from_config(dataset, config.split)
        abstract = nnx.eval_shape(lambda: build_model(config.model, dataset.num_items, nnx.Rngs(0), dataset.name,
                                                      dataset.meta.get("cache_key", "")))
        graphdef, _ = nnx.split(abstract)
        return cls(config, mesh, NamedSharding(mesh, P()), NamedSharding(mesh, P("data")), dataset, split,
                   graphdef, check_eval_config(config.eval, dataset.num_items))

    def init_params(self):
        """Parameters created directly with their (replicated) sharding."""
        def init():
            model = build_model(self.config.model, self.dataset.num_items, nnx.Rngs(self.config.seed),
                                self.dataset.name, self.dataset.meta.get("cache_key", ""))
            return nnx.state(model)
        return jax.jit(init, out_shardings=self.replicated)()

    def train_state(self, optimizer: optax.GradientTransformation, params):
        """The train state {"params", "opt_state", "step"} at step 0, replicated: what the trainer steps and
        checkpoints, and the template its checkpoints are restored against."""
        return jax.jit(lambda p: {"params": p, "opt_state": optimizer.init(p), "step": jnp.zeros((), jnp.int32)},
                       out_shardings=self.replicated)(params)

    def model(self, params) -> nnx.Module:
        return nnx.merge(self.graphdef, params)

    def scores(self, params, inputs):
        """Scores of every item (column 0 = padding) after the last position of each prompt."""
        model = self.model(params)
        hidden = model(model.prompt(inputs))[:, -1]
        scores = jnp.einsum("bd,nd->bn", hidden, model.output_table, preferred_element_type=jnp.float32)
        return scores if model.output_bias is None else scores + model.output_bias

    def hidden_and_table(self, params, inputs):
        """(last-position hidden [B, D], output table [N+1, D], bias or None): the chunked ranking's input."""
        model = self.model(params)
        return model(model.prompt(inputs))[:, -1], model.output_table, model.output_bias

    @property
    def rank_fn(self):
        if not hasattr(self, "_rank_fn"):
            mask, chunk = self.config.eval.mask_history, self.config.eval.chunk_size
            # Item chunks with a running rank keep memory flat for very large catalogues.
            self._rank_fn = (make_chunked_rank_fn(self.hidden_and_table, mask, self.batch_sharding, chunk_size=chunk)
                             if chunk else make_rank_fn(self.scores, mask, self.batch_sharding))
        return self._rank_fn

    def evaluate(self, params, split_name: str):
        """(metrics, per-prompt ranks) on the 'valid' or 'test' prompts."""
        c = self.config
        return evaluate_prompts(self.rank_fn, params, self.split, self.split.prompts(split_name),
                                batch_size=c.eval.batch_size, max_len=c.model.max_len,
                                buckets=tuple(c.train.length_buckets), ks=self.ks)
