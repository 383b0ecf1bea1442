"""engine.run_dir: one dotted-key setter serves command-line overrides and the LM's sequential stages (unknown keys
are refused with a suggestion, a stage's error names the stage); atomic writes leave ordinary permissions."""

import ml_collections
import pytest

from engine.run_dir import apply_override, set_key


def _config():
    return ml_collections.ConfigDict({"train": {"learning_rate": 1e-3, "steps": 10}, "data": {"name": "x"}})


def test_override_parses_literals_and_strings():
    c = _config()
    apply_override(c, "train.learning_rate=0.5")
    apply_override(c, "data.name=ml-1m")
    assert c.train.learning_rate == 0.5 and c.data.name == "ml-1m"


def test_unknown_key_suggests_the_close_one():
    with pytest.raises(KeyError, match="did you mean 'train.learning_rate'"):
        set_key(_config(), "train.learning_rat", 1.0)
    with pytest.raises(KeyError, match="unknown config key 'nope.steps'"):
        set_key(_config(), "nope.steps", 1)


def test_wrong_type_names_the_key():
    with pytest.raises(ValueError, match="config key train.steps"):
        set_key(_config(), "train.steps", "many")


def test_lm_stage_error_names_the_stage(tmp_path):
    from configs.lm import get_config
    from engine.lm.stages import run

    config = get_config()
    config.stages = ({"name": "first", "lora.rnk": 4},)
    with pytest.raises(KeyError, match=r"stages\[0\] \(first\): unknown config key 'lora.rnk'; did you mean 'lora.rank'"):
        run(config, tmp_path)


def test_atomic_outputs_get_ordinary_permissions(tmp_path):
    # mkstemp/mkdtemp are private (0600/0700); a run's files must be readable like those open()/mkdir() make.
    import os

    from engine.run_dir import write_dir_atomic, write_json_atomic

    mask = os.umask(0o022)
    os.umask(mask)
    write_json_atomic(tmp_path / "a.json", {"x": 1})
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o666 & ~mask
    out = write_dir_atomic(tmp_path / "d", lambda d: (d / "f.txt").write_text("x"))
    assert out.stat().st_mode & 0o777 == 0o777 & ~mask
