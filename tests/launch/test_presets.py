"""The presets the README's headline numbers come from still resolve to the configs those runs saved, so the
README's command reproduces them (a change of preset needs new runs, not just a new default)."""

import json
import pathlib

import pytest

from configs import gru4rec, llm2sasrec, sasrec
from configs.common import ML_1M_TRAIN

RESULTS = pathlib.Path(__file__).resolve().parents[2] / "docs" / "results"
MEASURED = {"ml-1m": "sasrec-ml-1m-5k-fromstart-token-s*", "beauty": "sasrec-beauty-token-s*"}
RUNS = [(preset, run) for preset, pattern in MEASURED.items() for run in sorted(RESULTS.glob(pattern))]


@pytest.mark.parametrize(("preset", "run"), RUNS, ids=lambda x: getattr(x, "name", x))
def test_sasrec_preset_is_the_measured_recipe(preset, run):
    saved = json.loads((run / "config.json").read_text())
    config = sasrec.get_config(preset)
    # What the seeds' commands set beyond the preset: the seed, and metrics that do not touch training.
    config.seed = saved["seed"]
    config.eval.beyond_accuracy = saved["eval"]["beyond_accuracy"]
    assert json.loads(config.to_json()) == saved


@pytest.mark.parametrize("preset", MEASURED)
def test_three_seeds_are_kept(preset):
    assert sorted(run.name[-2:] for p, run in RUNS if p == preset) == ["s0", "s1", "s2"]


def test_the_sasrec_recipe_stays_with_sasrec():
    # The shared ml-1m training settings were measured with the other models and ml-1m-raw: unchanged.
    for config in (gru4rec.get_config("ml-1m"), sasrec.get_config("ml-1m-raw"), gru4rec.get_config("beauty")):
        assert config.train.loss_weighting == "batch"
    assert gru4rec.get_config("ml-1m").train.max_steps == ML_1M_TRAIN["max_steps"]
    # LLM2SASRec is compared with SASRec, so it trains with the same recipe.
    for preset in MEASURED:
        assert llm2sasrec.get_config(preset).train.to_dict() == sasrec.get_config(preset).train.to_dict()
