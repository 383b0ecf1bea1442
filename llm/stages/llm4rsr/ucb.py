"""Algorithm 1 of LLM4RSR: UCB selection of instruction prompts by their F1 payoff.

    result = ucb_select(num_candidates, payoff, draw_batch, epochs=E, c=c)

Each candidate gets one payoff on a shared first batch; then, for e = 1..E, the candidate maximising
mean + c * sqrt(log(e) / F * V) (F = its number of payoffs, V = their population variance) is scored on a fresh
batch. The returned means are the expected payoffs; the caller keeps the top n.

Two corrections to the printed algorithm: line 14 there adds the new payoff to the previous one
(P[r, F] <- P[r] + f), which would make the "mean" a running sum; here P[r, F] = f(r, B_e), and the mean and
variance are kept exactly with Welford's online update. Ties go to the lowest candidate index. (At e = 1,
log(1) = 0, so the first pick is pure exploitation, as printed.)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any


@dataclasses.dataclass
class RunningStats:
    """Count, mean and population variance of a stream (Welford)."""

    count: int = 0
    mean: float = 0.0
    m2: float = 0.0

    def add(self, x: float) -> None:
        self.count += 1
        delta = x - self.mean
        self.mean += delta / self.count
        self.m2 += delta * (x - self.mean)

    @property
    def variance(self) -> float:
        return self.m2 / self.count if self.count else 0.0


@dataclasses.dataclass
class UCBResult:
    stats: list[RunningStats]
    picks: list[dict]  # per epoch: epoch, candidate, bound of every candidate, payoff

    @property
    def means(self) -> list[float]:
        return [s.mean for s in self.stats]

    def top(self, n: int) -> list[int]:
        """The n candidates with the highest expected payoff (stable: ties keep the lower index)."""
        return sorted(range(len(self.stats)), key=lambda i: -self.stats[i].mean)[:n]


def ucb_select(num_candidates: int, payoff: Callable[[int, Any], float], draw_batch: Callable[[], Any], *,
               epochs: int, c: float) -> UCBResult:
    if num_candidates < 1:
        raise ValueError("UCB needs at least one candidate prompt")
    first = draw_batch()
    stats = [RunningStats() for _ in range(num_candidates)]
    for r in range(num_candidates):
        stats[r].add(payoff(r, first))
    picks = []
    for e in range(1, epochs + 1):
        bounds = [s.mean + c * math.sqrt(math.log(e) / s.count * s.variance) for s in stats]
        best = max(range(num_candidates), key=lambda r: (bounds[r], -r))
        value = payoff(best, draw_batch())
        stats[best].add(value)
        picks.append({"epoch": e, "candidate": best, "bounds": bounds, "payoff": value})
    return UCBResult(stats, picks)
