"""engine.text.reduction on hand-made tables: row 0 stays zero, each method does what it promises."""

import numpy as np
import pytest

from engine.text.reduction import autoencoder, reduce


def _table(items: np.ndarray) -> np.ndarray:
    """Prepend a padding row of junk: reduce() must ignore it and return zeros there."""
    return np.vstack([np.full((1, items.shape[1]), 7.0), items]).astype(np.float32)


def _rank2(n=60, width=10, seed=0):
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.normal(size=(width, 2)))[0].T  # two orthonormal directions
    coords = rng.normal(size=(n, 2)) * [3.0, 1.0]
    return coords @ basis + 0.5, basis  # offset: PCA must centre


def test_pca_recovers_a_rank_two_set():
    items, _ = _rank2()
    out = reduce(_table(items), "pca", 2)
    assert out.shape == (61, 2) and out.dtype == np.float32
    assert np.all(out[0] == 0)
    centred = items - items.mean(0)
    # The two components span the same plane, and projecting back reconstructs the centred data exactly.
    recon = out[1:] @ np.linalg.lstsq(out[1:], centred, rcond=None)[0]
    np.testing.assert_allclose(recon, centred, atol=1e-4)
    np.testing.assert_allclose(np.abs(out[1:]).sum(0).argmax(), 0)  # the first component has the larger spread
    # Distances are preserved (an orthonormal change of basis of the plane).
    d_in = np.linalg.norm(centred[:, None] - centred[None], axis=-1)
    d_out = np.linalg.norm(out[1:, None] - out[None, 1:], axis=-1)
    np.testing.assert_allclose(d_out, d_in, atol=1e-4)


def test_padding_row_is_ignored_by_the_fit():
    items, _ = _rank2()
    a, b = _table(items), _table(items)
    b[0] = -1000.0
    for method in ("pca", "random_projection"):
        np.testing.assert_array_equal(reduce(a, method, 2), reduce(b, method, 2))


def test_random_projection_shape_and_determinism():
    items = np.random.default_rng(1).normal(size=(40, 64))
    a = reduce(_table(items), "random_projection", 8, seed=3)
    assert a.shape == (41, 8) and np.all(a[0] == 0)
    np.testing.assert_array_equal(a, reduce(_table(items), "random_projection", 8, seed=3))
    assert not np.allclose(a, reduce(_table(items), "random_projection", 8, seed=4))
    # Gaussian projection with variance 1/dim: squared norms are preserved on average.
    ratio = (a[1:] ** 2).sum(1) / (items ** 2).sum(1)
    assert 0.6 < ratio.mean() < 1.4


def test_lda_separates_two_labelled_clusters_and_limits_components():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(30, 5)) + [4, 0, 0, 0, 0]
    b = rng.normal(size=(30, 5)) - [4, 0, 0, 0, 0]
    labels = np.array([""] + ["a"] * 30 + ["b"] * 30)
    out = reduce(_table(np.vstack([a, b])), "lda", 1, labels=labels)
    assert out.shape == (61, 1) and out[0, 0] == 0
    za, zb = out[1:31, 0], out[31:, 0]
    assert za.min() > zb.max() or zb.min() > za.max()  # perfectly separated on the one axis
    with pytest.raises(ValueError, match=r"at most \(number of classes - 1\) = 2 - 1 = 1"):
        reduce(_table(np.vstack([a, b])), "lda", 2, labels=labels)
    with pytest.raises(ValueError, match="needs labels"):
        reduce(_table(np.vstack([a, b])), "lda", 1)


def test_autoencoder_loss_falls_and_is_deterministic():
    items, _ = _rank2(n=50, width=12)
    codes, losses = autoencoder(items, 2, hidden=16, steps=200, learning_rate=1e-2, seed=0, return_losses=True)
    assert codes.shape == (50, 2)
    assert losses[-1] < 0.05 * losses[0]  # a rank-2 set fits through a 2-unit bottleneck
    again = reduce(_table(items), "autoencoder", 2, hidden=16, steps=200, learning_rate=1e-2, seed=0)
    np.testing.assert_array_equal(again[1:], codes)
    assert np.all(again[0] == 0)
    # An L2 weight penalty trades reconstruction for small weights: the fit gets worse, not better.
    _, penalised = autoencoder(items, 2, hidden=16, steps=200, learning_rate=1e-2, l2=0.1, seed=0, return_losses=True)
    assert penalised[-1] > 2 * losses[-1]


def test_bad_arguments_are_clear():
    table = _table(np.random.default_rng(0).normal(size=(5, 4)))
    with pytest.raises(ValueError, match="unknown reduction method 'svd'"):
        reduce(table, "svd", 2)
    with pytest.raises(ValueError, match=r"dim must be in 1\.\.4"):
        reduce(table, "pca", 8)
    with pytest.raises(ValueError, match="only 'autoencoder' takes options"):
        reduce(table, "pca", 2, steps=3)
    np.testing.assert_array_equal(reduce(table, "none", 0)[1:], table[1:])
