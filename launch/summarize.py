"""Mean ± std over run directories (seeds) of the metrics in their results.json.

    python -m launch.summarize runs/sasrec-ml-1m-s0 runs/sasrec-ml-1m-s1 runs/sasrec-ml-1m-s2 [--split valid] \
        [--metrics NDCG@10,HR@10]

Runs must agree on dataset, protocol and model; the table names the protocol."""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

from engine.report.tables import format_mean_std, mean_std
from engine.run_dir import load_results

DEFAULT_METRICS = ("NDCG@10", "HR@10", "MRR@10", "NDCG@20", "HR@20", "MRR@20")


def model_identity(result: dict, config) -> str:
    """The model a run trained: results.json's name, plus the text table its item embeddings started from
    (config.json's model.item_init). An LLM2GRU4Rec run records model 'gru4rec'; without the table it would
    pass for a GRU4Rec seed."""
    item_init = config.get("model", {}).get("item_init", "")
    return f"{result['model']} (item table from {item_init})" if item_init else result["model"]


def optional_config(run_dir) -> dict:
    """config.json as a dict, or {} for a run directory that has none."""
    path = pathlib.Path(run_dir) / "config.json"
    return json.loads(path.read_text()) if path.exists() else {}


def summarize(run_dirs, split: str = "test", metrics=DEFAULT_METRICS) -> str:
    results = load_results(run_dirs)
    models = [model_identity(r, optional_config(d)) for d, r in zip(run_dirs, results)]
    for key, values in [("dataset", {r["dataset"] for r in results}), ("protocol", {r["protocol"] for r in results}),
                        ("model", set(models))]:
        if len(values) > 1:
            raise ValueError(f"runs disagree on {key}: {sorted(values)}")
    head = results[0]
    title = (f"{models[0]} on {head['dataset']}, protocol {head['protocol']}, {split}, "
             f"{len(results)} seeds ({', '.join(str(r['seed']) for r in results)}), best checkpoint by validation")
    lines = [title, "", "| " + " | ".join(metrics) + " |", "|" + "---|" * len(metrics)]
    for d, r in zip(run_dirs, results):
        missing = [m for m in metrics if m not in r.get(split, {})]
        if missing:
            raise ValueError(f"{pathlib.Path(d) / 'results.json'}: no {split} {', '.join(missing)}")
    cells = []
    for m in metrics:
        mean, std = mean_std([r[split][m] for r in results])
        cells.append(format_mean_std(mean, std, len(results)))
    lines.append("| " + " | ".join(cells) + " |")
    timing = [r.get("timing", {}) for r in results]
    # A run finalised without training steps in its last session has no throughput figure to average.
    if all(t.get("train_wall_seconds") and t.get("steady_steps_per_second") for t in timing):
        wall_mean, wall_std = mean_std([t["train_wall_seconds"] / 60 for t in timing])
        rate_mean, rate_std = mean_std([t["steady_steps_per_second"] for t in timing])
        lines += ["", (f"training wall time {wall_mean:.1f} ± {wall_std:.1f} min; steady state "
                       f"{rate_mean:.2f} ± {rate_std:.2f} steps/s on {timing[0]['platform']} "
                       f"× {timing[0]['devices']}; best steps {[r['best_step'] for r in results]}")]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dirs", nargs="+", help="run directories (one per seed)")
    parser.add_argument("--split", default="test", choices=("test", "valid"), help="the results.json section to average")
    parser.add_argument("--metrics", default=",".join(DEFAULT_METRICS), help="comma-separated metric names")
    args = parser.parse_args()
    try:
        print(summarize(args.run_dirs, split=args.split, metrics=tuple(args.metrics.split(","))))
    except (FileNotFoundError, ValueError) as error:
        sys.exit(f"error: {error}")
