"""What every sequential model offers the trainer and the evaluator.

A model maps left-padded item ids [B, L] to hidden states [B, L, D] and scores items by a dot
product with `output_table` (plus `output_bias` where it has one). Objectives other than
next-item prediction (e.g. BERT4Rec's cloze task) override `training_pairs`, and models that need
a special token at the prediction position override `prompt`."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx


class SequentialModel(nnx.Module):
    def training_pairs(self, inputs: jax.Array, targets: jax.Array, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(inputs, targets) the loss sees; the default is next-item prediction at every position that
        holds an item (as in SASRec: a sequence's first item is not predicted from padding alone)."""
        return inputs, jnp.where(inputs > 0, targets, 0)

    def prompt(self, inputs: jax.Array) -> jax.Array:
        """Evaluation input whose last position's hidden state scores the next item."""
        return inputs

    @property
    def output_table(self) -> jax.Array:
        raise NotImplementedError(f"{type(self).__name__} must define output_table")

    @property
    def output_bias(self) -> jax.Array | None:
        return None
