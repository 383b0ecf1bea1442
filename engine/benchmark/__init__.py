"""Speed and memory figures of the engine (launch.benchmark is the command): training step, full-ranking
evaluation, the input pipeline, time to quality, and the machine they ran on.

Timings are device-synchronised (`block_until_ready`), exclude compilation and data loading (batches are on
the device before the clock starts), and report the median over repetitions.
"""

from engine.benchmark.machine import (
    NOMINAL_PEAK,
    available_memory_bytes,
    device_peak,
    machine,
    matmul_peak,
    peak_rss_bytes,
    timed,
)
from engine.benchmark.step import (
    add_peak_fractions,
    experiment,
    failure_reason,
    measure_step,
    spread_catalogue,
    step_benchmark,
    summary_line,
)
from engine.benchmark.throughput import eval_benchmark, pipeline_benchmark
from engine.benchmark.ttq import time_to_quality

__all__ = ["NOMINAL_PEAK", "add_peak_fractions", "available_memory_bytes", "device_peak", "eval_benchmark",
           "experiment", "failure_reason", "machine", "matmul_peak", "measure_step", "peak_rss_bytes",
           "pipeline_benchmark", "spread_catalogue", "step_benchmark", "summary_line", "time_to_quality", "timed"]
