"""Stage `tgd_data` (§3.2): labelled item-selection samples for TGD, built from co-occurrence counts.

Partially mismatched (PM) samples. A training instance is drawn; each input item v with co(v, target) > K is
kept and labelled relevant; every other input item is replaced by an item that never co-occurred with the
target (co = 0 in both directions) and labelled irrelevant. We keep an instance only if it has at least one
relevant and at least one replaced input (else it is not a partial mismatch: all relevant is a clean instance,
none relevant is what the CM samples cover).

Completely mismatched (CM) samples. A pair (v_i, v_j) with zero co-occurrence is drawn; v_j is the target and
v_i the last input. Then, backwards, a preceding item v' with co(v', v_j) = 0 and co(v', v_i) > K is drawn for
the current first input v_i, until the input has L items: a sequentially coherent input that is unrelated to
the target. All inputs are labelled irrelevant. A chain that cannot be extended is abandoned.

Both continue until every item appears in some sample (the paper's stopping rule), or until the caps
tgd_data.max_partial / max_complete, or until max_tries draws in a row add no uncovered item; the CM phase also
runs until it has tgd_data.min_complete samples (PM samples alone may cover every item, leaving TGD no CM case). Draws prefer uncovered items,
so coverage grows quickly. Then tgd_data.num_test random samples form D_te, the rest D_tr.

Artifacts: train.jsonl and test.jsonl, one sample per line: {"id", "kind": "partial"|"complete",
"inputs": [items], "target": item, "labels": [1|0 per input], "instance": row of the instance table or -1}.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import scipy.sparse as sp

from engine.run_dir import write_text_atomic
from llm.stages.llm4rsr.common import dataset_key, load_data
from llm.stages.stage import run_stage

NAME = "tgd_data"
OUTPUTS = ("train.jsonl", "test.jsonl")


@dataclasses.dataclass(frozen=True)
class Sample:
    id: int
    kind: str
    inputs: list[int]
    target: int
    labels: list[int]
    instance: int = -1

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, d: dict) -> Sample:
        return cls(int(d["id"]), d["kind"], [int(v) for v in d["inputs"]], int(d["target"]),
                   [int(v) for v in d["labels"]], int(d.get("instance", -1)))

    @property
    def relevant(self) -> set[int]:
        """1-based positions of the relevant inputs."""
        return {i + 1 for i, label in enumerate(self.labels) if label}


def _pair_counts(co: sp.csr_matrix, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray(co[a, b]).ravel() if len(a) else np.zeros(0, np.int64)


class _Cooc:
    """co and its transpose, for 'never co-occurred' (both directions) and 'co > K' look-ups."""

    def __init__(self, co: sp.csr_matrix, k: int):
        self.co, self.k = co.tocsr(), k
        self.both = (self.co + self.co.T).tocsr()

    def never(self, item: int) -> np.ndarray:
        """Boolean [N+1]: items that never co-occurred with `item` (padding and the item itself excluded)."""
        mask = np.ones(self.co.shape[0], bool)
        row = self.both.indices[self.both.indptr[item]:self.both.indptr[item + 1]]
        mask[row] = False
        mask[0] = mask[item] = False
        return mask

    def strong_predecessors(self, item: int) -> np.ndarray:
        """Items v with co(v, item) > K (column `item`)."""
        col = self.co[:, item].tocoo()
        return col.row[col.data > self.k]


def build_tgd_samples(instances, co: sp.csr_matrix, num_items: int, *, k: int, length: int,
                      rng: np.random.Generator, max_partial: int = 0, max_complete: int = 0,
                      min_complete: int = 0, max_tries: int = 50) -> tuple[list[Sample], dict]:
    """PM then CM samples (see the module doc); returns (samples, statistics)."""
    cooc = _Cooc(co, k)
    covered = np.zeros(num_items + 1, bool)
    covered[0] = True
    samples: list[Sample] = []

    # ---- partial mismatch -------------------------------------------------------------------------------------
    inputs, targets = instances.inputs, instances.target
    counts = _pair_counts(co, inputs.ravel(), np.repeat(targets, inputs.shape[1])).reshape(inputs.shape)
    strong = (counts > k) & (inputs != 0)
    present = inputs != 0
    eligible = np.flatnonzero(strong.any(1) & (present & ~strong).any(1))
    order = rng.permutation(eligible)
    # Visit instances with an uncovered target first, then the rest, so coverage grows fast.
    order = np.concatenate([order[~covered[targets[order]]], order[covered[targets[order]]]])
    partial = 0
    for row in order:
        if (max_partial and partial >= max_partial) or covered.all():
            break
        target = int(targets[row])
        keep = strong[row] & present[row]
        replace_at = np.flatnonzero(present[row] & ~keep)
        pool = np.flatnonzero(cooc.never(target))
        pool = pool[~np.isin(pool, inputs[row])]
        if len(pool) < len(replace_at):
            continue
        fresh = pool[~covered[pool]]
        pick = rng.choice(fresh, len(replace_at), replace=False) if len(fresh) >= len(replace_at) else \
            np.concatenate([fresh, rng.choice(pool[covered[pool]], len(replace_at) - len(fresh), replace=False)])
        new_inputs = inputs[row].copy()
        new_inputs[replace_at] = pick
        items = new_inputs[new_inputs != 0]
        if covered[items].all() and covered[target]:
            continue  # adds nothing to the coverage
        labels = keep[present[row]].astype(int).tolist()
        samples.append(Sample(len(samples), "partial", items.tolist(), target, labels, int(row)))
        covered[items] = covered[target] = True
        partial += 1

    # ---- complete mismatch ------------------------------------------------------------------------------------
    has_pred = np.flatnonzero(np.asarray((co > k).sum(axis=0)).ravel() > 0)  # items with a strong predecessor
    complete, stale = 0, 0
    covered_cm = covered.copy()
    if covered.all() and complete >= min_complete:
        has_pred = has_pred[:0]  # the PM samples already cover every item
    while not (max_complete and complete >= max_complete) and stale < max_tries and len(has_pred):
        uncovered = np.flatnonzero(~covered_cm)
        target = int(rng.choice(uncovered)) if len(uncovered) else int(rng.integers(1, num_items + 1))
        unrelated = cooc.never(target)
        starts = has_pred[unrelated[has_pred]]
        if not len(starts):
            stale += 1
            covered_cm[target] = True  # no chain can end next to this target
            continue
        chain = [int(rng.choice(starts))]
        while len(chain) < length:
            preds = cooc.strong_predecessors(chain[0])
            preds = preds[unrelated[preds] & ~np.isin(preds, chain)]
            if not len(preds):
                break
            chain.insert(0, int(rng.choice(preds)))
        if len(chain) < length:
            stale += 1
            continue
        if covered[chain].all() and covered[target] and complete >= min_complete:
            stale += 1  # adds no coverage and the minimum number of CM samples is reached
            covered_cm[target] = True
            continue
        stale = 0
        samples.append(Sample(len(samples), "complete", chain, target, [0] * length, -1))
        covered[chain] = covered[target] = covered_cm[chain] = covered_cm[target] = True
        complete += 1
        if covered.all() and complete >= min_complete:
            break
    stats = {"partial": partial, "complete": complete, "items_covered": int(covered[1:].sum()),
             "num_items": num_items, "pm_eligible_instances": len(eligible)}
    return samples, stats


def split_samples(samples: list[Sample], num_test: int, rng: np.random.Generator) -> tuple[list, list]:
    if len(samples) <= num_test:
        raise ValueError(f"tgd_data: only {len(samples)} samples were built, not more than tgd_data.num_test="
                         f"{num_test}; lower tgd_data.k or tgd_data.num_test, or use more data")
    test_ids = set(rng.choice(len(samples), num_test, replace=False).tolist())
    return ([s for s in samples if s.id not in test_ids], [s for s in samples if s.id in test_ids])


def run(config, workdir, instances_result, llm=None):
    from llm.stages.llm4rsr import instances as instances_stage

    dataset, _ = load_data(config)
    d = config.tgd_data

    def compute(ctx):
        table, co = instances_stage.load(instances_result)
        rng = np.random.default_rng([int(config.seed), 43])
        samples, stats = build_tgd_samples(table, co, dataset.num_items, k=int(d.k),
                                           length=int(config.instances.max_inputs), rng=rng,
                                           max_partial=int(d.max_partial), max_complete=int(d.max_complete),
                                           min_complete=int(d.min_complete), max_tries=int(d.max_tries))
        train, test = split_samples(samples, int(d.num_test), rng)
        for name, part in (("train.jsonl", train), ("test.jsonl", test)):
            write_text_atomic(ctx.dir / name, "".join(s.to_json() + "\n" for s in part))
        stats.update(train=len(train), test=len(test),
                     test_partial=sum(s.kind == "partial" for s in test))
        ctx.notes.update(stats)
        return stats

    inputs = {"dataset": dataset_key(dataset), "instances": instances_result.meta["inputs_digest"],
              "k": int(d.k), "num_test": int(d.num_test), "max_partial": int(d.max_partial),
              "max_complete": int(d.max_complete), "min_complete": int(d.min_complete), "max_tries": int(d.max_tries), "seed": int(config.seed),
              "version": 1}
    return run_stage(workdir, NAME, inputs, compute, OUTPUTS, llm)


def load(result) -> tuple[list[Sample], list[Sample]]:
    def read(name):
        with open(result.path(name), encoding="utf-8") as f:
            return [Sample.from_dict(json.loads(line)) for line in f if line.strip()]
    return read("train.jsonl"), read("test.jsonl")
