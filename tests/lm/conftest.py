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
