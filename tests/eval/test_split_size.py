"""Splits too small to measure anything (issue 41): a single-user dataset used to report HR@10 = NDCG@10 = 1.
Now a split whose every prompt is a hit by construction is refused, and a small one is warned about."""

import pytest

from configs.popularity import get_config
from engine.data.sources import load_dataset
from engine.data.splits import split_from_config
from engine.eval.split_size import check_split_size, left_to_rank
from engine.runner import run_experiment


def _config(tmp_path, rows):
    path = tmp_path / "log.csv"
    path.write_text("user,item,timestamp\n" + "".join(f"{u},{i},{t}\n" for t, (u, i) in enumerate(rows)))
    config = get_config("tiny")
    config.data.update(name="custom", path=str(path), cache_dir=str(tmp_path / "cache"))
    return config


def test_single_user_run_is_refused(tmp_path):
    config = _config(tmp_path, [(1, item) for item in range(1, 13)])  # one user, 12 items
    config.eval.ks = (5, 10)
    with pytest.raises(ValueError) as error:
        run_experiment(config, tmp_path / "run")
    assert str(error.value) == (
        "split 'valid' (1 prompts, 1 training users, 12 items): every prompt leaves at most 9 other items to rank "
        "once its history is masked, so HR@10 is 1 whatever the model; use more data or a smaller eval.ks")
    assert not (tmp_path / "run").exists()


def test_partly_certain_hits_and_few_prompts_are_warned_about(tmp_path):
    # User 1 saw 22 of the 25 items (its prompts leave 2 to rank), user 2 only 3 of them.
    rows = [(1, item) for item in range(1, 23)] + [(2, item) for item in (23, 24, 25)]
    config = _config(tmp_path, rows)
    split = split_from_config(load_dataset(config.data), config.split)
    assert left_to_rank(split, "test", mask_history=True).tolist() == [25 - 1 - 21, 25 - 1 - 2]
    assert left_to_rank(split, "test", mask_history=False).tolist() == [24, 24]
    lines = []
    check_split_size(split, (5, 10), mask_history=True, warn=lines.append)
    where = "split 'test' (2 prompts, 2 training users, 25 items)"
    assert f"warning: {where}: 1 prompts leave at most 9 other items to rank, so they count as hits at K=10 " \
           "whatever the model" in lines
    assert f"warning: {where}: one prompt moves a metric by 50.0%; too few prompts to compare models" in lines
    assert len(lines) == 4  # the same two for 'valid'
