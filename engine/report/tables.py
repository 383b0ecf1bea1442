"""The cells of the result tables, computed from kept run files as the manifest says.

A metric cell is the mean ± sample std over the row's runs (seeds) at the metric's printed decimals, the mean
alone for a single run, '–' when no run measured it, and ends in '(s1, s2)' when only those seeds measured it.
Comparison cells come from engine.eval.significance over the runs' per-prompt test ranks."""

from __future__ import annotations

import csv
import json
import pathlib
from typing import NamedTuple

import numpy as np

from engine.eval.significance import paired_comparison
from engine.report.ranks_store import find_ranks
from engine.run_dir import ranks_path

DASH = "–"
UNBACKED_MARK = " †"  # a printed number whose run files were not kept


def mean_std(values) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single run) over seeds."""
    values = np.asarray(values, dtype=np.float64)
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def format_mean_std(mean: float, std: float, runs: int, decimals: int = 4) -> str:
    """'0.1234 ± 0.0012'; a single run has no spread to show, so it gets the mean alone."""
    return f"{mean:.{decimals}f} ± {std:.{decimals}f}" if runs > 1 else f"{mean:.{decimals}f}"


def run_dirs(results_root: pathlib.Path, pattern: str) -> list[pathlib.Path]:
    """A glob under results_root, or prefix{a,b,c} for runs a glob cannot pick out."""
    if pattern.endswith("}"):
        prefix, alternatives = pattern[:-1].split("{")
        dirs = [results_root / f"{prefix}{a}" for a in alternatives.split(",")]
    else:
        dirs = sorted(p for p in results_root.glob(pattern) if p.is_dir())
    missing = [d for d in dirs if not d.is_dir()]
    if not dirs or missing:
        raise FileNotFoundError(f"no run directory {results_root / pattern}")
    return dirs


class Measured(NamedTuple):
    mean: float
    std: float
    seeds: tuple[str, ...]


class Runs:
    """Runs of one row (or one part of it): a JSON file of each run directory."""

    def __init__(self, results_root: pathlib.Path, pattern: str, file: str = "results.json"):
        self.dirs = run_dirs(results_root, pattern)
        self.results = []
        for d in self.dirs:
            path = d / file
            if not path.exists():
                raise FileNotFoundError(f"{path} not found (named by the manifest's runs = {pattern!r})")
            self.results.append(json.loads(path.read_text()))
        self.seeds = tuple(f"s{r['seed']}" for r in self.results)

    def measure(self, split: str, metric: str) -> Measured | None:
        having = [r for r in self.results if metric in r.get(split, {})]
        if not having:
            return None
        return Measured(*mean_std([r[split][metric] for r in having]), tuple(f"s{r['seed']}" for r in having))

    def field(self, key: str):
        """best_step, or config:train.max_steps: one value the runs share."""
        if key.startswith("config:"):
            values = []
            for d in self.dirs:
                value = json.loads((d / "config.json").read_text())
                for part in key.removeprefix("config:").split("."):
                    value = value[part]
                values.append(value)
        else:
            values = [r[key] for r in self.results]
        if len(set(map(str, values))) != 1:
            raise ValueError(f"runs {[d.name for d in self.dirs]} differ in {key}: {values}")
        return values[0]


class SweepTable:
    """A model's rows of the table.csv that launch.sweep wrote, for sweeps whose run files were not kept."""

    def __init__(self, results_root: pathlib.Path, table: str, model: str):
        with open(results_root / table, newline="") as f:
            self.rows = {row["split"]: row for row in csv.DictReader(f) if row["model"] == model}
        if not self.rows:
            raise ValueError(f"{results_root / table} has no rows for model {model!r}")
        self.seeds = tuple(f"s{s}" for s in self.rows["test"]["seeds"].split())

    def measure(self, split: str, metric: str) -> Measured | None:
        value = self.rows[split].get(f"{metric} mean")
        if not value or value == "nan":
            return None
        return Measured(float(value), float(self.rows[split][f"{metric} std"]), self.seeds)

    def field(self, key: str):
        raise ValueError(f"a sweep's table.csv has no {key}")


def source(results_root: pathlib.Path, spec: dict, pattern=None):
    if "csv" in spec:
        return SweepTable(results_root, spec["csv"], spec["model"])
    return Runs(results_root, pattern or spec["runs"], spec.get("file", "results.json"))


def metric_cell(measured: Measured | None, row_seeds: tuple[str, ...], decimals: int) -> str:
    if measured is None:
        return DASH
    cell = format_mean_std(measured.mean, measured.std, len(measured.seeds), decimals)
    return cell if measured.seeds == row_seeds else f"{cell} ({', '.join(measured.seeds)})"


def runs_row(table: dict, row: dict, results_root: pathlib.Path, decimals: dict) -> list[str]:
    columns = table["columns"]
    per_column = row["runs"] if isinstance(row.get("runs"), list) else None
    all_unbacked = set(columns) <= set(row.get("unbacked", {}))
    main = None if per_column or all_unbacked else source(results_root, row)
    by_column = {}
    for part in row.get("parts", []):
        part_source = source(results_root, part)
        by_column.update({c: part_source for c in part["columns"]})
    cells = []
    for i, column in enumerate(columns):
        primary = source(results_root, row, per_column[i]) if per_column else main
        if column in row.get("unbacked", {}):
            text = row["unbacked"][column]
            cells.append(text if text == DASH else text + UNBACKED_MARK)
            continue
        src = by_column.get(column, primary)
        if column == "seeds":
            cells.append(str(len(primary.seeds)))
        elif column == "best_step" or column.startswith("config:"):
            cells.append(f"{src.field(column):,}")
        else:
            split, _, metric = column.rpartition(":")
            digits = row.get("decimals", {}).get(column, decimals.get(metric, 4))
            cells.append(metric_cell(src.measure(split or row.get("split", "test"), metric), primary.seeds, digits))
    # bold: column specs, or 1-based positions where columns share a spec (the README summary)
    bold = {b - 1 if isinstance(b, int) else columns.index(b) for b in row.get("bold", [])}
    return [row["label"]] + [f"**{c}**" if i in bold else c for i, c in enumerate(cells)]


def load_ranks(results_root: pathlib.Path, run_dir: pathlib.Path, split: str = "test") -> np.ndarray:
    """A run's per-prompt ranks: its ranks_<split>.npy, else (test) the compact store under results_root."""
    path = ranks_path(run_dir, split)
    if path.exists():
        return np.load(path, allow_pickle=False)
    try:
        name = pathlib.Path(run_dir).resolve().relative_to(pathlib.Path(results_root).resolve()).as_posix()
    except ValueError:
        name = None
    stored = find_ranks(results_root, name) if name and split == "test" else None
    if stored is None:
        raise FileNotFoundError(f"{path} not found, nor {name or run_dir} in the ranks store "
                                f"{pathlib.Path(results_root) / 'ranks'}: write it with `python -m launch.evaluate "
                                f"--workdir {run_dir} --split {split}`")
    return stored


def comparison_rows(results_root: pathlib.Path, baseline: str, candidate: str, metrics) -> list[dict]:
    a = [load_ranks(results_root, d) for d in run_dirs(results_root, baseline)]
    b = [load_ranks(results_root, d) for d in run_dirs(results_root, candidate)]
    return [paired_comparison(a, b, m) for m in metrics]


def p_value(p: float) -> str:
    return f"{p:.2g}"


def comparison_cells(r: dict, welch: bool) -> list[str]:
    """metric | baseline | candidate | gain | 95% CI | paired t p | Wilcoxon p [| seeds Welch p], as
    launch.compare prints them."""
    cells = [r["metric"], f"{r['baseline']:.4f}", f"{r['candidate']:.4f}", f"{100 * r['relative_gain']:+.1f}%",
             f"[{r['ci95'][0]:+.4f}, {r['ci95'][1]:+.4f}]", p_value(r["paired_t_p"]), p_value(r["wilcoxon_p"])]
    if welch:
        cells.append(p_value(r["seed_welch_p"]) if "seed_welch_p" in r else "")
    return cells


def comparison_header(labels, welch: bool) -> list[str]:
    return ["metric", *labels, "gain", "95% CI of difference", "paired t p", "Wilcoxon p"] + \
        (["seeds Welch p"] if welch else [])


def compare_table(table: dict, results_root: pathlib.Path) -> list[list[str]]:
    if "json" in table:
        report = json.loads((results_root / table["json"]).read_text())
        by_metric = {r["metric"]: r for r in report["rows"]}
        if missing := [m for m in table["metrics"] if m not in by_metric]:
            raise ValueError(f"{results_root / table['json']} has no rows for {missing}")
        rows = [by_metric[m] for m in table["metrics"]]
    else:
        rows = comparison_rows(results_root, table["baseline"], table["candidate"], table["metrics"])
    welch = any("seed_welch_p" in r for r in rows)
    return [comparison_header(table["labels"], welch)] + [comparison_cells(r, welch) for r in rows]


def pair_cell(r: dict, cell: str) -> str:
    gain, (low, high) = f"{100 * r['relative_gain']:+.1f}%", r["ci95"]
    return {"baseline": f"{r['baseline']:.4f}", "candidate": f"{r['candidate']:.4f}",
            "arrow": f"{r['baseline']:.4f} → {r['candidate']:.4f}", "gain": gain,
            "ci": f"[{low:+.4f}, {high:+.4f}]", "gain_ci": f"{gain} [{low:+.4f}, {high:+.4f}]",
            "t_p": p_value(r["paired_t_p"]), "wilcoxon_p": p_value(r["wilcoxon_p"]),
            "welch_p": p_value(r["seed_welch_p"]) if "seed_welch_p" in r else DASH}[cell]


def pairs_row(table: dict, row: dict, results_root: pathlib.Path) -> list[str]:
    metrics = list(dict.fromkeys(c.rpartition(":")[0] for c in table["columns"]))
    by_metric = dict(zip(metrics, comparison_rows(results_root, row["baseline"], row["candidate"], metrics)))
    return [row["label"]] + [pair_cell(by_metric[c.rpartition(":")[0]], c.rpartition(":")[2])
                             for c in table["columns"]]


def render_table(table: dict, results_root: pathlib.Path, decimals: dict) -> list[list[str]]:
    """The table's cells, header first (no rule line)."""
    if table["kind"] == "compare":
        return compare_table(table, results_root)
    decimals = {**decimals, **table.get("decimals", {})}
    make = pairs_row if table["kind"] == "pairs" else \
        (lambda t, r, root: runs_row(t, r, root, decimals))
    rows = []
    for row in table["row"]:
        try:
            rows.append(make(table, row, results_root))
        except (OSError, KeyError, ValueError) as error:
            raise ValueError(f"table {table['id']}, row {row['label']!r}: {error}") from error
    return [list(table["header"])] + rows


def to_markdown(cells: list[list[str]], indent: str = "") -> list[str]:
    header, *rows = cells
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [indent + line for line in lines]
