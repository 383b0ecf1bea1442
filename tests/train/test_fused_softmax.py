import functools
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from engine.tiling import chunk_layout
from engine.train.fused_softmax import fused_softmax_cross_entropy
from engine.train.losses import LOSSES, full_softmax_cross_entropy


def _inputs(seed, batch=3, length=11, dim=8, items=37, dtype=jnp.float32):
    rng = np.random.default_rng(seed)
    hidden = jnp.asarray(rng.normal(size=(batch, length, dim)), dtype)
    table = jnp.asarray(rng.normal(size=(items + 1, dim)), dtype)
    bias = jnp.asarray(rng.normal(size=(items + 1,)), dtype)
    targets = rng.integers(1, items + 1, size=(batch, length))
    targets[0, :6] = 0           # left padding
    targets[1, ::3] = 0          # scattered padding (cloze-style masks)
    targets[2, -1] = items       # the last item is a class (clamped last chunk)
    return hidden, table, bias, jnp.asarray(targets)


def _mean_loss(loss, targets, **kw):
    def f(hidden, table, bias):
        total, count = loss(hidden, table, targets, bias=bias, **kw)
        return total / count
    return f


# Item chunks that divide 37 items or not (7, 5, 16), one chunk (1000); position chunks of 1 to all.
@pytest.mark.parametrize("chunk_size,position_chunk,use_bias", [(16, 8, True), (7, 5, False), (1000, 1, True),
                                                                 (5, 64, False)])
def test_value_and_gradients_match_plain_softmax(use_bias, chunk_size, position_chunk):
    hidden, table, bias, targets = _inputs(0)
    bias = bias if use_bias else None
    argnums = (0, 1, 2) if use_bias else (0, 1)
    want, want_grads = jax.jit(jax.value_and_grad(_mean_loss(full_softmax_cross_entropy, targets), argnums))(
        hidden, table, bias)
    got, got_grads = jax.jit(jax.value_and_grad(_mean_loss(
        fused_softmax_cross_entropy, targets, chunk_size=chunk_size, position_chunk=position_chunk), argnums))(
        hidden, table, bias)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    for g, w in zip(got_grads, want_grads):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    assert float(jnp.abs(got_grads[1][0]).max()) == 0.0  # the padding row is never a class


def test_groups_and_counts():
    hidden, table, bias, targets = _inputs(1, batch=4)
    want_total, want_count = full_softmax_cross_entropy(hidden, table, targets, bias=bias)
    for groups in (1, 4):
        loss = functools.partial(fused_softmax_cross_entropy, chunk_size=10, position_chunk=4, groups=groups)
        total, count = jax.jit(loss)(hidden, table, targets, bias=bias)
        assert int(count) == int(want_count)
        np.testing.assert_allclose(total, want_total, rtol=1e-6)
    with pytest.raises(ValueError, match="groups"):
        fused_softmax_cross_entropy(hidden, table, targets, groups=3)


def test_bfloat16_inputs_accumulate_in_float32():
    hidden, table, bias, targets = _inputs(2, length=16, dim=32, items=300, dtype=jnp.bfloat16)
    table = table * 0.3
    f = lambda loss, **kw: jax.jit(jax.value_and_grad(_mean_loss(loss, targets, **kw), (0, 1, 2)))(hidden, table, bias)
    want, want_grads = f(full_softmax_cross_entropy)
    got, got_grads = f(fused_softmax_cross_entropy, chunk_size=128, position_chunk=16)
    assert all(g.dtype == jnp.bfloat16 for g in got_grads)
    np.testing.assert_allclose(float(got), float(want), rtol=1e-5)
    for g, w in zip(got_grads, want_grads):  # a couple of bf16 ulps
        np.testing.assert_allclose(np.float32(g), np.float32(w), rtol=2e-2, atol=2e-2)


def test_all_padding_gives_zero_loss_and_gradients():
    hidden, table, bias, _ = _inputs(3)
    targets = jnp.zeros(hidden.shape[:2], jnp.int32)
    (total, count), grads = jax.jit(jax.value_and_grad(
        lambda h, t, b: fused_softmax_cross_entropy(h, t, targets, bias=b, chunk_size=8, position_chunk=4),
        (0, 1, 2), has_aux=True))(hidden, table, bias)
    assert float(total) == 0.0 and int(count) == 0
    assert all(float(jnp.abs(g).max()) == 0.0 for g in grads)


def test_chunk_layout_covers_items_once_with_balanced_chunks():
    for n in (1, 5, 37, 127, 128, 129, 4100, 20000, 1_000_003):
        for max_chunk in (1, 3, 16, 128, 4096):
            chunks, width = chunk_layout(n, max_chunk)
            assert width <= n and chunks * width >= n and (chunks - 1) * width < n
            assert width <= max(max_chunk, -(-max_chunk // 128) * 128)
    assert chunk_layout(4100, 4096) == (2, 2176)


def test_compiled_temp_memory_is_several_times_smaller():
    # 4096 positions x 20k items, value and gradients as the train step needs them.
    hidden = jax.ShapeDtypeStruct((32, 128, 64), jnp.float32)
    table = jax.ShapeDtypeStruct((20_001, 64), jnp.float32)
    targets = jax.ShapeDtypeStruct((32, 128), jnp.int32)

    def temp_bytes(loss):
        step = lambda h, w, t: jax.value_and_grad(lambda h, w: loss(h, w, t)[0], (0, 1))(h, w)
        return jax.jit(step).lower(hidden, table, targets).compile().memory_analysis().temp_size_in_bytes

    plain, fused = temp_bytes(full_softmax_cross_entropy), temp_bytes(LOSSES["ce_fused"])
    print(f"\ntemp memory, value_and_grad at 4096 positions x 20000 items: plain {plain / 2**20:.0f} MiB, "
          f"ce_fused {fused / 2**20:.0f} MiB ({plain / fused:.1f}x)")
    assert plain > 320 * 2**20  # the plain loss holds at least the [4096, 20000] fp32 logits
    assert fused * 3 < plain


_SHARDED_CHECK = textwrap.dedent("""
    import re, jax, jax.numpy as jnp
    from jax.sharding import NamedSharding, PartitionSpec as P
    from engine.train.fused_softmax import fused_softmax_cross_entropy
    mesh = jax.make_mesh((4,), ("data",), axis_types=(jax.sharding.AxisType.Auto,))
    batch, rep = NamedSharding(mesh, P("data")), NamedSharding(mesh, P())
    args = (jax.ShapeDtypeStruct((16, 32, 16), jnp.float32, sharding=batch),
            jax.ShapeDtypeStruct((2001, 16), jnp.float32, sharding=rep),
            jax.ShapeDtypeStruct((16, 32), jnp.int32, sharding=batch))
    loss = lambda h, w, t: fused_softmax_cross_entropy(h, w, t, chunk_size=512, position_chunk=128)[0]
    step = lambda h, w, t: jax.value_and_grad(loss, (0, 1))(h, w, t)
    hlo = jax.jit(step).lower(*args).compile().as_text()
    print(sorted(set(re.findall(r"(\\S+) (all-gather|all-reduce|all-to-all|reduce-scatter|collective-permute)"
                                r"(?:-start)?\\(", hlo))))
""")


def test_data_parallel_sharding_keeps_the_loss_device_local():
    # One group per device: the only collectives are the table-gradient all-reduce (as for any
    # data-parallel parameter) and scalar reductions, never a gather of hidden states.
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", _SHARDED_CHECK], env=env, capture_output=True, text=True,
                         check=True, cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    collectives = eval(out.stdout.strip().splitlines()[-1])
    assert collectives, "expected at least the gradient all-reduce"
    for shape, op in collectives:
        assert op == "all-reduce", collectives
        assert shape.startswith(("f32[2001,16]", "s32[]", "f32[]")), collectives
