"""The machine a benchmark runs on: its description, device-synchronised timing, and the FLOP/s a step is
compared against (a large matmul measured here, and the data-sheet peak of known accelerators)."""

from __future__ import annotations

import os
import pathlib
import platform
import resource
import time

# Dense peak FLOP/s of known accelerators (vendor data sheets, SXM parts): plain fp32, TF32 and bf16 tensor cores.
NOMINAL_PEAK = {"H100": {"float32": 67e12, "tensorfloat32": 495e12, "bfloat16": 989e12},
                "H200": {"float32": 67e12, "tensorfloat32": 495e12, "bfloat16": 989e12},
                "A100": {"float32": 19.5e12, "tensorfloat32": 156e12, "bfloat16": 312e12}}


def machine() -> dict:
    import jax

    from engine.train.trainer import matmul_precision
    device = jax.devices()[0]
    return {"platform": device.platform, "device_kind": device.device_kind, "devices": jax.device_count(),
            "processes": jax.process_count(), "cpu": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "jax": jax.__version__, "xla_flags": os.environ.get("XLA_FLAGS", ""),
            "matmul_precision": matmul_precision()}


def timed(fn, repeats: int) -> list[float]:
    """Seconds per call of fn(), which must block until its device work is done; one untimed warm-up."""
    fn()
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def matmul_peak(dtype: str = "float32", n: int = 0) -> float:
    """Achieved FLOP/s of a large square matmul: the practical peak to compare a step against (n = 0: 2048 on
    a CPU, 8192 on an accelerator, whose 2048 product is over before launch overhead stops mattering)."""
    import jax
    import jax.numpy as jnp
    n = n or (2048 if jax.devices()[0].platform == "cpu" else 8192)
    a = jnp.ones((n, n), dtype)
    f = jax.jit(lambda x: x @ x)
    f(a).block_until_ready()
    seconds = min(timed(lambda: f(a).block_until_ready(), 5))
    return 2 * n ** 3 / seconds


def device_peak(dtype: str) -> dict:
    import jax

    from engine.train.trainer import matmul_precision
    kind = jax.devices()[0].device_kind
    rate = dtype
    if dtype == "float32" and matmul_precision() in ("default", "tensorfloat32"):
        rate = "tensorfloat32"  # what a GPU's float32 matmul runs as under JAX's default precision
    nominal = next((v[rate] for k, v in NOMINAL_PEAK.items() if k in kind), None)
    return {"nominal_flops_per_s": nominal, "matmul_flops_per_s": matmul_peak(dtype)}


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def available_memory_bytes() -> int:
    """Free host memory on a CPU; the device's allocator limit on an accelerator."""
    import jax
    device = jax.devices()[0]
    if device.platform != "cpu":
        return int((device.memory_stats() or {}).get("bytes_limit", 0))
    for line in pathlib.Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0
