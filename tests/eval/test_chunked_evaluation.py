"""eval.chunk_size: the item-chunked ranking gives exactly the dense ranking's metrics."""

import numpy as np

from engine.train.experiment import Experiment


def test_chunked_and_dense_evaluation_agree(tiny_config):
    dense = Experiment.create(tiny_config)
    params = dense.init_params()
    tiny_config.eval.chunk_size = 300  # ML-100K has 1,682 items: several chunks, the last one clamped
    chunked = Experiment.create(tiny_config)
    for split in ("valid", "test"):
        dense_metrics, dense_ranks = dense.evaluate(params, split)
        chunked_metrics, chunked_ranks = chunked.evaluate(params, split)
        np.testing.assert_array_equal(chunked_ranks, dense_ranks)
        assert chunked_metrics == dense_metrics
