import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from engine.models.lrurec import LRULayer, linear_recurrence


def test_parallel_scan_equals_a_sequential_loop():
    k1, k2, k3, k4 = jax.random.split(jax.random.key(0), 4)
    a = jax.lax.complex(jax.random.uniform(k1, (7, 3), minval=-0.9, maxval=0.9),
                        jax.random.uniform(k2, (7, 3), minval=-0.4, maxval=0.4))
    b = jax.lax.complex(jax.random.normal(k3, (2, 7, 3)), jax.random.normal(k4, (2, 7, 3)))
    got = linear_recurrence(a[None], b)
    h = jnp.zeros((2, 3), jnp.complex64)
    for t in range(7):
        h = a[t] * h + b[:, t]
        np.testing.assert_allclose(got[:, t], h, atol=1e-5)


def test_layer_recurrence_equals_a_loop_with_padding_skipped():
    layer = LRULayer(4, dropout=0.0, rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(1), (1, 5, 4))
    valid = jnp.array([[False, False, True, True, True]])
    got = layer(x, valid, rngs=None)
    lam = layer.eigenvalues()
    gamma = jnp.exp(layer.gamma_log[...])
    h = jnp.zeros((8,), jnp.complex64)
    for t in range(5):
        if valid[0, t]:
            h = lam * h + gamma * jax.lax.complex(layer.in_real(x[0, t]), layer.in_imag(x[0, t]))
        y = layer.out_real(h.real) - layer.out_imag(h.imag)
        np.testing.assert_allclose(got[0, t], layer.norm(x[0, t] + y), atol=1e-5)


def test_ring_initialisation_and_gamma_normalisation():
    layer = LRULayer(32, dropout=0.0, rngs=nnx.Rngs(0))
    modulus = np.abs(np.asarray(layer.eigenvalues()))
    assert layer.eigenvalues().shape == (64,)
    assert np.all(modulus >= 0.8 - 1e-6) and np.all(modulus <= 0.99 + 1e-6)
    assert modulus.std() > 0.03  # spread over the ring, not one value
    np.testing.assert_allclose(np.exp(np.asarray(layer.gamma_log[...])), np.sqrt(1 - modulus ** 2), rtol=1e-5)
