"""Impossible config values are refused before anything is loaded or written, in one line naming the key
(issue 41), and every shipped config and preset passes the same checks."""

import importlib.util
import math
import pathlib

import pytest

from configs.common import PRESETS
from engine.runner import run_experiment
from engine.runner.config_checks import check_values

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("key,value,message", [
    ("train.learning_rate", -1e-3, "config key train.learning_rate=-0.001 must be a finite number >= 0"),
    ("train.learning_rate", math.nan, "config key train.learning_rate=nan must be a finite number >= 0"),
    ("model.dropout", 1.0, "config key model.dropout=1.0 must be a finite number in [0, 1)"),
    ("train.batch_size", 0, "config key train.batch_size=0 must be an integer >= 1"),
    ("model.max_len", 0, "config key model.max_len=0 must be an integer >= 1"),
    ("eval.batch_size", 0, "config key eval.batch_size=0 must be an integer >= 1"),
    ("train.adam_b2", 1.0, "config key train.adam_b2=1.0 must be a finite number in [0, 1)"),
    ("train.grad_clip", math.inf, "config key train.grad_clip=inf must be a finite number >= 0"),
    ("train.length_buckets", (0,), "config key train.length_buckets=(0,) must hold integers >= 1"),
    ("eval.ks", (10, 0), "config key eval.ks=(10, 0) must be one or more integers >= 1"),
])
def test_impossible_value_is_one_line_naming_the_key(tiny_config, tmp_path, key, value, message):
    section, name = key.split(".")
    tiny_config[section][name] = value
    with pytest.raises(ValueError) as error:
        run_experiment(tiny_config, tmp_path / "run")
    assert str(error.value) == message
    assert not (tmp_path / "run").exists()


def test_non_neural_config_is_checked_too(tmp_path):
    from configs.popularity import get_config
    config = get_config("tiny")
    config.eval.batch_size = -1
    with pytest.raises(ValueError, match=r"^config key eval.batch_size=-1 must be an integer >= 1$"):
        run_experiment(config, tmp_path / "run")


def test_every_shipped_config_and_preset_passes():
    checked = 0
    for path in sorted((ROOT / "configs").glob("*.py")):
        spec = importlib.util.spec_from_file_location(f"_check_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if not hasattr(module, "get_config"):
            continue
        for preset in [None, *PRESETS]:
            try:
                config = module.get_config(preset) if preset else module.get_config()
            except ValueError:  # a preset this config does not have
                continue
            check_values(config)
            checked += 1
    assert checked > 50
