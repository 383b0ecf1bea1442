"""Mistakes on the launch.train command line end in one line with a "did you mean" (issue 41), and --help
lists the presets and config keys with their defaults."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def train(*args):
    return subprocess.run([sys.executable, "-m", "launch.train", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=False)


@pytest.mark.parametrize("args,line", [
    (["--config", "configs/sasrec.py:tiny", "--config.train.learnin_rate=0.1"],
     ("error: unknown config key 'train.learnin_rate' (--config.train.learnin_rate=0.1); "
     "did you mean 'train.learning_rate'?")),
    (["--config", "configs/sasrec.py:tiny", "--config.trian.learning_rate=0.1"],
     ("error: unknown config key 'trian.learning_rate' (--config.trian.learning_rate=0.1); "
     "did you mean 'train.learning_rate'?")),
    (["--config", "configs/sasrex.py:tiny"], ("error: config file configs/sasrex.py not found; "
     "did you mean 'configs/sasrec.py'?")),
    (["--config", "configs/sasrec.py:tinyy"],
     "error: unknown preset 'tinyy' for configs/sasrec.py (--config configs/sasrec.py:tinyy); did you mean 'tiny'?"),
    (["--config", "configs/sasrec.py:tiny", "--config.train.batch_size=many"],
     "error: flag --config.train.batch_size=many: invalid literal for int() with base 10: 'many'"),
    (["--config", "configs/sasrec.py:tiny", "--config.train.learning_rate=nan"],
     "error: config key train.learning_rate=nan must be a finite number >= 0"),
])
def test_one_line_error(tmp_path, args, line):
    proc = train(*args, "--workdir", str(tmp_path / "run"))
    assert (proc.returncode, proc.stderr.strip()) == (2, line)
    assert not (tmp_path / "run").exists()


def test_help_lists_presets_and_keys_with_defaults():
    proc = train("--help")
    assert proc.returncode == 0
    assert "--workdir" in proc.stdout and "--config_help" in proc.stdout
    assert "configs/sasrec.py: presets ml-1m, ml-1m-raw, beauty, yelp, tiny" in proc.stdout
    assert "defaults under preset 'ml-1m'" in proc.stdout and "  train.learning_rate = 0.003" in proc.stdout
    lines = train("--config_help", "--config", "configs/sknn.py:tiny").stdout.splitlines()
    assert lines[0].startswith("configs/sknn.py: presets ml-1m,")
    assert "defaults under preset 'tiny'" in lines[1]
    assert any(line.startswith("  data.name = 'ml-100k'") for line in lines)


@pytest.mark.parametrize("assignment,line", [
    ("eval.kss=(10,)", "error: unknown config key 'eval.kss'; did you mean 'eval.ks'?"),
    ("eval.batch_size=0", "error: config key eval.batch_size=0 must be an integer >= 1"),
])
def test_evaluate_set_with_a_bad_key_or_value(tmp_path, assignment, line):
    from configs.sasrec import get_config
    from engine.run_dir import config_to_dict, write_json_atomic
    (tmp_path / "run").mkdir()
    write_json_atomic(tmp_path / "run" / "config.json", config_to_dict(get_config("tiny")))
    proc = subprocess.run([sys.executable, "-m", "launch.evaluate", "--workdir", str(tmp_path / "run"),
                           "--set", assignment], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert (proc.returncode, proc.stderr.strip()) == (2, line)
