"""The hand-written pieces of the training path against the plain formulas they replace: block-causal attention
(the no-cache path of every forward), the LoRA delta's written-out gradient and the bfloat16 product. Tiny shapes: no
model needed."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from engine.lm.model import MASKED, causal_attention, lora_delta, low_precision_matmul, matmul


def full_matrix_attention(q, k, v, valid):
    """The whole T x T score matrix with the causal and padding mask applied afterwards."""
    t, d = q.shape[1], q.shape[-1]
    scores = jnp.einsum("btkgd,bskd->bkgts", q, k) / math.sqrt(d)
    mask = jnp.tril(jnp.ones((t, t), bool))[None] & valid[:, None, :]
    probs = jax.nn.softmax(jnp.where(mask[:, None, None], scores, MASKED), axis=-1)
    return jnp.einsum("bkgts,bskd->btkgd", probs, v)


@pytest.mark.parametrize("t", [20, 96, 130])  # one block; 3 equal blocks; 4 unequal ones
def test_block_causal_attention_matches_the_full_masked_matrix(t):
    rng = np.random.default_rng(t)
    q = rng.standard_normal((2, t, 2, 3, 8)).astype(np.float32)
    k, v = (rng.standard_normal((2, t, 2, 8)).astype(np.float32) for _ in range(2))
    valid = np.ones((2, t), bool)
    valid[1, :7] = False  # left padding in the second row
    got, want = np.asarray(causal_attention(q, k, v, valid)), np.asarray(full_matrix_attention(q, k, v, valid))
    assert np.isfinite(got).all()  # padded query rows see no valid key: finite, and never used
    np.testing.assert_allclose(got[valid], want[valid], atol=1e-5)


def test_lora_delta_gradient_matches_autodiff():
    rng = np.random.default_rng(0)
    h = rng.standard_normal((2, 5, 6)).astype(np.float32)
    a, b = rng.standard_normal((6, 3)).astype(np.float32), rng.standard_normal((3, 4)).astype(np.float32)
    w = rng.standard_normal((2, 5, 4)).astype(np.float32)
    ours = jax.grad(lambda h, a, b: jnp.sum(lora_delta(h, a, b, 2.5) * w), argnums=(0, 1, 2))(h, a, b)
    plain = jax.grad(lambda h, a, b: jnp.sum((h @ a) @ b * 2.5 * w), argnums=(0, 1, 2))(h, a, b)
    for got, want in zip(ours, plain, strict=True):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-5)



@pytest.mark.parametrize("x_shape", [(2, 5, 16), (16,)])
def test_bfloat16_matmul_and_its_gradients_match_float32(x_shape):
    # The float32-accumulating bfloat16 product (and its written-out backward) against float32 autodiff.
    kx, kw, kg = jax.random.split(jax.random.key(0), 3)
    x = jax.random.normal(kx, x_shape).astype(jnp.bfloat16)
    w = jax.random.normal(kw, (16, 8)).astype(jnp.bfloat16)
    y, vjp = jax.vjp(lambda a, b: low_precision_matmul(a, b, jnp.float32), x, w)
    ref, ref_vjp = jax.vjp(lambda a, b: a @ b, x.astype(jnp.float32), w.astype(jnp.float32))
    assert y.dtype == jnp.float32 and low_precision_matmul(x, w).dtype == jnp.bfloat16
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)  # exact products of bf16 inputs, float32 sums
    g = jax.random.normal(kg, y.shape)
    for got, want in zip(vjp(g), ref_vjp(g.astype(jnp.bfloat16).astype(jnp.float32))):
        assert got.dtype == jnp.bfloat16
        np.testing.assert_allclose(np.asarray(got, np.float32), want, rtol=2e-2, atol=5e-2)
    # Only x differentiated (a frozen w): the same gradient for x.
    gx = jax.grad(lambda a: (low_precision_matmul(a, w, jnp.float32) * g).sum())(x)
    np.testing.assert_array_equal(np.asarray(gx, np.float32), np.asarray(vjp(g)[0], np.float32))


def test_matmul_with_bfloat16_weights_returns_float32_and_float32_is_plain():
    x, w = jax.random.normal(jax.random.key(1), (4, 16)), jax.random.normal(jax.random.key(2), (16, 8))
    assert matmul(x, w.astype(jnp.bfloat16)).dtype == jnp.float32
    assert jnp.array_equal(matmul(x, w), x @ w)
