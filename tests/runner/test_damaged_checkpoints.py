"""Damaged checkpoints (issue 41): a truncated data or _METADATA file of the latest checkpoint is one line
naming it, and the run resumes from the previous retained checkpoint; with none left the error says what to
do; a damaged best checkpoint is read from the last-N copy of the same step. No TensorStore dump."""

import re
import shutil

import pytest

from engine.runner import evaluate_run, run_experiment
from engine.train.checkpoints import DamagedCheckpoint


@pytest.fixture(scope="module")
def finished(tmp_path_factory, data_cache):
    from configs.sasrec import get_config
    config = get_config("tiny")
    config.data.cache_dir = data_cache
    config.train.update(max_steps=20, eval_every=10, log_every=5)
    workdir = tmp_path_factory.mktemp("damaged") / "run"
    run_experiment(config, workdir)
    return config, workdir


def _copy(finished, tmp_path):
    config, workdir = finished
    shutil.copytree(workdir, tmp_path / "run")
    return config.copy_and_resolve_references(), tmp_path / "run"


def _truncate(path):
    path.write_bytes(path.read_bytes()[:10])


@pytest.mark.parametrize("damage", ["data", "metadata"])
def test_resumes_from_the_previous_checkpoint(finished, tmp_path, capfd, damage):
    config, workdir = _copy(finished, tmp_path)
    state = workdir / "checkpoints" / "last" / "20" / "state"
    _truncate(next((state / "d").iterdir()) if damage == "data" else state / "_METADATA")
    config.train.max_steps = 30
    capfd.readouterr()
    results = run_experiment(config, workdir)
    out, err = capfd.readouterr()
    assert results["timing"]["resumed_from_step"] == 10 and results["steps"] == 30
    lines = [line for line in out.splitlines() if "cannot be read" in line]
    assert len(lines) == 1 and re.fullmatch(
        rf"{re.escape(str(state.parent))}: checkpoint cannot be read \(.+\); moved to "
        rf"{re.escape(str(workdir / 'checkpoints' / 'damaged' / 'last-20'))}, resuming from the previous "
        r"checkpoint, step 10", lines[0]), lines
    assert "Traceback" not in err and "Event loop" not in err


def test_no_older_checkpoint_says_what_to_do(finished, tmp_path):
    config, workdir = _copy(finished, tmp_path)
    shutil.rmtree(workdir / "checkpoints" / "last" / "10")
    _truncate(workdir / "checkpoints" / "last" / "20" / "state" / "_METADATA")
    config.train.max_steps = 30
    with pytest.raises(DamagedCheckpoint) as error:
        run_experiment(config, workdir)
    assert re.fullmatch(rf"{re.escape(str(workdir / 'checkpoints' / 'last' / '20'))}: checkpoint cannot be read "
                        r"\(.+\); no older one is kept: delete the checkpoints folder to train from the start, or "
                        r"use a new --workdir", str(error.value))


def test_damaged_best_checkpoint_read_from_its_last_copy(finished, tmp_path, capfd):
    _, workdir = _copy(finished, tmp_path)
    expected = evaluate_run(workdir)["test"]
    best = next((workdir / "checkpoints" / "best").iterdir())
    _truncate(next((best / "state" / "d").iterdir()))
    capfd.readouterr()
    assert evaluate_run(workdir)["test"] == expected
    out, err = capfd.readouterr()
    assert f"{best}: best checkpoint cannot be read (" in out and f"using the copy in {workdir}/checkpoints/last/" in out
    assert "Traceback" not in err
    shutil.rmtree(workdir / "checkpoints" / "last" / best.name)
    with pytest.raises(DamagedCheckpoint, match=rf"; no other copy of step {best.name} is kept: train anew in a new "
                                                r"--workdir$"):
        evaluate_run(workdir)
