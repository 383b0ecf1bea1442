"""Several models (configs) over several seeds on one dataset, then a results table and plots
(python -m launch.sweep is the command):

    python -m launch.sweep --out runs/sweep-ml-1m --seeds 0 1 2 \\
        --config configs/sasrec.py:ml-1m --config configs/sknn.py:ml-1m \\
        --config "configs/sknn.py:ml-1m model.name=v_sknn" --config configs/popularity.py:ml-1m \\
        [--set eval.beyond_accuracy=True ...]

Every (config, seed) is its own run directory <out>/<label>/s<seed> (label: model.name, or a
`label=NAME` token in the config spec); a run that already has results.json is skipped and an
interrupted neural run resumes from its checkpoint, so re-running the command finishes a sweep. All
configs must agree on the data and split keys. The sweep writes <out>/table.md and <out>/table.csv
(mean ± std over seeds per model, test and valid, the protocol named; NDCG/HR/MRR@10/@20 and the
beyond-accuracy metrics when present) and <out>/plots/*.png (validation curves; the popularity
breakdown when the runs have one).
"""

from __future__ import annotations

import csv
import io
import json
import pathlib

from engine.report.tables import format_mean_std, mean_std, to_markdown
from engine.run_dir import differing_keys, load_results, write_text_atomic
from engine.runner.config_spec import load_config_spec
from engine.runner.driver import run_experiment

METRICS = ("NDCG@10", "HR@10", "MRR@10", "NDCG@20", "HR@20", "MRR@20")
BEYOND = ("Coverage@10", "Serendipity@10", "Novelty@10", "Coverage@20", "Serendipity@20", "Novelty@20")


def plan(specs, seeds, out, overrides=()) -> list[tuple[str, int, object, pathlib.Path]]:
    """[(label, seed, config, workdir)]; refuses configs that disagree on the data or split."""
    groups, reference = {}, None
    for spec in specs:
        config, label = load_config_spec(spec, overrides)
        if label in groups:
            raise ValueError(f"two configs have the label {label!r}; add label=NAME to one of the specs")
        data = {"data": config.data.to_dict(), "split": config.split.to_dict()}
        if reference is None:
            reference = (label, data)
        elif data != reference[1]:
            differ = differing_keys(data, reference[1])
            raise ValueError(f"the sweep's runs disagree on the dataset: {label!r} and {reference[0]!r} differ in "
                             f"{', '.join(differ)}; a table compares models on one dataset and split")
        groups[label] = config
    runs = []
    for label, config in groups.items():
        for seed in seeds:
            c = config.copy_and_resolve_references()
            c.seed = int(seed)
            runs.append((label, int(seed), c, pathlib.Path(out) / label / f"s{seed}"))
    return runs


def run_sweep(specs, seeds, out, overrides=(), log=print) -> dict[str, list[pathlib.Path]]:
    runs = plan(specs, seeds, out, overrides)
    groups: dict[str, list[pathlib.Path]] = {}
    for label, seed, config, workdir in runs:
        groups.setdefault(label, []).append(workdir)
        if (workdir / "results.json").exists():
            log(f"[skip] {workdir}: finished")
            continue
        log(f"[run] {label} seed {seed} -> {workdir}")
        run_experiment(config, workdir)
    write_report(groups, out)
    return groups


# --- The table.

def table_rows(groups: dict[str, list], split: str) -> tuple[list[str], list[dict]]:
    """(metric columns, one row per label: {'model', 'seeds', metric: (mean, std)})."""
    loaded = {label: load_results(dirs) for label, dirs in groups.items()}
    present = lambda m: all(m in r[split] for rs in loaded.values() for r in rs)
    columns = [m for m in METRICS + BEYOND if present(m)]
    rows = []
    for label, results in loaded.items():
        row = {"model": label, "seeds": [r["seed"] for r in results]}
        row.update({m: mean_std([r[split][m] for r in results]) for m in columns})
        rows.append(row)
    return columns, rows


def header(groups) -> str:
    first = load_results(next(iter(groups.values()))[:1])[0]
    return f"dataset {first['dataset']}, protocol {first['protocol']}"


def markdown(groups) -> str:
    lines = [f"# Sweep: {header(groups)}", "",
             "Mean ± sample std over seeds; neural models at their best validation checkpoint."]
    for split in ("test", "valid"):
        columns, rows = table_rows(groups, split)
        cells = [["model", "seeds", *columns]]
        cells += [[row["model"], str(len(row["seeds"])), *(format_mean_std(*row[m], len(row["seeds"])) for m in columns)]
                  for row in rows]
        lines += ["", f"## {split}", "", *to_markdown(cells)]
    return "\n".join(lines) + "\n"


def csv_text(groups) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    first = load_results(next(iter(groups.values()))[:1])[0]
    columns = sorted(set.union(*(set(table_rows(groups, s)[0]) for s in ("test", "valid"))),
                     key=(METRICS + BEYOND).index)
    writer.writerow(["dataset", "protocol", "split", "model", "num_seeds", "seeds"]
                    + [f"{m} {stat}" for m in columns for stat in ("mean", "std")])
    for split in ("test", "valid"):
        _, rows = table_rows(groups, split)
        for row in rows:
            values = [f"{v:.6g}" for m in columns for v in row.get(m, (float("nan"),) * 2)]
            writer.writerow([first["dataset"], first["protocol"], split, row["model"], len(row["seeds"]),
                             " ".join(map(str, row["seeds"]))] + values)
    return buffer.getvalue()


# --- The plots.

def _colors(count: int) -> list:
    """One distinct colour per model: the 10-colour default cycle repeats on larger sweeps."""
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if count <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(count)]


def _legend_outside(fig, ax) -> None:
    """Legend right of the axes, so that it never hides a curve or a bar."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    fig.tight_layout()


def plot_validation_curves(groups, path: pathlib.Path) -> pathlib.Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.5))
    metric = None
    for color, (label, dirs) in zip(_colors(len(groups)), groups.items()):
        for n, d in enumerate(dirs):
            config = json.loads((pathlib.Path(d) / "config.json").read_text())
            metric = config["eval"]["select_metric"]
            lines = [json.loads(l) for l in (pathlib.Path(d) / "metrics.jsonl").read_text().splitlines() if l]
            points = sorted((l["step"], l[metric]) for l in lines if l["split"] == "valid")
            if points:
                steps, values = zip(*points)
                ax.plot(steps, values, marker="o" if len(points) == 1 else None, color=color, alpha=0.8,
                        label=label if n == 0 else None)
    ax.set_xlabel("step")
    ax.set_ylabel(f"validation {metric}")
    ax.grid(alpha=0.3)
    _legend_outside(fig, ax)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_popularity_breakdown(groups, path: pathlib.Path, metric: str = "NDCG@10") -> pathlib.Path | None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    bars = {}
    for label, dirs in groups.items():
        per_seed = [r.get("popularity_breakdown", {}).get("test") for r in load_results(dirs)]
        if all(per_seed):
            buckets = sorted({row["bucket"] for rows in per_seed for row in rows})
            bars[label] = (buckets, [np.mean([row[metric] for rows in per_seed for row in rows
                                              if row["bucket"] == b]) for b in buckets])
    if not bars:
        return None
    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / len(bars)
    for index, (color, (label, (buckets, values))) in enumerate(zip(_colors(len(bars)), bars.items())):
        # Each bucket's group of bars is centred on its tick.
        ax.bar(np.asarray(buckets) + (index - (len(bars) - 1) / 2) * width, values, width, label=label, color=color)
    ax.set_xticks(sorted({b for buckets, _ in bars.values() for b in buckets}))
    ax.set_xlabel("popularity bucket of the prompt's last item (0 = least popular)")
    ax.set_ylabel(f"test {metric} (mean over seeds)")
    _legend_outside(fig, ax)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_report(groups, out) -> dict[str, pathlib.Path]:
    out = pathlib.Path(out)
    written = {"table.md": out / "table.md", "table.csv": out / "table.csv"}
    write_text_atomic(written["table.md"], markdown(groups))
    write_text_atomic(written["table.csv"], csv_text(groups))
    plots = out / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    written["valid_curves"] = plot_validation_curves(groups, plots / "valid_curves.png")
    breakdown = plot_popularity_breakdown(groups, plots / "popularity_breakdown.png")
    if breakdown is not None:
        written["popularity_breakdown"] = breakdown
    return written
