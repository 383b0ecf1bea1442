"""LoRA adapters on disk in PEFT's format, which transformers+PEFT and SGLang (`--lora-paths`) load:

  adapter_config.json          peft_type LORA, r, lora_alpha, lora_dropout, target_modules, base model path
  adapter_model.safetensors    base_model.model.model.layers.{i}.self_attn.q_proj.lora_A.weight [r, in],
                               ...lora_B.weight [out, r]
  base_model.json              ours: the base's architecture and a fingerprint of its weights, so an adapter is
                               never applied to another base model (PEFT ignores this file)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np

from engine.lm.model import LoRASpec
from engine.lm.weights import _LAYER_PREFIX, param_path
from engine.run_dir import write_dir_atomic

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors", "base_model.json")


def base_fingerprint(lm) -> dict:
    """Architecture + a digest of the embedding table's first rows: cheap, and different for any other base."""
    embed = np.asarray(jax.device_get(lm.params["embed_tokens"][...][:64]), np.float32)
    return {"architecture": dataclasses.asdict(lm.config),
            "embedding_digest": hashlib.sha256(embed.tobytes()).hexdigest()[:16],
            "model_dir": str(lm.model_dir)}


def peft_key(module: str, layer: int, which: str) -> str:
    return f"base_model.model.model.layers.{layer}.{_LAYER_PREFIX[module]}{module}.lora_{which}.weight"


def adapter_tensors(lora_state, num_layers: int) -> dict[str, np.ndarray]:
    out = {}
    for keypath, leaf in jax.tree_util.tree_leaves_with_path(lora_state):
        _, module, name = param_path(keypath)  # ('layers', 'q_proj', 'lora_a')
        stacked = np.asarray(jax.device_get(leaf), np.float32)
        for i in range(num_layers):
            which = "A" if name == "lora_a" else "B"
            out[peft_key(module, i, which)] = np.ascontiguousarray(stacked[i].T)  # ours [in, r] / [r, out]
    return out


def write_adapter(out_dir, lm, lora_state, spec: LoRASpec) -> pathlib.Path:
    """PEFT adapter files in `out_dir`, written to a temporary sibling and renamed into place."""
    from safetensors.numpy import save_file

    out_dir = pathlib.Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    config = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": spec.rank, "lora_alpha": spec.alpha,
              "lora_dropout": spec.dropout, "target_modules": sorted(spec.targets), "bias": "none",
              "base_model_name_or_path": str(lm.model_dir), "fan_in_fan_out": False, "inference_mode": True,
              "init_lora_weights": True, "use_rslora": False, "use_dora": False, "modules_to_save": None,
              "layers_to_transform": None, "revision": None}

    def fill(tmp):
        save_file(adapter_tensors(lora_state, lm.config.num_layers), tmp / "adapter_model.safetensors",
                  metadata={"format": "pt"})
        (tmp / "adapter_config.json").write_text(json.dumps(config, indent=2) + "\n")
        (tmp / "base_model.json").write_text(json.dumps(base_fingerprint(lm), indent=2) + "\n")

    return write_dir_atomic(out_dir, fill)


def read_adapter_spec(adapter_dir) -> LoRASpec:
    path = pathlib.Path(adapter_dir) / "adapter_config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found (not a PEFT adapter directory)")
    raw = json.loads(path.read_text())
    if raw.get("peft_type", "LORA") != "LORA":
        raise ValueError(f"{path}: peft_type {raw.get('peft_type')!r} is not LORA")
    for key in ("use_dora", "use_rslora"):
        if raw.get(key):
            raise ValueError(f"{path}: {key}=true is not supported")
    targets = raw.get("target_modules")
    if isinstance(targets, str) or not targets:
        raise ValueError(f"{path}: target_modules must be a list of projection names, got {targets!r}")
    return LoRASpec(int(raw["r"]), float(raw["lora_alpha"]), float(raw.get("lora_dropout", 0.0)),
                    tuple(sorted(targets)))


def read_adapter(adapter_dir, lm, lora_abstract):
    """Adapter weights for `lm` shaped like `lora_abstract` (the state of lm's own LoRASpec). Errors name the file
    and key when the adapter was made for another base or with another rank / target set."""
    from safetensors import safe_open

    adapter_dir = pathlib.Path(adapter_dir)
    spec = read_adapter_spec(adapter_dir)
    base_file = adapter_dir / "base_model.json"
    if base_file.is_file():
        saved, ours = json.loads(base_file.read_text()), base_fingerprint(lm)
        for key in ("architecture", "embedding_digest"):
            if saved.get(key) != ours[key]:
                raise ValueError(f"{base_file}: {key} differs from the base model {lm.model_dir} (the adapter was "
                                 f"trained on {saved.get('model_dir')}); give the base it was trained on")
    weights = adapter_dir / "adapter_model.safetensors"
    if not weights.is_file():
        raise FileNotFoundError(f"{weights}: not found")
    with safe_open(str(weights), framework="np") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    lm_spec = lm.lora_spec
    if lm_spec is not None and (spec.rank, tuple(sorted(spec.targets))) != (lm_spec.rank, tuple(sorted(lm_spec.targets))):
        raise ValueError(f"{adapter_dir / 'adapter_config.json'}: r={spec.rank}, target_modules={list(spec.targets)} "
                         f"differ from the config's lora.rank={lm_spec.rank}, lora.targets={list(lm_spec.targets)}")

    def fill(keypath, leaf):
        _, module, name = param_path(keypath)
        which = "A" if name == "lora_a" else "B"
        layers = []
        for i in range(lm.config.num_layers):
            key = peft_key(module, i, which)
            if key not in tensors:
                raise ValueError(f"{weights}: tensor {key} missing (an adapter for another base model?)")
            array = tensors[key].T
            if array.shape != leaf.shape[1:]:
                raise ValueError(f"{weights}: tensor {key} has shape {tensors[key].shape}, expected "
                                 f"{leaf.shape[1:][::-1]} for {lm.model_dir} (an adapter for another base model?)")
            layers.append(array)
        return jnp.asarray(np.stack(layers), leaf.dtype)

    return jax.tree_util.tree_map_with_path(fill, lora_abstract)


def resolve_adapter_dir(path) -> pathlib.Path:
    """A PEFT adapter directory, or a LoRA run directory (its best adapter in <run>/adapter)."""
    path = pathlib.Path(path)
    if (path / "adapter_config.json").is_file():
        return path
    if (path / "adapter" / "adapter_config.json").is_file():
        return path / "adapter"
    raise FileNotFoundError(f"{path}: neither a PEFT adapter directory nor a LoRA run directory with adapter/ "
                            "(config key lora.init_from)")
