"""Algorithm 1 (UCB prompt selection) on a hand-computed case."""

import math

import pytest

from llm.stages.llm4rsr.ucb import RunningStats, ucb_select


def test_running_mean_and_population_variance():
    s = RunningStats()
    for x in (0.2, 0.4, 0.9):
        s.add(x)
    assert s.count == 3 and s.mean == pytest.approx(0.5)
    assert s.variance == pytest.approx(((0.2 - 0.5) ** 2 + (0.4 - 0.5) ** 2 + (0.9 - 0.5) ** 2) / 3)


def test_ucb_on_a_hand_computed_case():
    # Payoffs per (candidate, batch); batches are numbered 0, 1, 2, ... in the order they are drawn.
    table = {(0, 0): 0.5, (1, 0): 0.4, (2, 0): 0.1,
             (0, 1): 0.3, (0, 2): 0.2, (0, 3): 0.1}
    batches = iter(range(10))
    calls = []

    def payoff(r, b):
        calls.append((r, b))
        return table[(r, b)]
    result = ucb_select(3, payoff, lambda: next(batches), epochs=3, c=1.0)
    # e=1: log 1 = 0, so the bounds are the means -> 0 (0.5) is picked, payoff 0.3: 0 -> mean 0.4, var 0.01.
    # e=2: bound(0) = 0.4 + sqrt(ln 2 / 2 * 0.01) = 0.45887; bound(1) = 0.4; bound(2) = 0.1 -> 0 (payoff 0.2).
    # 0 -> payoffs 0.5, 0.3, 0.2: mean 1/3, var ((1/6)^2 + (1/30)^2 + (2/15)^2) = 0.015556.
    # e=3: bound(0) = 1/3 + sqrt(ln 3 / 3 * 0.015556) = 0.40881; bound(1) = 0.4 -> 0 again (payoff table (0, 3)).
    assert calls[:3] == [(0, 0), (1, 0), (2, 0)]
    assert [p["candidate"] for p in result.picks] == [0, 0, 0]
    assert result.picks[1]["bounds"][0] == pytest.approx(0.4 + math.sqrt(math.log(2) / 2 * 0.01))
    var = ((0.5 - 1 / 3) ** 2 + (0.3 - 1 / 3) ** 2 + (0.2 - 1 / 3) ** 2) / 3
    assert result.picks[2]["bounds"][0] == pytest.approx(1 / 3 + math.sqrt(math.log(3) / 3 * var))
    assert result.stats[0].count == 4 and result.means[0] == pytest.approx((0.5 + 0.3 + 0.2 + 0.1) / 4)
    assert result.top(2) == [1, 0]  # means 0.4 > 0.275 > 0.1


def test_exploration_term_can_overtake_a_higher_mean():
    # Candidate 0: payoffs 0.9, 0.1 (mean 0.5, var 0.16); candidate 1: 0.55 once (var 0).
    table = {(0, 0): 0.9, (1, 0): 0.55, (0, 1): 0.1}
    batches = iter(range(10))
    seq = []

    def payoff(r, b):
        seq.append(r)
        return table.get((r, b), 0.0)
    # e=1 picks 0 (mean 0.9 > 0.55); payoff 0.1 -> mean 0.5, var 0.16.
    # e=2: bound(0) = 0.5 + 2 * sqrt(ln 2 / 2 * 0.16) = 0.9710 > bound(1) = 0.55 -> 0 again.
    result = ucb_select(2, payoff, lambda: next(batches), epochs=2, c=2.0)
    assert [p["candidate"] for p in result.picks] == [0, 0]
    assert result.picks[1]["bounds"][0] == pytest.approx(0.5 + 2 * math.sqrt(math.log(2) / 2 * 0.16))
    # With c = 0 the same history is pure exploitation and ends on the higher mean.
    batches = iter(range(10))
    result = ucb_select(2, payoff, lambda: next(batches), epochs=2, c=0.0)
    assert [p["candidate"] for p in result.picks] == [0, 1]
