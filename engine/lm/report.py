"""Summary and curve of several LoRA runs (seeds): base vs tuned metrics as mean ± std, validation curve PNG.

    python -m launch.lm --mode=report --runs runs/lm-yesno-s0,runs/lm-yesno-s1,runs/lm-yesno-s2 --out docs/lm.png
"""

from __future__ import annotations

import json
import pathlib

import numpy as np

from engine.run_dir import write_atomic


def _lines(workdir: pathlib.Path) -> list[dict]:
    path = workdir / "metrics.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found (is {workdir} a LoRA run directory?)")
    return [json.loads(x) for x in path.read_text().splitlines() if x]


def summarize(workdirs, metric: str = "auc") -> dict:
    rows = []
    for w in map(pathlib.Path, workdirs):
        results = w / "results.json"
        if not results.is_file():
            raise FileNotFoundError(f"{results}: not found (the run has not finished)")
        r = json.loads(results.read_text())
        rows.append({"run": str(w), "seed": r["seed"], "best_step": r["best_step"],
                     "base_valid": r["base_valid"][metric], "valid": r["valid"][metric],
                     "test": r.get("test", {}).get(metric), "tokens_per_s": r["timing"]["steady_tokens_per_second"]})

    def stat(key):
        values = np.array([row[key] for row in rows if row[key] is not None], float)
        return {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                "n": len(values)} if len(values) else None

    return {"metric": metric, "runs": rows, "base_valid": stat("base_valid"), "valid": stat("valid"),
            "test": stat("test")}


def plot(workdirs, out_png, metric: str = "auc") -> pathlib.Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    for w in map(pathlib.Path, workdirs):
        lines = _lines(w)
        valid = [(x["step"], x[metric]) for x in lines if x["split"] == "valid" and metric in x]
        train = [(x["step"], x["loss"]) for x in lines if x["split"] == "train"]
        label = w.name
        if valid:
            left.plot(*zip(*valid, strict=True), marker="o", label=label)
        if train:
            right.plot(*zip(*train, strict=True), label=label)
    left.set(xlabel="step", ylabel=f"validation {metric}", title=f"validation {metric} (step 0 = base model)")
    right.set(xlabel="step", ylabel="train loss (answer tokens)", title="training loss")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    out_png = pathlib.Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out_png, "wb", lambda f: fig.savefig(f, format="png", dpi=110))
    plt.close(fig)
    return out_png
