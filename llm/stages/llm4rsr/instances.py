"""Stage `instances`: the training instances (input = the L items before each training target) and co(v_i, v_j).

Artifacts: instances.npz (engine.data.instances table plus `user_id`), co_occurrence.npz (scipy.sparse CSR).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from engine.data.instances import co_occurrence, load_instances, save_instances, training_instances
from engine.run_dir import write_atomic
from llm.stages.llm4rsr.common import dataset_key, load_data
from llm.stages.stage import run_stage

NAME = "instances"
OUTPUTS = ("instances.npz", "co_occurrence.npz")


def run(config, workdir, llm=None):
    dataset, split = load_data(config)
    length = int(config.instances.max_inputs)

    def compute(ctx):
        table = training_instances(split, length)
        co = co_occurrence(table, dataset.num_items)
        save_instances(ctx.dir / "instances.npz", table, user_id=np.asarray(dataset.user_ids)[table.user].astype(str))
        write_atomic(ctx.dir / "co_occurrence.npz", "wb", lambda f: sp.save_npz(f, co))
        ctx.notes.update(num_instances=len(table), co_nonzero=int(co.nnz))
        return {"num_instances": len(table), "instances_digest": table.digest(), "num_items": dataset.num_items,
                "co_nonzero": int(co.nnz), "co_max": int(co.max()) if co.nnz else 0}

    return run_stage(workdir, NAME, {"dataset": dataset_key(dataset), "protocol": split.protocol,
                                     "max_inputs": length, "version": 1}, compute, OUTPUTS, llm)


def load(result):
    """(instances, co-occurrence CSR) of a finished stage."""
    return load_instances(result.path("instances.npz")), sp.load_npz(result.path("co_occurrence.npz")).tocsr()
