import jax
import jax.numpy as jnp
import numpy as np

from tests.models.conftest import make_model

NUM_ITEMS = 30
MASK = NUM_ITEMS + 1


def cloze(model, inputs, targets, seed=0):
    return model.training_pairs(jnp.asarray(inputs), jnp.asarray(targets), jax.random.key(seed))


def test_cloze_masks_real_positions_of_the_whole_window():
    model = make_model("bert4rec", num_items=NUM_ITEMS, mask_prob=0.3)
    rng = np.random.default_rng(0)
    # 256 windows of 9 items cut as TrainBatches does, with 0..8 padding slots, plus two padding rows.
    windows = rng.integers(1, NUM_ITEMS + 1, size=(258, 9))
    pads = np.concatenate([rng.integers(0, 8, size=256), [9, 9]])
    windows[np.arange(9)[None] < pads[:, None]] = 0
    inputs, targets = cloze(model, windows[:, :-1], windows[:, 1:])
    inputs, targets = np.asarray(inputs), np.asarray(targets)

    assert inputs.shape == targets.shape == windows.shape  # the last target is part of the window
    masked = inputs == MASK
    np.testing.assert_array_equal(targets[masked], windows[masked])  # masked: the original item
    assert np.all(targets[~masked] == 0)                            # elsewhere: no target
    np.testing.assert_array_equal(inputs[~masked], windows[~masked])
    assert not np.any(masked & (windows == 0))                      # padding is never masked
    assert np.all(masked[:256].sum(axis=1) >= 1)                    # every real sequence has a target
    assert not np.any(masked[256:])                                 # padding rows have none
    assert not np.any(targets == MASK) and targets.max() <= NUM_ITEMS
    # The masking rate follows mask_prob (slightly above it: the at-least-one rule adds some).
    rate = masked.sum() / (windows > 0).sum()
    assert 0.27 < rate < 0.38, rate


def test_cloze_draws_differ_by_key():
    model = make_model("bert4rec", num_items=NUM_ITEMS, mask_prob=0.5)
    window = np.arange(1, 10)[None].repeat(8, axis=0)
    a, _ = cloze(model, window[:, :-1], window[:, 1:], seed=1)
    b, _ = cloze(model, window[:, :-1], window[:, 1:], seed=2)
    assert not np.array_equal(a, b)


def test_one_item_sequences_always_mask_their_item():
    model = make_model("bert4rec", num_items=NUM_ITEMS, mask_prob=0.01)
    inputs, targets = cloze(model, np.zeros((4, 5), np.int32), np.array([[0, 0, 0, 0, 7]] * 4))
    assert np.all(np.asarray(inputs)[:, -1] == MASK) and np.all(np.asarray(targets)[:, -1] == 7)


def test_prompt_drops_the_oldest_item_and_asks_with_the_mask_token():
    model = make_model("bert4rec", num_items=NUM_ITEMS)
    inputs = jnp.array([[0, 0, 3, 4, 5], [1, 2, 3, 4, 5]])
    prompt = model.prompt(inputs)
    assert prompt.shape == inputs.shape and prompt.dtype == inputs.dtype
    np.testing.assert_array_equal(prompt, [[0, 3, 4, 5, MASK], [2, 3, 4, 5, MASK]])


def test_mask_token_embedded_but_never_scored():
    model = make_model("bert4rec", num_items=NUM_ITEMS)
    assert model.item_embedding.embedding.shape[0] == NUM_ITEMS + 2
    np.testing.assert_array_equal(model.output_table, model.item_embedding.embedding[: NUM_ITEMS + 1])
    # A window of max_len + 1 tokens (a full training window) has its own position slots.
    hidden = model(jnp.arange(1, 10)[None])
    assert hidden.shape == (1, 9, 16) and np.all(np.isfinite(hidden))
