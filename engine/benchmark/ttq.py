"""Time to quality: the training wall time a run took to first reach a validation value."""

from __future__ import annotations

import json
import pathlib


def time_to_quality(workdir: pathlib.Path, metric: str, threshold: float) -> dict:
    """Training wall time (validation excluded, summed over resumed sessions) until `metric` >= threshold."""
    path = workdir / "metrics.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: is {workdir} a run directory made by launch.train?")
    valid = [json.loads(l) for l in path.read_text().splitlines() if l.strip()]
    valid = [l for l in valid if l["split"] == "valid"]
    if valid and metric not in valid[0]:
        raise KeyError(f"{path}: validation lines have no {metric!r}; they have {', '.join(valid[0])}")
    reached = next((l for l in valid if l[metric] >= threshold), None)
    best = max(valid, key=lambda l: l[metric]) if valid else None
    row = {"workdir": str(workdir), "metric": metric, "threshold": threshold, "reached": reached is not None,
           "step": reached and reached["step"], "train_seconds": reached and reached.get("train_seconds"),
           "best_value": best and best[metric], "best_step": best and best["step"]}
    results = workdir / "results.json"
    if results.exists():
        row["timing"] = json.loads(results.read_text()).get("timing")
    print(f"ttq: {metric} >= {threshold}: " + (f"step {row['step']}, {row['train_seconds'] / 60:.1f} min of training"
                                               if reached else f"not reached (best {row['best_value']})"))
    return row
