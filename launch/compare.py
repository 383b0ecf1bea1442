"""Does a candidate model beat a baseline? Paired significance tests over the evaluation prompts.

    python -m launch.compare --baseline runs/sasrec-beauty-s0 runs/sasrec-beauty-s1 \\
        --candidate runs/llm2sasrec-beauty-s0 runs/llm2sasrec-beauty-s1 \\
        [--split test] [--metrics NDCG@10,HR@10,NDCG@20] [--labels SASRec LLM2SASRec] [--out runs/compare.json]

Each run directory needs results.json and ranks_<split>.npy (written by launch.train and by
launch.evaluate; `python -m launch.evaluate --workdir DIR --split test` writes it for a run made before
ranks were saved). Both sides must be on the same dataset, preprocessing and split (config.json's data
and split sections). The test is described in engine/eval/significance.py.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

import numpy as np

from launch.summarize import load_results, model_identity

DEFAULT_METRICS = ("NDCG@10", "HR@10", "MRR@10", "NDCG@20", "HR@20")


def load_ranks(run_dirs, split: str) -> list[np.ndarray]:
    from engine.run_dir import ranks_path

    out = []
    for d in run_dirs:
        path = ranks_path(d, split)
        if not path.exists():
            raise FileNotFoundError(f"{path} not found: write it with `python -m launch.evaluate --workdir {d} "
                                    f"--split {split}` (a non-neural run: run it again in a new workdir)")
        out.append(np.load(path, allow_pickle=False))
    return out


def check_same_prompts(groups: dict[str, list]) -> dict[str, str]:
    """Every run of both sides on one dataset and split, each side one model; returns each side's model."""
    from engine.run_dir import differing_keys, load_config

    models, reference = {}, None
    for side, dirs in groups.items():
        names = set()
        for d, result in zip(dirs, load_results(dirs)):
            config = load_config(d)
            names.add(model_identity(result, config))
            identity = {"data": config.data.to_dict(), "split": config.split.to_dict()}
            if reference is None:
                reference = (d, identity)
            elif differ := differing_keys(identity, reference[1]):
                raise ValueError(f"{d} and {reference[0]} are not on the same dataset and split (they differ in "
                                 f"{', '.join(differ)}); a paired test needs the same prompts")
        if len(names) > 1:
            raise ValueError(f"the {side} runs are of different models: {sorted(names)}")
        models[side] = names.pop()
    return models


def compare(baseline, candidate, split: str = "test", metrics=DEFAULT_METRICS, labels=None) -> dict:
    """labels: (baseline, candidate) names for the report; default: the runs' model names (an LLM2* run is
    named after its backbone and its item table)."""
    from engine.eval.significance import paired_comparison

    models = check_same_prompts({"baseline": baseline, "candidate": candidate})
    names = list(labels) if labels else [models["baseline"], models["candidate"]]
    a, b = load_ranks(baseline, split), load_ranks(candidate, split)
    return {"split": split, "baseline": {"model": names[0], "runs": [str(d) for d in baseline]},
            "candidate": {"model": names[1], "runs": [str(d) for d in candidate]},
            "rows": [paired_comparison(a, b, m) for m in metrics]}


def to_markdown(report: dict) -> str:
    base, cand = report["baseline"], report["candidate"]
    welch = any("seed_welch_p" in r for r in report["rows"])
    title = (f"{cand['model']} ({len(cand['runs'])} seeds) vs {base['model']} ({len(base['runs'])} seeds), "
             f"{report['split']}, {report['rows'][0]['prompts']} prompts; per-prompt values averaged over seeds")
    lines = [title,
             "", "| metric | " + base["model"] + " | " + cand["model"] + " | gain | 95% CI of difference | "
             "paired t p | Wilcoxon p |" + (" seeds Welch p |" if welch else ""),
             "|---|---|---|---|---|---|---|" + ("---|" if welch else "")]
    for r in report["rows"]:
        cells = [r["metric"], f"{r['baseline']:.4f}", f"{r['candidate']:.4f}", f"{100 * r['relative_gain']:+.1f}%",
                 f"[{r['ci95'][0]:+.4f}, {r['ci95'][1]:+.4f}]", f"{r['paired_t_p']:.2g}", f"{r['wilcoxon_p']:.2g}"]
        if welch:
            cells.append(f"{r['seed_welch_p']:.2g}" if "seed_welch_p" in r else "")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", nargs="+", required=True, help="run directories of the baseline (seeds)")
    parser.add_argument("--candidate", nargs="+", required=True, help="run directories of the candidate (seeds)")
    parser.add_argument("--split", default="test", choices=("valid", "test"))
    parser.add_argument("--metrics", default=",".join(DEFAULT_METRICS), help="comma-separated, e.g. NDCG@10,HR@20")
    parser.add_argument("--labels", nargs=2, metavar=("BASELINE", "CANDIDATE"), help="names in the report")
    parser.add_argument("--out", default="", help="also write the report as JSON here")
    args = parser.parse_args(argv)
    try:
        report = compare(args.baseline, args.candidate, args.split, [m.strip() for m in args.metrics.split(",")],
                         args.labels)
    except (FileNotFoundError, ValueError) as error:
        sys.exit(f"error: {error}")
    print(to_markdown(report))
    if args.out:
        from engine.run_dir import write_json_atomic
        write_json_atomic(pathlib.Path(args.out), report)


if __name__ == "__main__":
    main()
