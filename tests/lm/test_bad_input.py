"""Bad input ends with one line naming the file, tensor or key, and leaves nothing half-written."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from engine.lm.convert import convert_gguf
from engine.lm.score import Scorer
from engine.lm.tokenizer import LMTokenizer
from engine.lm.weights import load_lm


@pytest.fixture
def copy_dir(tiny_model_dir, tmp_path):
    out = tmp_path / "model"
    shutil.copytree(tiny_model_dir, out)
    return out


def _rewrite_tensors(path, change):
    from safetensors.numpy import load_file, save_file

    tensors = load_file(str(path))
    change(tensors)
    save_file(tensors, str(path))


def test_missing_weight_files(copy_dir):
    (copy_dir / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match=r"model: neither model.safetensors nor model.safetensors.index.json"):
        load_lm(copy_dir)


def test_missing_tensor(copy_dir):
    _rewrite_tensors(copy_dir / "model.safetensors", lambda t: t.pop("model.layers.1.mlp.up_proj.weight"))
    with pytest.raises(ValueError, match=r"tensor model.layers.1.mlp.up_proj.weight missing"):
        load_lm(copy_dir)


def test_mismatched_shape_and_dtype(copy_dir):
    name = "model.layers.0.self_attn.k_proj.weight"
    _rewrite_tensors(copy_dir / "model.safetensors", lambda t: t.update({name: np.zeros((8, 33), np.float32)}))
    with pytest.raises(ValueError, match=r"model.safetensors: tensor model.layers.0.self_attn.k_proj.weight has shape "
                                         r"\(8, 33\), expected \(16, 32\) from .*config.json"):
        load_lm(copy_dir)
    _rewrite_tensors(copy_dir / "model.safetensors", lambda t: t.update({name: np.zeros((16, 32), np.int32)}))
    with pytest.raises(ValueError, match=r"k_proj.weight has dtype int32, expected a float type"):
        load_lm(copy_dir)


def test_extra_tensor_means_another_architecture(copy_dir):
    _rewrite_tensors(copy_dir / "model.safetensors",
                     lambda t: t.update({"model.layers.0.self_attn.q_norm.weight": np.ones(8, np.float32)}))
    with pytest.raises(ValueError, match=r"tensor model.layers.0.self_attn.q_norm.weight .* is not part of a llama"):
        load_lm(copy_dir)


def test_unknown_architecture(copy_dir):
    config = json.loads((copy_dir / "config.json").read_text())
    (copy_dir / "config.json").write_text(json.dumps({**config, "model_type": "gpt_neox"}))
    with pytest.raises(ValueError, match=r"config.json: model_type 'gpt_neox' is not supported; known: llama, qwen2"):
        load_lm(copy_dir)
    (copy_dir / "config.json").write_text("{\n  \"model_type\": \n")
    with pytest.raises(ValueError, match=r"config.json:3: not valid JSON"):
        load_lm(copy_dir)


def test_no_chat_template(copy_dir):
    config = json.loads((copy_dir / "tokenizer_config.json").read_text())
    del config["chat_template"]
    (copy_dir / "tokenizer_config.json").write_text(json.dumps(config))
    tokenizer = LMTokenizer(copy_dir)
    with pytest.raises(ValueError, match=r"tokenizer_config.json: no chat_template .*config key data.template"):
        tokenizer.apply_chat_template([{"role": "user", "content": "hi"}])


def test_prompt_longer_than_the_context(tiny_model_dir):
    lm = load_lm(tiny_model_dir)
    scorer = Scorer(lm, LMTokenizer(tiny_model_dir), batch_size=2)
    with pytest.raises(ValueError, match=r"prompt 1: 513 tokens exceed the model's context of 512 .*config.json"):
        scorer.next_token_logprobs([[5] * 10, [5] * 513], [5])


def test_gguf_of_an_unknown_architecture(tmp_path):
    import gguf

    path = tmp_path / "odd.gguf"
    writer = gguf.GGUFWriter(str(path), "gpt2")
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(ValueError, match=r"odd.gguf: general.architecture 'gpt2' is not supported"):
        convert_gguf(path, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.*"))


def test_cli_bad_examples_file_is_one_line_and_writes_no_run(tiny_model_dir, tmp_path):
    bad = tmp_path / "train.jsonl"
    bad.write_text('{"instruction": "a", "output": "Yes"}\n{"instruction": \n')
    workdir = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "launch.lm", "--mode=train", "--config", "configs/lm.py",
                           f"--workdir={workdir}", f"--config.model.dir={tiny_model_dir}",
                           f"--config.data.train={bad}", f"--config.data.valid={bad}"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == f"error: {bad}:2: not valid JSON (Expecting value)"
    assert not (workdir / "config.json").exists()
