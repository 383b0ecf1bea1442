"""Fixtures of the LM tests: the converted SmolLM2-135M-Instruct directory (launch/setup.sh makes it) and the
transformers reference model on the same weights.

Without the converted model or the dev dependencies (torch, transformers, peft) the tests skip, unless
SEQREC_REQUIRE_LLM=1 (CI), which turns the skip into a failure."""

import importlib.util
import os

import pytest

from engine.lm.convert import default_model_dir


def _require(what: str, ok: bool):
    if ok:
        return
    if os.environ.get("SEQREC_REQUIRE_LLM") == "1":
        pytest.fail(what)
    pytest.skip(what)


@pytest.fixture(scope="session")
def model_dir():
    path = default_model_dir()
    _require(f"{path}: converted model not found (run `bash launch/setup.sh`)", (path / "config.json").is_file())
    return path


@pytest.fixture(scope="session")
def torch_required():
    _require("torch/transformers/peft not installed (bash launch/setup.sh --dev)",
             all(importlib.util.find_spec(m) for m in ("torch", "transformers", "peft")))


@pytest.fixture(scope="session")
def hf_model(model_dir, torch_required):
    import torch
    import transformers

    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    return model.eval()


@pytest.fixture(scope="session")
def lm(model_dir):
    from engine.lm.weights import load_lm
    return load_lm(model_dir)


@pytest.fixture(scope="session")
def tokenizer(model_dir):
    from engine.lm.tokenizer import LMTokenizer
    return LMTokenizer(model_dir)


TINY_CONFIG = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "vocab_size": 49152, "hidden_size": 32,
               "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
               "max_position_embeddings": 512, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
               "tie_word_embeddings": True, "hidden_act": "silu", "bos_token_id": 1, "eos_token_id": 2,
               "pad_token_id": 2}


@pytest.fixture(scope="session")
def tiny_model_dir(model_dir, tmp_path_factory):
    """A 2-layer, 32-wide random Llama with SmolLM2's tokenizer: the trainer's tests run in seconds on it."""
    import json

    from flax import nnx

    from engine.lm.config import LMConfig
    from engine.lm.export import write_hf_dir
    from engine.lm.model import CausalLM
    from engine.lm.weights import LoadedLM

    config = LMConfig.from_dict(TINY_CONFIG)
    graphdef, params, rest = nnx.split(CausalLM(config, rngs=nnx.Rngs(0)), nnx.Param, ...)
    out = tmp_path_factory.mktemp("tiny") / "model"
    write_hf_dir(LoadedLM(config, graphdef, params, None, rest, model_dir), params, out)
    (out / "config.json").write_text(json.dumps(TINY_CONFIG))
    return out
