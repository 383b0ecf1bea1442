"""The range of every numeric config key a run reads, checked before anything is loaded or written.

ml_collections checks a value's type, not its range, and an impossible value otherwise fails far from its
cause or not at all: a negative or NaN learning rate trains to NaN, `train.batch_size=0` divides by zero
inside grain, `model.max_len=0` trains at loss 0 and then fails with an IndexError, `model.dropout=1`
zeroes every activation. Each rule names its key, so the error is one line the user can act on. A rule
applies only when the config has the key (non-neural configs have no train section, models differ in
their model keys); model-specific keys are checked where the model reads them (engine.models)."""

from __future__ import annotations

import math
import numbers

import ml_collections


def _integer(low: int):
    return (lambda v: isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= low,
            f"must be an integer >= {low}")


def _number(low: float, high: float = math.inf, *, low_open: bool = False, high_open: bool = True):
    def ok(v) -> bool:
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
            return False
        return (v > low if low_open else v >= low) and (v < high if high_open else v <= high)
    left, right = "(" if low_open else "[", ")" if high_open else "]"
    if high == math.inf:
        return ok, f"must be a finite number {'>' if low_open else '>='} {low:g}"
    return ok, f"must be a finite number in {left}{low:g}, {high:g}{right}"


RULES = {
    "seed": _integer(0),
    "data.user_core": _integer(0),
    "data.item_core": _integer(0),
    "data.min_rating": _number(-math.inf),
    "train.batch_size": _integer(1),
    "train.learning_rate": _number(0),  # 0 is allowed: a frozen model (tests use it)
    "train.warmup_steps": _integer(0),
    "train.decay_steps": _integer(0),
    "train.num_epochs": _integer(1),
    "train.max_steps": _integer(0),
    "train.weight_decay": _number(0),
    "train.adam_b2": _number(0, 1),
    "train.grad_clip": _number(0),
    "train.log_every": _integer(1),
    "train.eval_every": _integer(0),
    "train.patience": _integer(1),
    "train.keep_last": _integer(1),
    "train.prefetch": _integer(0),
    "train.num_negatives": _integer(0),
    "train.item_chunk": _integer(0),
    "train.position_chunk": _integer(0),
    "train.gbce_t": _number(0, 1, high_open=False),
    "model.max_len": _integer(1),
    "model.hidden_dim": _integer(1),
    "model.num_blocks": _integer(1),
    "model.num_heads": _integer(1),
    "model.dropout": _number(0, 1),
    "model.ffn_dim": _integer(0),
    "eval.batch_size": _integer(1),
    "eval.chunk_size": _integer(0),
    "eval.num_negatives": _integer(0),
    "eval.popularity_buckets": _integer(1),
}


_MISSING = object()


def _get(config, key: str):
    node = config
    for part in key.split("."):
        if not isinstance(node, (ml_collections.ConfigDict, dict)) or part not in node:
            return _MISSING
        node = node[part]
    return node


def check_values(config: ml_collections.ConfigDict) -> None:
    """Raise ValueError `config key KEY=VALUE must ...` for the first value out of its range."""
    for key, (ok, rule) in RULES.items():
        value = _get(config, key)
        if value is not _MISSING and not ok(value):
            raise ValueError(f"config key {key}={value!r} {rule}")
    buckets = _get(config, "train.length_buckets")
    if buckets is not _MISSING and not all(isinstance(b, numbers.Integral) and b >= 1 for b in buckets):
        raise ValueError(f"config key train.length_buckets={tuple(buckets)!r} must hold integers >= 1")
    ks = _get(config, "eval.ks")
    if ks is not _MISSING and (not ks or not all(isinstance(k, numbers.Integral) and k >= 1 for k in ks)):
        raise ValueError(f"config key eval.ks={tuple(ks) if ks else ks!r} must be one or more integers >= 1")
