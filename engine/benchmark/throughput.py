"""Full-ranking evaluation speed (dense scores against item chunks) and the input pipeline's speed alone."""

from __future__ import annotations

import statistics

from engine.benchmark.machine import timed
from engine.benchmark.step import experiment


def eval_benchmark(config, catalogues, eval_chunk: int, repeats: int) -> list[dict]:
    """Users/s of full-ranking validation, dense [B, N] scores vs item chunks with a running rank."""
    rows = []
    for num_items in catalogues:
        for chunk in (0, eval_chunk):
            config.eval.chunk_size = chunk
            exp = experiment(config, num_items)
            params = exp.init_params()
            users = len(exp.split.prompts("valid"))
            seconds = timed(lambda exp=exp, params=params: exp.evaluate(params, "valid"), repeats)
            rows.append({"num_items": exp.dataset.num_items, "chunk_size": chunk, "users": users,
                         "users_per_s": users / statistics.median(seconds), "repeats_seconds": seconds})
            print(f"eval: {rows[-1]['num_items']:>8} items chunk {chunk:>6}: {rows[-1]['users_per_s']:9.0f} users/s",
                  flush=True)
    return rows


def pipeline_benchmark(config, num_batches: int, repeats: int) -> dict:
    """Host-side batches/s of the training input pipeline alone (grain, bucketing, padding)."""
    import numpy as np

    from engine.data.pipeline import TrainBatches
    exp = experiment(config, 0)
    tc = config.train
    batches = TrainBatches(exp.split, tc.batch_size, config.model.max_len, tuple(tc.length_buckets), config.seed,
                           tc.window_end)

    def pull():
        iterator = batches.iterator(num_batches, prefetch=tc.prefetch)
        for _ in range(num_batches):
            batch = next(iterator)
        return batch

    seconds = timed(pull, repeats)
    rate = num_batches / statistics.median(seconds)
    row = {"batches_per_s": rate, "sequences_per_s": rate * tc.batch_size, "batches": num_batches,
           "repeats_seconds": seconds, "tokens_per_batch": float(np.mean(
               [(batches.batch(i)["targets"] > 0).sum() for i in range(min(50, batches.steps_per_epoch))]))}
    print(f"pipeline: {rate:.0f} batches/s ({row['sequences_per_s']:.0f} sequences/s)", flush=True)
    return row
