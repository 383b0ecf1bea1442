"""Is model B better than model A on the same evaluation prompts? Paired tests over prompts.

Both sides are scored on the identical prompts (same dataset, preprocessing and split), so each prompt gives
a pair of values (e.g. its NDCG@20 under A and under B). With several seeds per side, a prompt's value is
its mean over that side's seeds first: the test then asks whether B beats A on a typical user, with the
seed noise averaged out, rather than treating seeds × users as independent.

Reported per metric: both means, the difference and relative gain, a 95% confidence interval of the mean
difference (t distribution), the paired t-test and the Wilcoxon signed-rank test (two-sided; prompts where
A and B tie are dropped by Wilcoxon, as usual), and, when both sides have at least two seeds, Welch's
t-test over the per-seed means (the spread between training runs). p-values are not corrected for testing
several metrics.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from engine.eval.metrics import metric_values


def per_seed_values(rank_arrays: list[np.ndarray], metric: str) -> np.ndarray:
    """[seeds, prompts]: the value of `metric` for each prompt under each seed's rank array."""
    lengths = {len(r) for r in rank_arrays}
    if len(lengths) != 1:
        raise ValueError(f"the runs scored different numbers of prompts: {sorted(lengths)}")
    return np.stack([metric_values(r, metric) for r in rank_arrays])


def seed_mean_values(rank_arrays: list[np.ndarray], metric: str) -> np.ndarray:
    """Per-prompt value of `metric`, averaged over the seeds' rank arrays (all of one length)."""
    return per_seed_values(rank_arrays, metric).mean(axis=0)


def paired_comparison(baseline: list[np.ndarray], candidate: list[np.ndarray], metric: str) -> dict:
    """baseline, candidate: rank arrays (one per seed) over the same prompts in the same order."""
    seeds_a, seeds_b = per_seed_values(baseline, metric), per_seed_values(candidate, metric)
    a, b = seeds_a.mean(axis=0), seeds_b.mean(axis=0)
    if len(a) != len(b):
        raise ValueError(f"baseline runs scored {len(a)} prompts, candidate runs {len(b)}: not the same split")
    if len(a) < 2:
        raise ValueError("a paired test needs at least two prompts")
    diff = b - a
    mean_a, mean_b, mean_diff = float(a.mean()), float(b.mean()), float(diff.mean())
    sem = float(diff.std(ddof=1) / np.sqrt(len(diff)))
    half_width = float(stats.t.ppf(0.975, len(diff) - 1) * sem)
    if np.all(diff == 0):  # identical systems: no evidence of a difference (the tests would divide by zero)
        t_p = wilcoxon_p = 1.0
    else:
        t_p = float(stats.ttest_rel(b, a).pvalue)
        wilcoxon_p = float(stats.wilcoxon(diff).pvalue)
    out = {"metric": metric, "prompts": len(a), "seeds": [len(baseline), len(candidate)],
           "baseline": mean_a, "candidate": mean_b, "difference": mean_diff,
           "relative_gain": mean_diff / mean_a if mean_a > 0 else float("nan"),
           "ci95": [mean_diff - half_width, mean_diff + half_width],
           "paired_t_p": t_p, "wilcoxon_p": wilcoxon_p}
    if len(baseline) >= 2 and len(candidate) >= 2:
        out["seed_welch_p"] = float(stats.ttest_ind(seeds_b.mean(axis=1), seeds_a.mean(axis=1), equal_var=False).pvalue)
    return out
