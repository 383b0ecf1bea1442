"""Sequential recommenders. Each takes left-padded item ids [B, L] and returns hidden states
[B, L, D]; `output_table` is the item table the output layer is tied to."""

from __future__ import annotations

from flax import nnx

from engine.models.bert4rec import BERT4Rec
from engine.models.fmlprec import FMLPRec
from engine.models.gru4rec import GRU4Rec
from engine.models.lrurec import LRURec
from engine.models.sasrec import SASRec

MODELS = {"sasrec": SASRec, "bert4rec": BERT4Rec, "gru4rec": GRU4Rec, "lrurec": LRURec, "fmlprec": FMLPRec}


def build_model(model_config, num_items: int, rngs: nnx.Rngs) -> nnx.Module:
    name = model_config.name
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r} (config key model.name); known: {', '.join(sorted(MODELS))}")
    kwargs = {k: v for k, v in model_config.items() if k != "name"}
    return MODELS[name](num_items=num_items, rngs=rngs, **kwargs)
