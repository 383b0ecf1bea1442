"""Merged weights (base + scale * A @ B) as a Hugging Face directory or as a GGUF that llama.cpp serves.

    params = merged_params(lm, lora)
    write_hf_dir(lm, params, "out/merged")                       # config, tokenizer files, model.safetensors
    write_gguf(lm, params, "out/model-f16.gguf", source_gguf)     # the source GGUF's metadata and tokenizer

The GGUF keeps every key of the GGUF the base was converted from (tokenizer, chat template, hyper-parameters)
and replaces its tensors by the merged weights in F16 (F32 for norms and biases), with llama.cpp's q/k row order
for the llama architecture. The installed llama.cpp loads it like any model file (tested).
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import tempfile

import jax
import numpy as np

from engine.lm.convert import _BLOCK_NAMES, _TOP_NAMES, llama_permute
from engine.lm.weights import hf_name, param_path
from engine.run_dir import write_dir_atomic

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "generation_config.json", "chat_template.jinja",
                   "special_tokens_map.json")


def merged_params(lm, lora):
    """Base weights with the adapter folded in: kernel [L, in, out] += scale * lora_a [L, in, r] @ lora_b."""
    if lora is None:
        return lm.params
    spec = lm.lora_spec
    merged = jax.tree.map(lambda x: x, lm.params)  # a new container; arrays are replaced below, never mutated
    for module in spec.targets:
        a, b = lora["layers"][module]["lora_a"][...], lora["layers"][module]["lora_b"][...]
        kernel = merged["layers"][module]["kernel"]
        kernel.set_value(kernel[...] + spec.scale * (a @ b).astype(kernel[...].dtype))
    return merged


def hf_tensors(lm, params) -> dict[str, np.ndarray]:
    out = {}
    for keypath, leaf in jax.tree_util.tree_leaves_with_path(params):
        path = param_path(keypath)
        array = np.asarray(jax.device_get(leaf), np.float32)
        if path[0] == "layers":
            for i in range(lm.config.num_layers):
                name, transpose = hf_name(path, i)
                out[name] = np.ascontiguousarray(array[i].T if transpose else array[i])
        else:
            name, transpose = hf_name(path)
            out[name] = np.ascontiguousarray(array.T if transpose else array)
    return out


def write_hf_dir(lm, params, out_dir) -> pathlib.Path:
    from safetensors.numpy import save_file

    def fill(tmp):
        save_file(hf_tensors(lm, params), tmp / "model.safetensors", metadata={"format": "pt"})
        raw = json.loads((lm.model_dir / "config.json").read_text())
        (tmp / "config.json").write_text(json.dumps({**raw, "torch_dtype": "float32"}, indent=2) + "\n")
        for name in TOKENIZER_FILES:
            if (lm.model_dir / name).is_file():
                shutil.copy2(lm.model_dir / name, tmp / name)

    return write_dir_atomic(out_dir, fill)


def source_gguf(lm) -> pathlib.Path:
    """The GGUF the base directory was converted from (source.json, written by engine.lm.convert)."""
    source = lm.model_dir / "source.json"
    if not source.is_file():
        raise FileNotFoundError(f"{source}: not found; a GGUF export needs a base converted from a GGUF "
                                "(engine.lm.convert), whose metadata and tokenizer it reuses")
    path = pathlib.Path(json.loads(source.read_text())["gguf"])
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the GGUF named in {source} is gone")
    return path


def write_gguf(lm, params, out_path, gguf_path=None, *, dtype: str = "f16") -> pathlib.Path:
    """A GGUF with the source's metadata and these weights; written to a temporary name, then renamed."""
    import gguf

    if dtype not in ("f16", "f32"):
        raise ValueError(f"GGUF dtype {dtype!r}: f16 or f32")
    gguf_path = pathlib.Path(gguf_path) if gguf_path else source_gguf(lm)
    out_path = pathlib.Path(out_path)
    reader = gguf.GGUFReader(gguf_path)
    arch = reader.fields["general.architecture"].contents()
    tensors = hf_tensors(lm, params)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_path.parent, prefix=f".{out_path.name}.")
    os.close(fd)
    try:
        writer = gguf.GGUFWriter(tmp, arch)
        for field in reader.fields.values():
            if field.name in ("general.architecture", "general.file_type") or field.name.startswith("GGUF."):
                continue
            value_type = field.types[0]
            sub_type = field.types[-1] if value_type == gguf.GGUFValueType.ARRAY else None
            writer.add_key_value(field.name, field.contents(), value_type, sub_type=sub_type)
        writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if dtype == "f16" else gguf.LlamaFileType.ALL_F32)
        for t in reader.tensors:
            if t.name == "rope_freqs.weight":
                writer.add_tensor(t.name, np.asarray(t.data, np.float32))
                continue
            if t.name.startswith("blk."):
                _, block, rest = t.name.split(".", 2)
                name = f"model.layers.{block}.{_BLOCK_NAMES[rest]}"
            else:
                name = _TOP_NAMES[t.name]
            w = tensors[name]
            if arch == "llama" and ("attn_q." in t.name or "attn_k." in t.name) and w.ndim == 2:
                heads = lm.config.num_heads if "attn_q." in t.name else lm.config.num_kv_heads
                w = llama_permute(w, heads)
            # Norms and biases stay float32 (llama.cpp requires it); matrices in the asked type.
            w = w.astype(np.float16 if dtype == "f16" and w.ndim == 2 else np.float32)
            writer.add_tensor(t.name, np.ascontiguousarray(w))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.replace(tmp, out_path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise
    return out_path
