"""Reading an item text-embedding artifact: what LLMSeqSim, SKNN_EMB and LLM2<Model> start from.

An artifact is a directory written by the text side (launch.embed):

    item_embeddings.npy  float32 [num_items + 1, D]; row i = the dataset's internal item id i, row 0 zeros
    meta.json            {"dataset": ..., "num_items": ..., "dim": ..., "model": ..., ["dataset_cache_key": ...]}

launch.embed writes the full-width table in <workdir>/ and each reduction in <workdir>/<method>-<dim>/.

Whoever reads one states which catalogue it expects (num_items, and the dataset name where known), so a
table built for another dataset or another preprocessing is refused with the file named, never silently
used with shifted rows.
"""

from __future__ import annotations

import functools
import json
import os
import pathlib

import numpy as np

from engine.data.errors import DataError
from engine.run_dir import write_dir_atomic

EMBEDDINGS_FILE, META_FILE, TEXTS_FILE = "item_embeddings.npy", "meta.json", "texts.jsonl"


def read_item_embeddings(path) -> tuple[np.ndarray, dict]:
    """(float32 [num_items + 1, D], meta) from the artifact directory `path` (or its .npy file), checked
    for what the artifact says about itself: a 2-D finite table whose shape agrees with meta.json and
    whose padding row 0 is zero."""
    array_path, meta_path = _paths(path)
    if not array_path.is_file():
        raise DataError(f"{array_path}: item-embeddings file not found (make it with launch.embed)")
    table = _read_array(str(array_path.resolve()), os.stat(array_path).st_mtime_ns)
    meta = _read_meta(meta_path)
    if table.ndim != 2:
        raise DataError(f"{array_path}: expected a 2-D array [num_items + 1, dim], got shape {table.shape}")
    expected = (int(meta.get("num_items", table.shape[0] - 1)) + 1, int(meta.get("dim", table.shape[1])))
    if table.shape != expected:
        raise DataError(f"{array_path}: shape {table.shape}, but {meta_path} says {expected} "
                        "(num_items + 1 rows, dim columns)")
    if table.shape[0] and np.any(table[0] != 0):
        raise DataError(f"{array_path}: row 0 must be the zero padding row")
    if not np.isfinite(table).all():
        raise DataError(f"{array_path}: contains NaN or infinite values")
    return table, meta


def load_item_embeddings(path, num_items: int, dataset: str = "", dim: int | None = None,
                         cache_key: str = "") -> np.ndarray:
    """The table of `path` (read_item_embeddings), checked against the catalogue that will use it: its
    size, dataset name (config data.name, e.g. 'ml-1m-sasrec'; '' = not checked), processed-dataset
    cache key (meta 'dataset_cache_key' = the dataset's meta.json 'cache_key', where both sides have one;
    meta 'cache_key' is the text side's own embedding-cache key) and width (None = any)."""
    table, meta = read_item_embeddings(path)
    array_path, meta_path = _paths(path)
    if "num_items" in meta and int(meta["num_items"]) != int(num_items):
        raise DataError(f"{meta_path}: embeddings are for {meta['num_items']} items but this dataset has "
                        f"{num_items}; the artifact belongs to another dataset or preprocessing")
    if table.shape[0] != num_items + 1:
        raise DataError(f"{array_path}: {table.shape[0]} rows but this dataset needs num_items + 1 = "
                        f"{num_items + 1} (row 0 is padding)")
    if dataset and meta.get("dataset") and str(meta["dataset"]) != str(dataset):
        raise DataError(f"{meta_path}: embeddings are for dataset {meta['dataset']!r}, this run uses {dataset!r} "
                        "(config key data.name)")
    made_for = meta.get("dataset_cache_key")
    if cache_key and made_for and str(made_for) != str(cache_key):
        raise DataError(f"{meta_path}: embeddings were made for processed dataset {made_for!r}, this run "
                        f"uses {cache_key!r} (same name, other preprocessing options or source files)")
    if dim is not None and table.shape[1] != dim:
        raise DataError(f"{array_path}: embedding width {table.shape[1]} but the model needs {dim} "
                        "(reduce the embeddings to model.hidden_dim first, e.g. launch.embed with PCA)")
    return table


def _paths(path) -> tuple[pathlib.Path, pathlib.Path]:
    """(array file, meta file) of an artifact given as its directory or its .npy file."""
    if not str(path):
        raise DataError("no item-embeddings artifact given (an empty path)")
    directory = pathlib.Path(path)
    if directory.suffix == ".npy":
        directory = directory.parent
    return directory / EMBEDDINGS_FILE, directory / META_FILE


@functools.lru_cache(maxsize=4)
def _read_array(array_path: str, mtime_ns: int) -> np.ndarray:
    """Cached per file version: building a model traces it more than once (eval_shape, then init)."""
    try:
        table = np.load(array_path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise DataError(f"{array_path}: cannot read the embeddings array ({e})") from None
    table = np.asarray(table, dtype=np.float32)
    table.setflags(write=False)
    return table


def _read_meta(meta_path: pathlib.Path) -> dict:
    if not meta_path.exists():
        return {}
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as e:
        raise DataError(f"{meta_path}: cannot read ({e})") from None
    if not isinstance(meta, dict):
        raise DataError(f"{meta_path}: not a JSON object")
    return meta


def write_artifact(directory, table: np.ndarray, meta: dict, text_rows: list[dict] | None = None) -> pathlib.Path:
    """Write item_embeddings.npy + meta.json (+ texts.jsonl) into a temp dir beside `directory`, then
    rename it into place: a reader never sees half an artifact."""

    def fill(staging: pathlib.Path) -> None:
        np.save(staging / EMBEDDINGS_FILE, np.asarray(table, dtype=np.float32))
        if text_rows is not None:
            with open(staging / TEXTS_FILE, "w", encoding="utf-8") as f:
                f.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in text_rows)
        (staging / META_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False), encoding="utf-8")

    return write_dir_atomic(directory, fill)


def write_item_embeddings(path, table: np.ndarray, dataset: str, **meta) -> pathlib.Path:
    """An artifact with the minimal metadata (tests and small tools; launch.embed writes the real ones)."""
    table = np.asarray(table, dtype=np.float32)
    info = {"dataset": dataset, "num_items": int(table.shape[0] - 1), "dim": int(table.shape[1]), **meta}
    return write_artifact(path, table, info)
