"""Sequential recommenders. Each takes left-padded item ids [B, L] and returns hidden states
[B, L, D]; `output_table` is the item table the output layer is tied to."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from flax import nnx

from engine.models.bert4rec import BERT4Rec
from engine.models.fmlprec import FMLPRec
from engine.models.gru4rec import GRU4Rec
from engine.models.lrurec import LRURec
from engine.models.sasrec import SASRec

MODELS = {"sasrec": SASRec, "bert4rec": BERT4Rec, "gru4rec": GRU4Rec, "lrurec": LRURec, "fmlprec": FMLPRec}
# Config keys of model.* that build_model handles itself instead of passing them to the model class.
INIT_KEYS = ("item_init", "item_init_scale")


def build_model(model_config, num_items: int, rngs: nnx.Rngs, dataset: str = "", cache_key: str = "") -> nnx.Module:
    """The configured model; with model.item_init set, its item table rows 1..N start from the text
    embeddings of that artifact (LLM2SASRec / LLM2BERT4Rec / LLM2GRU4Rec / ...). `dataset` (data.name) and
    `cache_key` (the processed dataset's): checked against the artifact's meta.json where given."""
    name = model_config.name
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r} (config key model.name); known: {', '.join(sorted(MODELS))}")
    kwargs = {k: v for k, v in model_config.items() if k != "name" and k not in INIT_KEYS}
    path = model_config.get("item_init", "")
    if path:  # checked before the model is built, so that a wrong artifact fails fast
        from engine.data.item_embeddings import load_item_embeddings
        vectors = load_item_embeddings(path, num_items, dataset, dim=model_config.get("hidden_dim"),
                                       cache_key=cache_key)
    model = MODELS[name](num_items=num_items, rngs=rngs, **kwargs)
    if path:
        init_item_table(model, vectors, float(model_config.get("item_init_scale", 1.0)))
    return model


def init_item_table(model: nnx.Module, vectors: np.ndarray, scale: float = 1.0) -> None:
    """Set rows 1..N of model.item_embedding from `vectors` [N + 1, D] (row 0 ignored; D = the table's width).

    scale multiplies the embeddings; scale = 0 rescales them to the standard deviation of the table's random
    initialisation instead (so that the model sees inputs of the size it was tuned for). Row 0 (padding)
    and any extra rows (BERT4Rec's mask token) keep their random initialisation."""
    embed = getattr(model, "item_embedding", None)
    if not isinstance(embed, nnx.Embed):
        # A ValueError: the table comes from model.item_init, a config value.
        raise ValueError(f"model.item_init: {type(model).__name__} has no item_embedding table to initialise")  # noqa: TRY004
    table = embed.embedding[...]
    num_items = vectors.shape[0] - 1
    if vectors.shape[1] != table.shape[1] or table.shape[0] < num_items + 1:
        raise ValueError(f"model.item_init: embeddings of shape {vectors.shape} do not fit the item table "
                         f"{table.shape}")
    loaded = np.asarray(vectors[1:])
    rows = jnp.asarray(loaded, table.dtype)
    if scale == 0.0:
        std = float(np.std(loaded))
        # jnp, not numpy, for the random rows: under jit (init_params) the table is a tracer.
        rows = rows * (jnp.std(table[1:num_items + 1]) / std if std > 0 else 1.0)
    else:
        rows = rows * scale
    embed.embedding[...] = table.at[1:num_items + 1].set(rows)
