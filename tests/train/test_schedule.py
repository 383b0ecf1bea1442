import numpy as np
import pytest

from configs.common import base_config
from engine.train.experiment import make_schedule


def _train(**overrides):
    train = base_config().train
    train.update(dict(learning_rate=1e-2, warmup_steps=10, **overrides))
    return train


def test_wsd_follows_constant_then_decays_to_zero():
    wsd = make_schedule(_train(schedule="wsd", decay_steps=40), 100)
    constant = make_schedule(_train(schedule="constant"), 100)
    # Identical through warm-up and the stable phase: a constant-rate run can be continued into the decay.
    for step in range(61):
        assert float(wsd(step)) == pytest.approx(float(constant(step)))
    assert float(wsd(5)) == pytest.approx(5e-3)
    assert float(wsd(80)) == pytest.approx(5e-3)          # half-way through the cosine
    assert float(wsd(100)) == pytest.approx(0.0, abs=1e-12)
    decay = np.array([float(wsd(s)) for s in range(60, 101)])
    assert np.all(np.diff(decay) <= 0)


@pytest.mark.parametrize("decay_steps", [0, 91])
def test_wsd_rejects_decay_outside_the_run(decay_steps):
    with pytest.raises(ValueError, match="train.decay_steps"):
        make_schedule(_train(schedule="wsd", decay_steps=decay_steps), 100)


def test_unknown_schedule_names_the_key():
    with pytest.raises(ValueError, match="train.schedule"):
        make_schedule(_train(schedule="linear"), 100)
