"""Does a candidate model beat a baseline? Paired significance tests over the evaluation prompts.

    python -m launch.compare --baseline runs/sasrec-beauty-s0 runs/sasrec-beauty-s1 \\
        --candidate runs/llm2sasrec-beauty-s0 runs/llm2sasrec-beauty-s1 \\
        [--split test] [--metrics NDCG@10,HR@10,NDCG@20] [--labels SASRec LLM2SASRec] [--out runs/compare.json]

    python -m launch.compare --baseline sasrec-beauty-token-s{0,1,2} --candidate llm2sasrec-beauty-token-s{0,1,2}

Each run directory needs results.json and ranks_<split>.npy (written by launch.train and by
launch.evaluate; `python -m launch.evaluate --workdir DIR --split test` writes it for a run made before
ranks were saved). A kept run is named by its path under docs/results (as above): its test ranks are read from
the store docs/results/ranks/*.npz. Both sides must be on the same dataset, preprocessing and split (config.json's
data and split sections). The test is described in engine/eval/significance.py.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

import numpy as np

from engine.run_dir import load_results
from launch.summarize import model_identity

DEFAULT_METRICS = ("NDCG@10", "HR@10", "MRR@10", "NDCG@20", "HR@20")
RESULTS = pathlib.Path(__file__).resolve().parents[1] / "docs" / "results"


def resolve(run) -> pathlib.Path:
    """A run directory, or the name of a kept run under docs/results."""
    path = pathlib.Path(run)
    return path if path.is_dir() or not (RESULTS / path).is_dir() else RESULTS / path


def load_ranks(run_dirs, split: str) -> list[np.ndarray]:
    """Each run's ranks_<split>.npy, or for a kept run its test ranks from the store under docs/results."""
    from engine.report.tables import load_ranks as load_run_ranks

    return [load_run_ranks(RESULTS, pathlib.Path(d), split) for d in run_dirs]


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

    baseline, candidate = [resolve(d) for d in baseline], [resolve(d) for d in candidate]
    models = check_same_prompts({"baseline": baseline, "candidate": candidate})
    names = list(labels) if labels else [models["baseline"], models["candidate"]]
    a, b = load_ranks(baseline, split), load_ranks(candidate, split)
    return {"split": split, "baseline": {"model": names[0], "runs": [str(d) for d in baseline]},
            "candidate": {"model": names[1], "runs": [str(d) for d in candidate]},
            "rows": [paired_comparison(a, b, m) for m in metrics]}


def to_markdown(report: dict) -> str:
    from engine.report.tables import comparison_cells, comparison_header
    from engine.report.tables import to_markdown as table_lines

    base, cand = report["baseline"], report["candidate"]
    welch = any("seed_welch_p" in r for r in report["rows"])
    title = (f"{cand['model']} ({len(cand['runs'])} seeds) vs {base['model']} ({len(base['runs'])} seeds), "
             f"{report['split']}, {report['rows'][0]['prompts']} prompts; per-prompt values averaged over seeds")
    cells = [comparison_header([base["model"], cand["model"]], welch)]
    cells += [comparison_cells(r, welch) for r in report["rows"]]
    return "\n".join([title, "", *table_lines(cells)])


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
