"""What training and evaluation share: mesh, data, split, model definition, optimiser, scoring."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax import nnx
from jax.sharding import NamedSharding, PartitionSpec as P

from engine.data.sources import load_dataset
from engine.data.splits import Split, make_split
from engine.eval.metrics import check_ks
from engine.eval.ranking import evaluate_prompts, make_rank_fn
from engine.models import build_model


def make_optimizer(train: ml_collections.ConfigDict, total_steps: int) -> optax.GradientTransformation:
    warmup = min(train.warmup_steps, max(total_steps - 1, 0))
    if train.schedule == "cosine":
        lr = optax.warmup_cosine_decay_schedule(0.0, train.learning_rate, warmup, max(total_steps, warmup + 1))
    elif train.schedule == "constant":
        lr = optax.join_schedules([optax.linear_schedule(0.0, train.learning_rate, warmup),
                                   optax.constant_schedule(train.learning_rate)], [warmup])
    else:
        raise ValueError(f"unknown schedule {train.schedule!r} (config key train.schedule); known: constant, cosine")
    # Decay matrices only: biases and layer-norm scales are not shrunk.
    decay_mask = lambda params: jax.tree.map(lambda p: p.ndim >= 2, params)
    return optax.chain(
        optax.clip_by_global_norm(train.grad_clip) if train.grad_clip > 0 else optax.identity(),
        optax.adamw(lr, b1=0.9, b2=0.98, weight_decay=train.weight_decay, mask=decay_mask))


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
    def create(cls, config: ml_collections.ConfigDict) -> "Experiment":
        # Auto axes: the compiler propagates the batch sharding (data parallel, replicated parameters).
        mesh = jax.make_mesh((jax.device_count(),), ("data",), axis_types=(jax.sharding.AxisType.Auto,))
        if config.train.batch_size % jax.device_count() or config.eval.batch_size % jax.device_count():
            raise ValueError(f"train.batch_size={config.train.batch_size} and eval.batch_size="
                             f"{config.eval.batch_size} must be divisible by the {jax.device_count()} devices")
        dataset = load_dataset(config.data)
        split = make_split(dataset, config.split.protocol)
        abstract = nnx.eval_shape(lambda: build_model(config.model, dataset.num_items, nnx.Rngs(0)))
        graphdef, _ = nnx.split(abstract)
        return cls(config, mesh, NamedSharding(mesh, P()), NamedSharding(mesh, P("data")), dataset, split,
                   graphdef, check_ks(config.eval.ks, dataset.num_items))

    def init_params(self):
        """Parameters created directly with their (replicated) sharding."""
        def init():
            model = build_model(self.config.model, self.dataset.num_items, nnx.Rngs(self.config.seed))
            graphdef, params = nnx.split(model)
            return params
        return jax.jit(init, out_shardings=self.replicated)()

    def model(self, params) -> nnx.Module:
        return nnx.merge(self.graphdef, params)

    def scores(self, params, inputs):
        """Scores of every item (column 0 = padding) after the last position of each prompt."""
        model = self.model(params)
        hidden = model(model.prompt(inputs))[:, -1]
        scores = jnp.einsum("bd,nd->bn", hidden, model.output_table, preferred_element_type=jnp.float32)
        return scores if model.output_bias is None else scores + model.output_bias

    @property
    def rank_fn(self):
        if not hasattr(self, "_rank_fn"):
            self._rank_fn = make_rank_fn(self.scores, self.config.eval.mask_history, self.batch_sharding)
        return self._rank_fn

    def evaluate(self, params, split_name: str):
        """(metrics, per-prompt ranks) on the 'valid' or 'test' prompts."""
        c = self.config
        return evaluate_prompts(self.rank_fn, params, self.split, self.split.prompts(split_name),
                                batch_size=c.eval.batch_size, max_len=c.model.max_len,
                                buckets=tuple(c.train.length_buckets), ks=self.ks)
