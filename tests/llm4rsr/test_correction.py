"""Correction rules (§3.4), uncertain-instance selection and memory-edit operations, without a server."""

import numpy as np
import pytest

from engine.data.instances import Instances
from llm.stages.llm4rsr.correction import apply_corrections, decide, probe_rows, select_uncertain
from llm.stages.llm4rsr.tgd import memory_ops


def test_alpha_lowest_confidence_rows_lowest_first_with_cap():
    conf = np.array([0.5, 0.1, 0.9, 0.1, 0.3, 0.7, 0.2, 0.8, 0.6, 0.4], np.float32)
    assert select_uncertain(conf, 0.3).tolist() == [1, 3, 6]          # ceil(0.3 * 10) = 3, ties by row
    assert select_uncertain(conf, 0.25).tolist() == [1, 3, 6]         # ceil(2.5) = 3
    assert select_uncertain(conf, 0.5, cap=2).tolist() == [1, 3]
    with pytest.raises(ValueError, match="correct.alpha"):
        select_uncertain(conf, 0.0)


def test_decisions():
    x = [11, 12, 13]
    assert decide(x, frozenset({1, 3}), [], []) == {"decision": "partial", "new": [([11, 13], None)]}
    assert decide(x, frozenset({1, 2, 3}), [], [])["decision"] == "kept"
    assert decide(x, None, [], []) == {"decision": "failed", "new": [(x, None)]}
    # Complete mismatch: candidates in the backbone's order; the first with a non-empty selection replaces the target.
    got = decide(x, frozenset(), [7, 8, 9], [frozenset(), frozenset({2}), frozenset({1, 3})])
    assert got == {"decision": "complete_replaced", "new": [([12], 8)]}
    got = decide(x, frozenset(), [7, 8, 9], [None, frozenset({2}), frozenset({1, 3})], mode="all")
    assert got["new"] == [([12], 8), ([11, 13], 9)]
    assert decide(x, frozenset(), [7, 8], [frozenset(), None]) == {"decision": "complete_dropped", "new": []}


def test_corrected_table_replaces_rows_in_place_and_left_pads_them():
    table = Instances(np.arange(5, dtype=np.int64), np.array([1, 2, 3, 4, 5], np.int64),
                      np.array([5, 6, 7, 8, 9], np.int32),
                      np.array([[1, 2, 3], [0, 2, 3], [1, 1, 4], [2, 3, 4], [3, 4, 1]], np.int32))
    decisions = [decide([1, 1, 4], frozenset({3}), [], []),                        # row 2 -> [0, 0, 4] -> 7
                 decide([1, 2, 3], frozenset(), [9], [frozenset({1, 2})]),         # row 0 -> [0, 1, 2] -> 9
                 decide([2, 3, 4], frozenset(), [9], [frozenset()])]               # row 3 dropped
    out = apply_corrections(table, np.array([2, 0, 3]), decisions)
    assert out.user.tolist() == [0, 1, 2, 4]
    assert out.inputs.tolist() == [[0, 1, 2], [0, 2, 3], [0, 0, 4], [3, 4, 1]]
    assert out.target.tolist() == [9, 6, 7, 9] and out.position.tolist() == [1, 2, 3, 5]
    # 'all': one row per accepted candidate, where the original was.
    many = decide([1, 2, 3], frozenset(), [8, 9], [frozenset({1}), frozenset({3})], mode="all")
    out = apply_corrections(table, np.array([1]), [many])
    assert out.user.tolist() == [0, 1, 1, 2, 3, 4] and out.target.tolist()[1:3] == [8, 9]
    # Nothing changed: the same table.
    same = apply_corrections(table, np.array([4]), [decide([3, 4, 1], frozenset({1, 2, 3}), [], [])])
    assert same.digest() == table.digest()


def test_memory_flaws_map_to_insert_modify_remove():
    assert memory_ops({"missing": "the director's name", "incorrect": "", "redundant": "the long plot summary"}) == [
        "insert", "remove"]
    assert memory_ops({"missing": "...", "incorrect": "N/A", "redundant": "none"}) == []
    assert memory_ops({"missing": "", "incorrect": "wrong release year", "redundant": ""}) == ["modify"]


def test_probe_samples_each_confidence_set():
    conf = np.linspace(1, 0, 100, dtype=np.float32)  # row 99 is the least confident
    sets = probe_rows(conf, 10, 3, np.random.default_rng(0))
    assert len(sets) == 10 and all(len(s) == 3 for s in sets)
    assert all(r >= 90 for r in sets[0]) and all(r < 10 for r in sets[-1])
