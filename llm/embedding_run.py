"""One embedding run (python -m launch.embed is the command): every item's text embedded and reduced to a
recommender's width, the "encode & map" step of LLM-Sequential-Recommendation.

    summary = embed(config, workdir)   # config: configs/embed.py

Writes <workdir>/item_embeddings.npy + meta.json + texts.jsonl (the full-width vectors, row i = item i,
row 0 = zeros) and <workdir>/<method>-<dim>/item_embeddings.npy + meta.json per reduction, plus
<workdir>/config.json. The full-width vectors are cached under embed.cache_dir by model, template and
texts, so a second run (any workdir) embeds nothing. engine reads the artifacts as files
(engine.data.item_embeddings); it never imports this module.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import time

import numpy as np

from engine.data.item_embeddings import EMBEDDINGS_FILE, META_FILE, TEXTS_FILE, read_item_embeddings, write_artifact
from engine.data.sources import load_dataset
from engine.text.reduction import reduce
from llm import embeddings as emb
from llm.item_text import dataset_fields, item_labels, label_field_for, render_item_texts, template_for


def embed(config, workdir, *, progress: bool = True) -> dict:
    """Build text, embed (or reuse the cache), reduce; returns a summary for printing."""
    workdir = pathlib.Path(workdir)
    dataset = load_dataset(config.data)
    rows = dataset.item_text()
    template = template_for(dataset.name, dataset_fields(rows), config.text.template)
    texts = render_item_texts(rows, template, fallback=config.text.fallback)
    spec = emb.EmbeddingSpec(**{k: config.embed[k] for k in ("source", "model_dir", "batch_size", "max_seq_length",
                                                             "server_url", "server_model", "normalize")})
    start = time.perf_counter()
    cached = emb.build_item_embeddings(dataset.name, texts, dataset.item_ids, spec,
                                       emb.cache_root(config.embed.cache_dir), progress=progress)
    embed_seconds = time.perf_counter() - start
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.json").write_text(config.to_json(indent=2), encoding="utf-8")
    # The cache is shared by every run with the same model, template and texts; the workdir's meta also names
    # the processed dataset (its cache key), which readers check against the run's own data.
    meta = json.loads((cached / META_FILE).read_text(encoding="utf-8"))
    meta["dataset_cache_key"] = dataset.meta.get("cache_key", "")
    for name in (EMBEDDINGS_FILE, TEXTS_FILE, META_FILE):  # meta last: it vouches for the others
        staged = workdir / f".{name}.tmp"
        if name == META_FILE:
            staged.write_text(json.dumps(meta, indent=2, ensure_ascii=False), encoding="utf-8")
        else:
            shutil.copy2(cached / name, staged)
        os.replace(staged, workdir / name)
    table, meta = read_item_embeddings(workdir)
    summary = {"workdir": str(workdir), "dataset": dataset.name, "num_items": dataset.num_items, "dim": meta["dim"],
               "num_fallback": meta["num_fallback"], "cache": str(cached), "embed_seconds": round(embed_seconds, 2),
               "embedding": {"seconds": meta["seconds"], "items_per_s": meta["items_per_s"]}, "reduced": {}}

    labels = None
    for method in config.reduce.methods:
        if method == "lda" and labels is None:
            field = label_field_for(dataset.name, dataset_fields(rows), config.reduce.label_field)
            if not field:
                raise ValueError(f"reduce.label_field: dataset {dataset.name!r} has no default class field for LDA; "
                                 f"set one of: {', '.join(dataset_fields(rows))}")
            labels = item_labels(rows, field, config.reduce.label_index, combine=config.reduce.label_combine)
        options = {}
        if method == "autoencoder":
            options = {"hidden": config.reduce.ae_hidden, "steps": config.reduce.ae_steps,
                       "learning_rate": config.reduce.ae_learning_rate, "l2": config.reduce.ae_l2}
        start = time.perf_counter()
        reduced = reduce(table, method, config.reduce.dim, labels=labels, seed=config.seed, **options)
        out = workdir / f"{method}-{config.reduce.dim}"
        reduced_meta = {**{k: meta[k] for k in ("dataset", "num_items", "source", "model", "template", "cache_key",
                                                "dataset_cache_key")},
                        "dim": int(reduced.shape[1]), "reduction": method, "from_dim": meta["dim"],
                        "seed": config.seed, "options": options, "seconds": round(time.perf_counter() - start, 2),
                        "row_std": float(np.std(reduced[1:]))}
        if method == "lda":
            reduced_meta.update(label_field=field, label_index=config.reduce.label_index,
                                label_combine=config.reduce.label_combine,
                                num_classes=len(set(labels[1:].tolist())))
        write_artifact(out, reduced, reduced_meta)
        summary["reduced"][method] = str(out)
    return summary
