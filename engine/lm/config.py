"""The architecture of a Hugging Face Llama / Qwen2 model directory, read from its config.json."""

from __future__ import annotations

import dataclasses
import json
import pathlib

ARCHITECTURES = ("llama", "qwen2")
ROPE_TYPES = ("default", "linear", "llama3")


@dataclasses.dataclass(frozen=True)
class LMConfig:
    model_type: str
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    rms_norm_eps: float
    rope_theta: float
    max_position_embeddings: int
    tie_word_embeddings: bool
    attention_bias: bool       # q/k/v biases (Qwen2 always; Llama when attention_bias)
    output_bias: bool          # o_proj bias (Llama with attention_bias only)
    mlp_bias: bool
    rope_type: str = "default"
    rope_factor: float = 1.0
    rope_low_freq_factor: float = 1.0
    rope_high_freq_factor: float = 4.0
    rope_original_max_position: int = 8192

    @classmethod
    def from_dict(cls, raw: dict, source: str = "config.json") -> LMConfig:
        model_type = raw.get("model_type")
        if model_type not in ARCHITECTURES:
            raise ValueError(f"{source}: model_type {model_type!r} is not supported; known: {', '.join(ARCHITECTURES)}")
        if raw.get("hidden_act", "silu") != "silu":
            raise ValueError(f"{source}: hidden_act {raw['hidden_act']!r} is not supported (only 'silu')")
        if model_type == "qwen2" and raw.get("use_sliding_window"):
            raise ValueError(f"{source}: use_sliding_window=true is not supported")

        def need(key):
            if key not in raw:
                raise ValueError(f"{source}: key {key!r} missing")
            return raw[key]

        heads = int(need("num_attention_heads"))
        hidden = int(need("hidden_size"))
        # transformers 5 writes rope_parameters {rope_theta, rope_type, ...}; older files rope_theta + rope_scaling.
        rope = dict(raw.get("rope_parameters") or {})
        scaling = dict(raw.get("rope_scaling") or {})
        rope = {**scaling, **rope}
        theta = float(rope.get("rope_theta", raw.get("rope_theta", 10000.0)))
        rope_type = rope.get("rope_type", rope.get("type", "default"))
        if rope_type not in ROPE_TYPES:
            raise ValueError(f"{source}: rope type {rope_type!r} (rope_scaling / rope_parameters) is not supported; "
                             f"known: {', '.join(ROPE_TYPES)}")
        llama_bias = bool(raw.get("attention_bias", False))
        return cls(
            model_type=model_type, vocab_size=int(need("vocab_size")), hidden_size=hidden,
            intermediate_size=int(need("intermediate_size")), num_layers=int(need("num_hidden_layers")),
            num_heads=heads, num_kv_heads=int(raw.get("num_key_value_heads") or heads),
            head_dim=int(raw.get("head_dim") or hidden // heads), rms_norm_eps=float(raw.get("rms_norm_eps", 1e-6)),
            rope_theta=theta, max_position_embeddings=int(raw.get("max_position_embeddings", 2048)),
            tie_word_embeddings=bool(raw.get("tie_word_embeddings", False)),  # both HF classes default to untied
            attention_bias=model_type == "qwen2" or llama_bias, output_bias=model_type == "llama" and llama_bias,
            mlp_bias=bool(raw.get("mlp_bias", False)), rope_type=rope_type,
            rope_factor=float(rope.get("factor", 1.0)),
            rope_low_freq_factor=float(rope.get("low_freq_factor", 1.0)),
            rope_high_freq_factor=float(rope.get("high_freq_factor", 4.0)),
            rope_original_max_position=int(rope.get("original_max_position_embeddings", 8192)))

    @classmethod
    def from_dir(cls, model_dir) -> LMConfig:
        path = pathlib.Path(model_dir) / "config.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: not found (model.dir must be a Hugging Face model directory)")
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}:{error.lineno}: not valid JSON ({error.msg})") from None
        return cls.from_dict(raw, str(path))
