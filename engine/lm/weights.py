"""Hugging Face safetensors (single file or sharded with an index) -> the NNX model's state, checked.

    lm = load_lm(model_dir, lora=LoRASpec(8, 16.0), seed=0)
    lm.graphdef, lm.params (frozen base, nnx.State), lm.lora (adapter, nnx.State or None), lm.config

Every tensor the architecture needs must be present with the shape config.json implies and a floating dtype;
a tensor the architecture does not use is an error too (it means another architecture). Errors name the file
and the tensor.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from engine.lm.config import LMConfig
from engine.lm.model import CausalLM, LoRASpec, LoRAWeight

_LAYER_PREFIX = {"q_proj": "self_attn.", "k_proj": "self_attn.", "v_proj": "self_attn.", "o_proj": "self_attn.",
                 "gate_proj": "mlp.", "up_proj": "mlp.", "down_proj": "mlp.", "input_layernorm": "",
                 "post_attention_layernorm": ""}
_IGNORED_SUFFIXES = ("rotary_emb.inv_freq",)  # buffers older checkpoints carry


@dataclasses.dataclass
class LoadedLM:
    config: LMConfig
    graphdef: nnx.GraphDef
    params: nnx.State          # frozen base weights (nnx.Param)
    lora: nnx.State | None     # trainable adapter (LoRAWeight), None without LoRA
    rest: nnx.State            # anything else (empty for this model)
    model_dir: pathlib.Path
    lora_spec: LoRASpec | None = None

    def model(self, params=None, lora=None) -> CausalLM:
        parts = [self.params if params is None else params]
        if self.lora is not None:
            parts.append(self.lora if lora is None else lora)
        return nnx.merge(self.graphdef, *parts, self.rest)


def hf_name(path: tuple[str, ...], layer: int | None = None) -> tuple[str, bool]:
    """(Hugging Face tensor name, transpose?) of one of our parameter paths (per layer for stacked ones)."""
    if path == ("embed_tokens",):
        return "model.embed_tokens.weight", False
    if path == ("norm", "weight"):
        return "model.norm.weight", False
    if path == ("lm_head",):
        return "lm_head.weight", True
    if path[0] == "layers" and path[1] in _LAYER_PREFIX:
        module, leaf = path[1], path[2]
        base = f"model.layers.{layer}.{_LAYER_PREFIX[module]}{module}"
        if leaf == "kernel":
            return f"{base}.weight", True
        return f"{base}.{leaf}", False
    raise KeyError(f"no Hugging Face name for parameter {'.'.join(path)}")


def param_path(keypath) -> tuple[str, ...]:
    """The parameter names of a state leaf's key path, e.g. ("layers", "q_proj", "kernel")."""
    return tuple(k.key for k in keypath if isinstance(k, jax.tree_util.DictKey))


class TensorFiles:
    """Name -> file of every tensor in model.safetensors or the shards of model.safetensors.index.json."""

    def __init__(self, model_dir: pathlib.Path):
        from safetensors import SafetensorError, safe_open

        index = model_dir / "model.safetensors.index.json"
        single = model_dir / "model.safetensors"
        if index.is_file():
            weight_map = json.loads(index.read_text())["weight_map"]
            files = sorted(set(weight_map.values()))
        elif single.is_file():
            files = ["model.safetensors"]
        else:
            raise FileNotFoundError(f"{model_dir}: neither model.safetensors nor model.safetensors.index.json found")
        self.where, self._handles = {}, {}
        for name in files:
            path = model_dir / name
            if not path.is_file():
                raise FileNotFoundError(f"{path}: shard listed in {index.name} not found")
            try:
                handle = safe_open(str(path), framework="np")
            except (SafetensorError, OSError) as error:  # a truncated or corrupt header
                raise ValueError(f"{path}: not a readable safetensors file ({error})") from None
            self._handles[path] = handle
            for key in handle.keys():  # noqa: SIM118 (a safe_open handle is not a dict)
                self.where[key] = path

    def get(self, name: str) -> np.ndarray:
        return self._handles[self.where[name]].get_tensor(name)


def load_lm(model_dir, *, lora: LoRASpec | None = None, seed: int = 0, dtype: str = "float32",
            mesh=None) -> LoadedLM:
    """The model of a Hugging Face directory with its weights (in `dtype`) and, with `lora`, a fresh adapter
    (PEFT's init from `seed`). `mesh` (an engine.lm.batching.LMMesh) places each array where its sharding says
    (replicated, or split over the mesh's `model` axis); None: the default device."""
    model_dir = pathlib.Path(model_dir)
    config = LMConfig.from_dir(model_dir)
    files = TensorFiles(model_dir)
    abstract = nnx.eval_shape(lambda: CausalLM(config, lora, rngs=nnx.Rngs(seed)))
    graphdef, base, adapter, rest = nnx.split(abstract, nnx.Param, LoRAWeight, ...)
    used: set[str] = set()
    target_dtype = jnp.dtype(dtype)

    def fetch(name: str, transpose: bool, want: tuple[int, ...]) -> np.ndarray:
        if name not in files.where:
            raise ValueError(f"{model_dir}: tensor {name} missing from the safetensors files "
                             f"(config.json says {config.model_type}, {config.num_layers} layers)")
        array = files.get(name)
        if not np.issubdtype(array.dtype, np.floating) and array.dtype.name != "bfloat16":
            raise ValueError(f"{files.where[name]}: tensor {name} has dtype {array.dtype}, expected a float type")
        array = array.T if transpose else array
        if array.shape != want:
            shown = tuple(reversed(array.shape)) if transpose else array.shape
            raise ValueError(f"{files.where[name]}: tensor {name} has shape {shown}, expected "
                             f"{tuple(reversed(want)) if transpose else want} from {model_dir / 'config.json'}")
        used.add(name)
        return array

    def fill(keypath, leaf):
        path = param_path(keypath)
        if path[0] == "layers":
            arrays = [fetch(*hf_name(path, i), leaf.shape[1:]) for i in range(config.num_layers)]
            array = np.stack(arrays)
        else:
            array = fetch(*hf_name(path), leaf.shape)
        return jax.device_put(array.astype(target_dtype), None if mesh is None else mesh.weight_sharding(path, array.shape))

    params = jax.tree_util.tree_map_with_path(fill, base)
    ignorable = {"lm_head.weight"} if config.tie_word_embeddings else set()
    unused = sorted(n for n in files.where if n not in used and n not in ignorable
                    and not n.endswith(_IGNORED_SUFFIXES))
    if unused:
        raise ValueError(f"{files.where[unused[0]]}: tensor {unused[0]} (and {len(unused) - 1} more) is not part of "
                         f"a {config.model_type} model as config.json describes it")
    lora_state = init_lora(adapter, seed, mesh) if lora is not None else None
    return LoadedLM(config, graphdef, params, lora_state, rest, model_dir, lora)


def init_lora(adapter_abstract, seed: int, mesh=None):
    """Fresh adapter weights for the abstract adapter state: A Kaiming-uniform, B zeros (PEFT's init)."""
    spec_leaves = jax.tree_util.tree_leaves_with_path(adapter_abstract)

    def make():
        key = jax.random.key(seed)
        out = {}
        for i, (keypath, leaf) in enumerate(spec_leaves):
            path = param_path(keypath)
            if path[-1] == "lora_b":
                out[path] = jnp.zeros(leaf.shape, leaf.dtype)
            else:  # lora_a [L, in, r]: Kaiming-uniform, bound 1/sqrt(in) (PEFT's default)
                bound = 1.0 / np.sqrt(leaf.shape[-2])
                out[path] = jax.random.uniform(jax.random.fold_in(key, i), leaf.shape, leaf.dtype, -bound, bound)
        return out

    shardings = None if mesh is None else {param_path(kp): mesh.weight_sharding(param_path(kp), leaf.shape)
                                            for kp, leaf in spec_leaves}
    values = jax.jit(make, out_shardings=shardings)()
    return jax.tree_util.tree_map_with_path(lambda kp, leaf: values[param_path(kp)], adapter_abstract)
