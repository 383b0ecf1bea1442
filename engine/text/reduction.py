"""Reduce item text embeddings to a recommender's width (LLM-Sequential-Recommendation, section 3.2).

    reduced = reduce(embeddings, "pca", 64)                     # [num_items + 1, 64], row 0 stays zero
    reduced = reduce(embeddings, "lda", 17, labels=first_genres)

`embeddings` is an item table in the engine's layout: row i is item i, row 0 is padding. Every method is
fitted on rows 1..N only and row 0 of the result is zero, so padding never leaks into the fit or the model.

Methods (the paper's four):
- "pca": principal components (scikit-learn, exact SVD), centred on the items' mean.
- "lda": linear discriminant analysis with one class per item (e.g. its first genre or category); it gives
  at most (number of classes - 1) components, so `dim` must not exceed that.
- "autoencoder": an MLP encoder/decoder trained with MSE (optax Adam, optional L2 weight penalty that
  drives minor weights towards zero), full-batch and deterministic for a seed; the code is the bottleneck.
- "random_projection": a Gaussian random projection (scikit-learn), which roughly preserves distances.
"none" returns the table unchanged (dim must be 0 or the table's width).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

METHODS = ("none", "pca", "lda", "autoencoder", "random_projection")


def reduce(embeddings: np.ndarray, method: str, dim: int, *, labels: Sequence | None = None, seed: int = 0,
           **options) -> np.ndarray:
    """float32 [N + 1, dim] with row 0 zero; options go to the autoencoder (hidden, steps, learning_rate, l2)."""
    table = np.asarray(embeddings, dtype=np.float32)
    if table.ndim != 2 or len(table) < 3:
        raise ValueError(f"embeddings must be [num_items + 1, width] with at least 2 items, got shape {table.shape}")
    if not np.all(np.isfinite(table)):
        raise ValueError("embeddings contain NaN or infinite values")
    if method not in METHODS:
        raise ValueError(f"unknown reduction method {method!r}; known: {', '.join(METHODS)}")
    if options and (method != "autoencoder" or not set(options) <= {"hidden", "steps", "learning_rate", "l2"}):
        raise ValueError(f"options {sorted(options)}: only 'autoencoder' takes options (hidden, steps, "
                         f"learning_rate, l2); method is {method!r}")
    items, width = table[1:], table.shape[1]
    if method == "none":
        if dim not in (0, width):
            raise ValueError(f"method 'none' keeps the width {width}; got dim={dim} (use a reduction method)")
        out = items.copy()
    else:
        if not 1 <= dim <= width:
            raise ValueError(f"dim must be in 1..{width} (the embedding width) for {method!r}, got {dim}")
        if method == "pca":
            out = _pca(items, dim, seed)
        elif method == "lda":
            out = _lda(items, dim, labels, len(table))
        elif method == "random_projection":
            from sklearn.random_projection import GaussianRandomProjection
            out = GaussianRandomProjection(n_components=dim, random_state=seed).fit_transform(items)
        else:
            out = autoencoder(items, dim, seed=seed, **options)
    result = np.zeros((len(table), out.shape[1]), np.float32)
    result[1:] = out
    return result


def _pca(items: np.ndarray, dim: int, seed: int) -> np.ndarray:
    from sklearn.decomposition import PCA

    if dim > len(items):
        raise ValueError(f"PCA gives at most min(items, width) = {min(items.shape)} components, asked for {dim}")
    return PCA(n_components=dim, svd_solver="full", random_state=seed).fit_transform(items.astype(np.float64))


def _lda(items: np.ndarray, dim: int, labels, rows: int) -> np.ndarray:
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    if labels is None:
        raise ValueError("method 'lda' needs labels: one class per item (e.g. its first genre or category)")
    labels = np.asarray(labels, dtype=str)
    if len(labels) != rows:
        raise ValueError(f"lda labels must have one entry per table row (num_items + 1 = {rows}, row 0 ignored), "
                         f"got {len(labels)}")
    classes = np.unique(labels[1:])
    limit = min(len(classes) - 1, items.shape[1])
    if dim > limit:
        raise ValueError(f"LDA gives at most (number of classes - 1) = {len(classes)} - 1 = {len(classes) - 1} "
                         f"components (and at most the width {items.shape[1]}); asked for dim={dim}. Use dim <= "
                         f"{limit}, a label with more classes, or another method (pca, autoencoder, random_projection)")
    lda = LinearDiscriminantAnalysis(n_components=dim, solver="svd")
    return lda.fit(items.astype(np.float64), labels[1:]).transform(items.astype(np.float64))


def autoencoder(items: np.ndarray, dim: int, *, hidden: int = 256, steps: int = 2000, learning_rate: float = 1e-3,
                l2: float = 0.0, seed: int = 0, return_losses: bool = False):
    """Train x -> code (dim) -> x on the centred, unit-scaled items and return the codes [N, dim].

    Encoder and decoder are Linear-GELU-Linear MLPs (hidden units; hidden=0 makes them linear). The loss is
    the mean squared reconstruction error plus l2 * (sum of squared weights). Full batch, Adam, `steps`
    updates: item tables are small (thousands of rows), so this takes seconds and is exactly reproducible."""
    import jax
    import jax.numpy as jnp

    if steps < 1 or learning_rate <= 0 or l2 < 0 or hidden < 0:
        raise ValueError(f"autoencoder needs steps >= 1, learning_rate > 0, l2 >= 0, hidden >= 0; got "
                         f"{steps}, {learning_rate}, {l2}, {hidden}")
    x = items.astype(np.float32)
    x = x - x.mean(0)
    x = jnp.asarray(x / max(float(x.std()), 1e-12))
    width = x.shape[1]
    k_enc, k_dec = jax.random.split(jax.random.key(seed))
    params = {"encoder": _mlp_init(k_enc, [width, hidden, dim] if hidden else [width, dim]),
              "decoder": _mlp_init(k_dec, [dim, hidden, width] if hidden else [dim, width])}
    params, losses = _train_autoencoder(params, x, jnp.float32(learning_rate), jnp.float32(l2), steps=int(steps))
    codes = np.asarray(_mlp(params["encoder"], x), dtype=np.float32)
    return (codes, np.asarray(losses)) if return_losses else codes


def _mlp_init(key, sizes):
    import jax
    import jax.numpy as jnp

    keys = jax.random.split(key, len(sizes) - 1)
    return [{"w": jax.random.normal(k, (n_in, n_out)) * np.sqrt(1.0 / n_in), "b": jnp.zeros(n_out)}
            for k, n_in, n_out in zip(keys, sizes[:-1], sizes[1:])]


def _mlp(layers, h):
    import jax

    for k, layer in enumerate(layers):
        h = h @ layer["w"] + layer["b"]
        if k < len(layers) - 1:
            h = jax.nn.gelu(h)
    return h


def _train_autoencoder(params, x, learning_rate, l2, *, steps: int):
    """`steps` full-batch Adam updates in one compiled scan; returns (params, MSE per step)."""
    import jax
    import jax.numpy as jnp
    import optax

    global _TRAIN_AUTOENCODER
    if _TRAIN_AUTOENCODER is None:
        def train(params, x, learning_rate, l2, steps):
            optimizer = optax.adam(learning_rate)

            def loss_fn(p):
                mse = jnp.mean((_mlp(p["decoder"], _mlp(p["encoder"], x)) - x) ** 2)
                penalty = sum(jnp.sum(layer["w"] ** 2) for part in p.values() for layer in part)
                return mse + l2 * penalty, mse

            def step(carry, _):
                p, state = carry
                (_, mse), grads = jax.value_and_grad(loss_fn, has_aux=True)(p)
                updates, state = optimizer.update(grads, state, p)
                return (optax.apply_updates(p, updates), state), mse

            (params, _), losses = jax.lax.scan(step, (params, optimizer.init(params)), None, length=steps)
            return params, losses

        _TRAIN_AUTOENCODER = jax.jit(train, static_argnames="steps")  # one compile per shape and step count
    return _TRAIN_AUTOENCODER(params, x, learning_rate, l2, steps=steps)


_TRAIN_AUTOENCODER = None
