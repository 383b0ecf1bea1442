import jax.numpy as jnp
import numpy as np
import pytest

from configs.common import base_config
from engine.train.experiment import make_optimizer, make_schedule


def _train(**overrides):
    train = base_config().train
    train.update({"learning_rate": 1e-2, "warmup_steps": 10, **overrides})
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
        make_schedule(_train(schedule="step"), 100)


def test_linear_warms_up_then_falls_to_zero_at_the_last_step():
    linear = make_schedule(_train(schedule="linear"), 110)
    assert float(linear(5)) == pytest.approx(5e-3)
    assert float(linear(10)) == pytest.approx(1e-2)
    assert float(linear(60)) == pytest.approx(5e-3)   # half-way down the 100 decay steps
    assert float(linear(110)) == pytest.approx(0.0, abs=1e-12)


def test_no_warmup_starts_at_the_peak_rate():
    # The SASRec+ reference: Adam at a constant rate from the first step.
    constant = make_schedule(_train(schedule="constant", warmup_steps=0), 100)
    assert float(constant(0)) == pytest.approx(1e-2)
    assert float(constant(99)) == pytest.approx(1e-2)


def test_adam_b2_reaches_the_optimizer():
    params = {"w": jnp.ones((2, 2))}
    grads = [{"w": jnp.full((2, 2), g)} for g in (1.0, 0.1)]

    def second_update(b2):
        opt = make_optimizer(_train(warmup_steps=0, grad_clip=0.0, adam_b2=b2), 100)
        state = opt.init(params)
        for g in grads:
            update, state = opt.update(g, state, params)
        return float(update["w"][0, 0])

    # After a large then a small gradient, a longer second-moment memory gives a smaller step.
    assert abs(second_update(0.999)) < abs(second_update(0.9))
