"""The result tables of README.md and docs/RESULTS.md equal what the kept run files say: each row below is
recomputed from the results.json of its runs in docs/results/ (mean ± sample std over seeds, as launch.summarize
prints them) and compared cell by cell at the precision the document prints; the paired-comparison tables likewise
against the JSON that `launch.compare --out` wrote. A pasted or edited number that no run backs fails."""

import csv
import json
import pathlib
import re
from typing import NamedTuple

import pytest

from launch.summarize import load_results, mean_std

ROOT = pathlib.Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
# The full results, split out of the README; table markers below are unique across the two documents.
RESULTS_DOC = ROOT / "docs" / "RESULTS.md"
DOCUMENTS = (README, RESULTS_DOC)
RESULTS = ROOT / "docs" / "results"

ML_1M = ("NDCG@10", "HR@10", "MRR@10", "NDCG@20", "HR@20", "MRR@20")
BEYOND_ACCURACY = ("Coverage@10", "Serendipity@10", "Novelty@10")
# The ML-1M loo_full table: model | NDCG@10 | ... | MRR@20 | Coverage@10 | Serendipity@10 | Novelty@10
ML_1M_FULL = (*ML_1M, *BEYOND_ACCURACY)
# The Beauty table: model | seeds | valid NDCG@10 | NDCG@10 | ... | Novelty@10
BEAUTY = ("seeds", "valid:NDCG@10", *ML_1M_FULL)
# The ML-1M temporal_sessions table: model | valid NDCG@10 | NDCG@10 | ... | Novelty@10
TEMPORAL = ("valid:NDCG@10", *ML_1M_FULL)
# The `batch` SASRec / LLM2SASRec rows: their beyond-accuracy cells came from `launch.evaluate` on checkpoints of
# an earlier session whose output files were not kept, so only their accuracy cells can be checked.
BEAUTY_ACCURACY = BEAUTY[:-len(BEYOND_ACCURACY)]

# The headings whose first table holds the rows below (in docs/RESULTS.md; GLANCE in the README).
MEASURED = "## SASRec on MovieLens-1M"
ML_1M_LOO = "## Baselines beside SASRec on ML-1M"
ML_1M_TEMPORAL = "## ML-1M `temporal_sessions`"
BEAUTY_HEADING = "## Amazon Beauty"
GLANCE = "## Measured results"

# (the heading whose first table holds the row; the row's first cell, its start or, ending in ' |', all of it;
#  the run directories; the columns after the first, None for a cell another entry of the same row checks)
ROWS = [
    (MEASURED, "test", "sasrec-ml-1m-5k-fromstart-token-s[012]", ML_1M),
    (MEASURED, "valid", "sasrec-ml-1m-5k-fromstart-token-s[012]", tuple(f"valid:{m}" for m in ML_1M)),
    (ML_1M_LOO, "SASRec (the `ml-1m` preset, above)", "sasrec-ml-1m-5k-fromstart-token-s[012]", ML_1M),
    # Its beyond-accuracy cells: reruns of the same command with eval.beyond_accuracy, which reproduced the
    # kept runs bit for bit.
    (ML_1M_LOO, "SASRec (the `ml-1m` preset, above)", "sasrec-ml-1m-5k-rerun-s[012]",
     (None,) * len(ML_1M) + BEYOND_ACCURACY),
    (ML_1M_LOO, "BERT4Rec (the `ml-1m` preset", "bert4rec-ml-1m-s[012]", ML_1M_FULL),
    (ML_1M_LOO, "GRU4Rec (the `ml-1m` preset", "gru4rec-ml-1m-s[012]", ML_1M_FULL),
    (ML_1M_LOO, "LRURec (the `ml-1m` preset", "lrurec-ml-1m-s[012]", ML_1M_FULL),
    (ML_1M_LOO, "FMLP-Rec (the `ml-1m` preset", "fmlprec-ml-1m-s[012]", ML_1M_FULL),
    (ML_1M_LOO, "MostPopular |", "sweep-ml-1m-sknn-emb/most_popular/s[012]", ML_1M_FULL),
    (ML_1M_LOO, "SKNN |", "sweep-ml-1m-sknn-emb/sknn/s[012]", ML_1M_FULL),
    (ML_1M_LOO, "V-SKNN |", "sweep-ml-1m-sknn-emb/v_sknn/s[012]", ML_1M_FULL),
    (ML_1M_LOO, "S-SKNN |", "sweep-ml-1m-sknn-emb/s_sknn/s[012]", ML_1M_FULL),
    (ML_1M_LOO, "SF-SKNN |", "sweep-ml-1m-sknn-emb/sf_sknn/s[012]", ML_1M_FULL),
    (ML_1M_LOO, "LLMSeqSim (MiniLM, mean pooling", "sweep-ml-1m-llmseqsim/llmseqsim/s[012]", ML_1M_FULL),
    (ML_1M_LOO, "SKNN_EMB (MiniLM) |", "sweep-ml-1m-sknn-emb/sknn_emb/s[012]", ML_1M_FULL),
    (ML_1M_LOO, "SKNN_EMB (MiniLM, mean for neighbours", "sweep-ml-1m-sknn-emb/sknn_emb_mean_last/s[012]", ML_1M_FULL),
    (ML_1M_LOO, "LLMSeqSim (MiniLM, last item", "sweep-ml-1m-llmseqsim/llmseqsim_last/s[012]", ML_1M_FULL),
    (ML_1M_LOO, "LLMSeqSim (MiniLM, harmonic", "sweep-ml-1m-llmseqsim/llmseqsim_harmonic/s[012]", ML_1M_FULL),
    (ML_1M_LOO, "LLMSeqSim & Popularity (last item", "sweep-ml-1m-llmseqsim/hybrid_popularity_last/s[012]", ML_1M_FULL),
    (ML_1M_LOO, "LLM2SASRec (MiniLM", "llm2sasrec-ml-1m-5k-s[012]", ML_1M_FULL),
    (ML_1M_LOO, "LLM2SASRec, first preset", "llm2sasrec-ml-1m-s0", ML_1M_FULL),
    (ML_1M_LOO, "LLM2GRU4Rec (MiniLM", "llm2gru4rec-ml-1m-s[012]", ML_1M_FULL),
    (ML_1M_LOO, "LLM2BERT4Rec (MiniLM", "llm2bert4rec-ml-1m-s[012]", ML_1M_FULL),
    (ML_1M_LOO, "LLMSeqSim & Sequential (last item + LLM2BERT4Rec", "hybrid-seq-ml-1m-s[012]", ML_1M_FULL),
    (ML_1M_TEMPORAL, "MostPopular |", "sweep-ml-1m-temporal/most_popular", TEMPORAL),
    (ML_1M_TEMPORAL, "SKNN |", "sweep-ml-1m-temporal/sknn", TEMPORAL),
    (ML_1M_TEMPORAL, "V-SKNN |", "sweep-ml-1m-temporal/v_sknn", TEMPORAL),
    (ML_1M_TEMPORAL, "S-SKNN |", "sweep-ml-1m-temporal/s_sknn", TEMPORAL),
    (ML_1M_TEMPORAL, "SF-SKNN", "sweep-ml-1m-temporal/sf_sknn", TEMPORAL),
    (ML_1M_TEMPORAL, "LLMSeqSim, mean pooling", "sweep-ml-1m-temporal/llmseqsim", TEMPORAL),
    (ML_1M_TEMPORAL, "LLMSeqSim, harmonic pooling", "sweep-ml-1m-temporal/llmseqsim_harmonic", TEMPORAL),
    (ML_1M_TEMPORAL, "LLMSeqSim, last item", "sweep-ml-1m-temporal/llmseqsim_last", TEMPORAL),
    (ML_1M_TEMPORAL, "SKNN_EMB, mean / mean", "sweep-ml-1m-temporal/sknn_emb", TEMPORAL),
    (ML_1M_TEMPORAL, "SKNN_EMB, mean for neighbours", "sweep-ml-1m-temporal/sknn_emb_mean_last", TEMPORAL),
    (ML_1M_TEMPORAL, "LLMSeqSim & Popularity", "sweep-ml-1m-temporal/hybrid_popularity_last", TEMPORAL),
    (ML_1M_TEMPORAL, "SASRec (seeds 0, 1, 2", "sasrec-ml-1m-temporal-s[012]", TEMPORAL),
    (ML_1M_TEMPORAL, "GRU4Rec (seeds 0, 1, 2", "gru4rec-ml-1m-temporal-s[012]", TEMPORAL),
    (ML_1M_TEMPORAL, "BERT4Rec (seeds 0, 1, 2;", "bert4rec-ml-1m-temporal-s[012]", TEMPORAL),
    (ML_1M_TEMPORAL, "LLM2BERT4Rec (seeds 0, 1, 2;", "llm2bert4rec-ml-1m-temporal-s[012]", TEMPORAL),
    (ML_1M_TEMPORAL, "LLM2SASRec (seeds 0, 1, 2", "llm2sasrec-ml-1m-temporal-s[012]", TEMPORAL),
    (ML_1M_TEMPORAL, "LLM2GRU4Rec (seeds 0, 1, 2", "llm2gru4rec-ml-1m-temporal-s[012]", TEMPORAL),
    (ML_1M_TEMPORAL, "FMLP-Rec (seeds 0, 1, 2;", "fmlprec-ml-1m-temporal-s[012]", TEMPORAL),
    (ML_1M_TEMPORAL, "LRURec (seeds 0, 1, 2;", "lrurec-ml-1m-temporal-s[012]", TEMPORAL),
    (ML_1M_TEMPORAL, "LLMSeqSim & Sequential (seeds 0, 1, 2", "hybrid-seq-ml-1m-temporal-s[012]", TEMPORAL),
    (BEAUTY_HEADING, "MostPopular |", "sweep-beauty-knn/most_popular/s[012]", BEAUTY),
    (BEAUTY_HEADING, "SKNN |", "sweep-beauty-knn/sknn/s[012]", BEAUTY),
    (BEAUTY_HEADING, "V-SKNN |", "sweep-beauty-knn/v_sknn/s[012]", BEAUTY),
    (BEAUTY_HEADING, "S-SKNN |", "sweep-beauty-knn/s_sknn/s[012]", BEAUTY),
    (BEAUTY_HEADING, "SF-SKNN (best neighbourhood", "sweep-beauty-knn/sf_sknn/s[012]", BEAUTY),
    (BEAUTY_HEADING, "SKNN_EMB (MiniLM), mean pooling", "sweep-beauty-sknn-emb/sknn_emb_mean_mean", BEAUTY),
    (BEAUTY_HEADING, "SKNN_EMB, mean for neighbours", "sweep-beauty-sknn-emb/sknn_emb_mean_last", BEAUTY),
    # Reruns without beyond-accuracy metrics; those cells are checked against docs/results/sweep-beauty (below).
    (BEAUTY_HEADING, "LLMSeqSim, last item", "llmseqsim-beauty-last", BEAUTY_ACCURACY),
    (BEAUTY_HEADING, "LLMSeqSim & Popularity (last item", "hybrid-pop-beauty-s0", BEAUTY_ACCURACY),
    (BEAUTY_HEADING, "SASRec (ID only, `batch`", "sasrec-beauty-s[012]", BEAUTY_ACCURACY),
    (BEAUTY_HEADING, "SASRec, `train.loss_weighting=token`", "sasrec-beauty-token-s[012]", BEAUTY),
    (BEAUTY_HEADING, "LLM2SASRec (MiniLM → PCA 64 init; `batch`", "llm2sasrec-beauty-s[012]", BEAUTY_ACCURACY),
    (BEAUTY_HEADING, "LLM2SASRec (MiniLM → PCA 64 init), `token`", "llm2sasrec-beauty-token-s[012]", BEAUTY),
    (BEAUTY_HEADING, "BERT4Rec (ID only; seeds 0, 1, 2", "bert4rec-beauty-s[012]", BEAUTY),
    (BEAUTY_HEADING, "BERT4Rec (ID only), 10,000 steps", "bert4rec-beauty-10k-s0", BEAUTY),
    (BEAUTY_HEADING, "LLM2BERT4Rec (MiniLM → PCA 64 init), 10,000 steps", "llm2bert4rec-beauty-10k-s0", BEAUTY),
    (BEAUTY_HEADING, "LLM2BERT4Rec (MiniLM → PCA 64 init; seeds 0, 1, 2", "llm2bert4rec-beauty-s[012]", BEAUTY),
    (BEAUTY_HEADING, "GRU4Rec (ID only) |", "gru4rec-beauty-s0", BEAUTY),
    (BEAUTY_HEADING, "GRU4Rec (ID only), 10,000 steps", "gru4rec-beauty-10k-s[012]", BEAUTY),
    (BEAUTY_HEADING, "LLM2GRU4Rec (MiniLM → PCA 64 init) |", "llm2gru4rec-beauty-s0", BEAUTY),
    (BEAUTY_HEADING, "LLM2GRU4Rec (MiniLM → PCA 64 init), 10,000 steps", "llm2gru4rec-beauty-10k-s[012]", BEAUTY),
    (BEAUTY_HEADING, "LRURec, dropout 0.2", "lrurec-beauty-s0", BEAUTY),
    (BEAUTY_HEADING, "LRURec, dropout 0.5", "lrurec-beauty-{drop05-s0,s1,s2}", BEAUTY),
    (BEAUTY_HEADING, "FMLP-Rec", "fmlprec-beauty-s[012]", BEAUTY),
    (BEAUTY_HEADING, "LLMSeqSim & Sequential (last item; `batch`", "hybrid-seq-beauty-s[012]", BEAUTY),
    (BEAUTY_HEADING, "LLMSeqSim & Sequential (last item; `token`", "hybrid-seq-beauty-token-s[012]", BEAUTY),
]

# 'mean', 'mean ± std', bold or not, optionally '(s1, s2)': the seeds the cell averages when not all of them.
NUMBER = re.compile(r"^\**(\d+(?:\.\d+)?)(?: ± (\d+(?:\.\d+)?))?\**(?: \(((?:s\d+(?:, )?)+)\))?$")


def run_dirs(pattern: str) -> list[pathlib.Path]:
    if pattern.endswith("}"):  # a brace list: prefix{a,b,c}
        prefix, alternatives = pattern[:-1].split("{")
        return [RESULTS / f"{prefix}{a}" for a in alternatives.split(",")]
    return sorted(RESULTS.glob(pattern))


def first_table_after(marker: str) -> list[list[str]]:
    """The cells of the first Markdown table (indented or not) at or after the first line starting with marker,
    in whichever of the README and docs/RESULTS.md has that line."""
    found = []
    for document in DOCUMENTS:
        lines = [line.strip() for line in document.read_text().splitlines()]
        found += [(document, lines, i) for i, line in enumerate(lines) if line.startswith(marker)]
    assert found, f"neither document has a line starting with {marker!r}"
    _, lines, start = found[0]
    table = []
    for line in lines[start:]:
        if line.startswith("|"):
            table.append([cell.strip() for cell in line.strip("|").split("|")])
        elif table:
            break
    return table


def matches(name: str, label: str) -> bool:
    """A row's first cell against an entry's label: its start, or, ending in ' |', all of it."""
    return name == label.rstrip(" |") if label.endswith("|") else name.startswith(label)


def readme_row(heading: str, label: str) -> list[str]:
    found = [row for row in first_table_after(heading) if matches(row[0], label)]
    assert len(found) == 1, f"{len(found)} rows start with {label!r} in the first table under {heading!r}"
    return found[0][1:]


def decimals(number: str) -> int:
    return len(number.split(".")[1]) if "." in number else 0


# Rows of sweeps whose per-run files were not kept: the table.csv that `launch.sweep` wrote backs them.
# (heading, the row's first cell as in ROWS, the sweep's table.csv, its model label, the columns as in ROWS)
SWEEP_TABLE_ROWS = [
    (BEAUTY_HEADING, "LLMSeqSim, mean pooling", "sweep-beauty/table.csv", "llmseqsim_mean", BEAUTY),
    (BEAUTY_HEADING, "LLMSeqSim, harmonic pooling", "sweep-beauty/table.csv", "llmseqsim_harmonic", BEAUTY),
    (BEAUTY_HEADING, "LLMSeqSim, last item", "sweep-beauty/table.csv", "llmseqsim_last",
     (None,) * len(BEAUTY_ACCURACY) + BEYOND_ACCURACY),
    (BEAUTY_HEADING, "LLMSeqSim & Popularity (last item", "sweep-beauty/table.csv", "hybrid_popularity_last",
     (None,) * len(BEAUTY_ACCURACY) + BEYOND_ACCURACY),
]


class Measured(NamedTuple):
    mean: float
    std: float
    runs: int


def measured_by_runs(results: list[dict], split: str, metric: str, seeds: list[str] | None) -> Measured | None:
    """Mean ± std of metric over the runs of the named seeds (all when None); None when no run has it."""
    chosen = [r for r in results if seeds is None or f"s{r['seed']}" in seeds]
    assert chosen, f"no run has the seeds {seeds}"
    lacking = [r["seed"] for r in chosen if metric not in r[split]]
    if len(lacking) == len(chosen):
        return None
    assert not lacking, f"the results.json of seeds {lacking} have no {split} {metric}"
    return Measured(*mean_std([r[split][metric] for r in chosen]), len(chosen))


def check_cells(label: str, columns, cells: list[str], runs: int, measure) -> None:
    """Each README cell against measure(split, metric, seeds) at the printed precision."""
    assert len(cells) >= len(columns), f"row {label!r} has {len(cells)} cells after the label"
    for column, cell in zip(columns, cells):
        if column is None:
            continue
        if column == "seeds":
            assert int(cell) == runs, f"{label}: seeds {cell}, runs {runs}"
            continue
        split, _, metric = column.rpartition(":")
        split = split or "test"
        if cell == "–":  # a dash says no run measured it; it must not hide a measured value
            assert measure(split, metric, None) is None, f"{label}, {column}: a '–' where the runs have a value"
            continue
        match = NUMBER.match(cell)
        assert match, f"{label}, {column}: cell {cell!r} is not 'mean' or 'mean ± std'"
        printed_mean, printed_std, seeds = match.groups()
        measured = measure(split, metric, seeds.split(", ") if seeds else None)
        assert measured is not None, f"{label}, {column}: printed {cell}, but no run has {split} {metric}"
        # Equal at the printed precision (half a unit of the last printed digit, plus float slack).
        assert close_at_printed_precision(printed_mean, measured.mean), \
            f"{label}, {column}: printed {printed_mean}, runs {measured.mean:.6f}"
        if printed_std is not None:
            assert measured.runs > 1, f"{label}, {column}: a spread printed for one run"
            assert close_at_printed_precision(printed_std, measured.std), \
                f"{label}, {column}: printed std {printed_std}, runs {measured.std:.6f}"
        else:
            assert measured.runs == 1, f"{label}, {column}: {measured.runs} runs but no spread printed"


@pytest.mark.parametrize(
    ("heading", "label", "pattern", "columns"), ROWS, ids=[f"{h[:12]}:{lab}:{pat}" for h, lab, pat, _ in ROWS]
)
def test_readme_row_is_backed_by_run_files(heading, label, pattern, columns):
    dirs = run_dirs(pattern)
    assert dirs, f"no run directories match docs/results/{pattern}"
    results = load_results(dirs)
    check_cells(label, columns, readme_row(heading, label), len(results),
                lambda split, metric, seeds: measured_by_runs(results, split, metric, seeds))


@pytest.mark.parametrize(("heading", "label", "table", "model", "columns"), SWEEP_TABLE_ROWS,
                         ids=[f"{h[:12]}:{lab}:{model}" for h, lab, _, model, _ in SWEEP_TABLE_ROWS])
def test_readme_row_is_backed_by_its_sweep_table(heading, label, table, model, columns):
    with open(RESULTS / table, newline="") as f:
        rows = {row["split"]: row for row in csv.DictReader(f) if row["model"] == model}
    assert rows, f"{table} has no rows for {model!r}"

    def measure(split, metric, seeds):
        assert seeds is None, f"{label}: {table} holds the mean over all seeds only"
        row = rows[split]
        if not row.get(f"{metric} mean") or row[f"{metric} mean"] == "nan":
            return None
        return Measured(float(row[f"{metric} mean"]), float(row[f"{metric} std"]), int(row["num_seeds"]))

    check_cells(label, columns, readme_row(heading, label), int(rows["test"]["num_seeds"]), measure)


# Cells no kept file backs, as (heading, the row's first cell, the column headers): the first-preset SASRec row
# on ML-1M (only the summary printed at the time was kept) and the beyond-accuracy cells of the Beauty `batch`
# rows (from `launch.evaluate` calls whose output was not kept).
UNBACKED = [
    (ML_1M_LOO, "SASRec (the first preset)", ML_1M_FULL),
    (BEAUTY_HEADING, "SASRec (ID only, `batch` weighting: the first preset)", BEYOND_ACCURACY),
    (BEAUTY_HEADING, "LLM2SASRec (MiniLM → PCA 64 init; `batch` weighting)", BEYOND_ACCURACY),
]


@pytest.mark.parametrize("heading", [MEASURED, ML_1M_LOO, ML_1M_TEMPORAL, BEAUTY_HEADING])
def test_every_cell_of_the_result_tables_is_checked(heading):
    """A row or column added to a results table without an entry above fails here rather than going unchecked."""
    header, _, *rows = first_table_after(heading)
    entries = [(label, columns) for h, label, _, columns in ROWS if h == heading]
    entries += [(label, columns) for h, label, _, _, columns in SWEEP_TABLE_ROWS if h == heading]
    unchecked = []
    for row in rows:
        checked = {header[1 + i] for label, columns in entries if matches(row[0], label)
                   for i, column in enumerate(columns) if column is not None}
        checked |= {h for head, name, columns in UNBACKED if head == heading and row[0] == name for h in columns}
        unchecked += [f"{row[0][:40]} / {h}" for h in header if h not in checked and h != header[0]]
    assert not unchecked, f"cells under {heading!r} that no entry checks: {unchecked}"


# The README's summary table: test NDCG@10 per model (rows) on Beauty, ML-1M loo_full and ML-1M temporal_sessions
# (columns), each cell from the same runs as its row in the full tables.
GLANCE_ROWS = {
    "SASRec": ("sasrec-beauty-token-s[012]", "sasrec-ml-1m-5k-fromstart-token-s[012]", "sasrec-ml-1m-temporal-s[012]"),
    "LLM2SASRec": ("llm2sasrec-beauty-token-s[012]", "llm2sasrec-ml-1m-5k-s[012]", "llm2sasrec-ml-1m-temporal-s[012]"),
    "BERT4Rec": ("bert4rec-beauty-s[012]", "bert4rec-ml-1m-s[012]", "bert4rec-ml-1m-temporal-s[012]"),
    "LLM2BERT4Rec": ("llm2bert4rec-beauty-s[012]", "llm2bert4rec-ml-1m-s[012]", "llm2bert4rec-ml-1m-temporal-s[012]"),
    "GRU4Rec": ("gru4rec-beauty-10k-s[012]", "gru4rec-ml-1m-s[012]", "gru4rec-ml-1m-temporal-s[012]"),
    "LLM2GRU4Rec": ("llm2gru4rec-beauty-10k-s[012]", "llm2gru4rec-ml-1m-s[012]", "llm2gru4rec-ml-1m-temporal-s[012]"),
    "SF-SKNN": ("sweep-beauty-knn/sf_sknn/s[012]", "sweep-ml-1m-sknn-emb/sf_sknn/s[012]",
                "sweep-ml-1m-temporal/sf_sknn"),
    "SKNN_EMB": ("sweep-beauty-sknn-emb/sknn_emb_mean_last", "sweep-ml-1m-sknn-emb/sknn_emb_mean_last/s[012]",
                 "sweep-ml-1m-temporal/sknn_emb_mean_last"),
    "LLMSeqSim (last": ("llmseqsim-beauty-last", "sweep-ml-1m-llmseqsim/llmseqsim_last/s[012]",
                        "sweep-ml-1m-temporal/llmseqsim_last"),
    "LLMSeqSim & Popularity": ("hybrid-pop-beauty-s0", "sweep-ml-1m-llmseqsim/hybrid_popularity_last/s[012]",
                               "sweep-ml-1m-temporal/hybrid_popularity_last"),
    "LLMSeqSim & Sequential": ("hybrid-seq-beauty-token-s[012]", "hybrid-seq-ml-1m-s[012]",
                               "hybrid-seq-ml-1m-temporal-s[012]"),
}


def test_readme_summary_table_is_backed_by_run_files():
    header, _, *rows = first_table_after(GLANCE)
    assert len(header) == 4, header
    for row in rows:
        (label, patterns), = [(label, p) for label, p in GLANCE_ROWS.items() if row[0].startswith(label + " ")
                              or row[0] == label]
        for pattern, cell in zip(patterns, row[1:]):
            results = load_results(run_dirs(pattern))
            check_cells(f"{label} ({pattern})", ("NDCG@10",), [cell], len(results),
                        lambda split, metric, seeds, results=results: measured_by_runs(results, split, metric, seeds))
    assert len(rows) == len(GLANCE_ROWS), f"{len(rows)} rows under {GLANCE!r}, {len(GLANCE_ROWS)} entries"


# The paired-comparison tables of docs/RESULTS.md (metric | baseline | candidate | gain | 95% CI | paired t p |
# Wilcoxon p | seeds Welch p), each against the JSON that `launch.compare --out` wrote.
COMPARISONS = [
    ("| metric | SASRec (`token`) | LLM2SASRec (`token`) |", "compare-beauty-llm2sasrec-token.json"),
    ("| metric | SASRec | LLM2SASRec |", "compare-beauty-llm2sasrec-3seeds.json"),
    ("| metric | SASRec (ML-1M) | LLM2SASRec (ML-1M) |", "compare-ml-1m-sasrec-llm2sasrec-5k-3seeds.json"),
    ("| metric | BERT4Rec | LLM2BERT4Rec |", "compare-ml-1m-bert4rec-llm2bert4rec-3seeds.json"),
    ("| metric | BERT4Rec (Beauty) | LLM2BERT4Rec (Beauty) |", "compare-beauty-llm2bert4rec-3seeds.json"),
    ("| metric | GRU4Rec, 10k (Beauty) | LLM2GRU4Rec, 10k (Beauty) |", "compare-beauty-llm2gru4rec-10k-3seeds.json"),
    ("| metric | BERT4Rec (temporal) | LLM2BERT4Rec (temporal) |",
     "compare-ml-1m-temporal-bert4rec-llm2bert4rec-3seeds.json"),
    ("| metric | SASRec (temporal) | FMLP-Rec (temporal) |", "compare-ml-1m-temporal-sasrec-fmlprec-3seeds.json"),
    ("| metric | GRU4Rec (temporal) | FMLP-Rec (temporal) |", "compare-ml-1m-temporal-gru4rec-fmlprec-3seeds.json"),
    ("| metric | SASRec (temporal) | LRURec (temporal) |", "compare-ml-1m-temporal-sasrec-lrurec-3seeds.json"),
]
SIGNED = re.compile(r"^([+-]?\d+(?:\.\d+)?)(?:e([+-]?\d+))?%?$")


def close_at_printed_precision(printed: str, value: float) -> bool:
    """'+7.7%' against 0.0768 (as a percentage), '1.8e-16' or '0.0064' against a float: within half a unit
    of the last printed digit."""
    match = SIGNED.match(printed)
    assert match, f"{printed!r} is not a number"
    mantissa, exponent = match.groups()
    scale = 10.0 ** int(exponent or 0)
    value = value * 100 if printed.endswith("%") else value
    return abs(float(mantissa) * scale - value) <= 0.5 * 10 ** -decimals(mantissa) * scale * (1 + 1e-9)


@pytest.mark.parametrize(("header", "name"), COMPARISONS, ids=[name for _, name in COMPARISONS])
def test_readme_comparison_is_backed_by_its_json(header, name):
    compared = {row["metric"]: row for row in json.loads((RESULTS / name).read_text())["rows"]}
    table = first_table_after(header)[2:]  # past the header and its rule
    assert table, f"no rows under {header!r}"
    for metric, baseline, candidate, gain, ci, t_p, wilcoxon_p, welch_p in table:
        row = compared[metric]
        low, high = ci.strip("[]").split(", ")
        pairs = [(baseline, row["baseline"]), (candidate, row["candidate"]), (gain, row["relative_gain"]),
                 (low, row["ci95"][0]), (high, row["ci95"][1]), (t_p, row["paired_t_p"]),
                 (wilcoxon_p, row["wilcoxon_p"]), (welch_p, row["seed_welch_p"])]
        for printed, value in pairs:
            assert close_at_printed_precision(printed, value), f"{name} {metric}: printed {printed}, JSON {value:.6g}"


# The H200 benchmark table (README "On one NVIDIA H200"): the ML-1M rows against the JSON files, the 100,000-item
# rows against the lines the benchmark printed in the kept session log (its JSON was never written).
H200_HEADING = "### On one NVIDIA H200"
BENCHMARKS = ROOT / "docs" / "benchmarks"
H200_ROWS = [("ce", "step-ml-1m-h200.json"), ("ce_fused", "step-ml-1m-h200.json"),
             ("ce_fused, bfloat16 compute", "step-ml-1m-bf16-h200.json")]


def plain(cell: str) -> str:
    """'1,024 MiB' -> '1024': the number as printed, for close_at_printed_precision."""
    return cell.replace(",", "").removesuffix(" MiB")


@pytest.mark.parametrize(("label", "name"), H200_ROWS)
def test_readme_h200_step_row_is_backed_by_its_json(label, name):
    row = next(r for r in first_table_after(H200_HEADING) if r[0] == "ML-1M" and r[2] == label)
    measured = next(r for r in json.loads((BENCHMARKS / name).read_text())["rows"] if r["loss"] == label.split(",")[0])
    expected = [measured["steps_per_s"], measured["sequences_per_s"], measured["tokens_per_s"],
                measured["compile_seconds"], measured["temp_bytes_widest_bucket"] / 2**20,
                measured["device_peak_bytes"] / 2**20]
    for cell, value in zip(row[3:], expected):
        assert close_at_printed_precision(plain(cell), value), f"{label}: {cell} vs {value}"
    assert int(plain(row[1])) == measured["num_items"]


def test_readme_h200_large_catalogue_rows_match_the_printed_log():
    log = (BENCHMARKS / "h200-session-log.txt").read_text()
    rows = [row for row in first_table_after(H200_HEADING) if row[1] == "100,000"]
    assert [row[2] for row in rows] == ["ce", "ce_fused"]
    for row in rows:
        line = re.search(rf"^\s+100000 {row[2]}\s+([\d.]+) steps/s\s+([\d.]+) seq/s\s+(\d+) tok/s compile\s+([\d.]+) s"
                         rf"\s+temp\s+([\d.]+) MiB", log, re.MULTILINE)
        assert line, f"no printed line for the 100,000-item {row[2]} row"
        for cell, value in zip(row[3:8], map(float, line.groups())):
            assert close_at_printed_precision(plain(cell), value), f"{row[2]}: {cell}"


def test_readme_h200_evaluation_rates_are_backed_by_their_json():
    text = README.read_text()
    for r in json.loads((BENCHMARKS / "eval-h200.json").read_text())["rows"]:
        assert f"{r['users_per_s']:,.0f}" in text, f"eval {r['num_items']} items chunk {r['chunk_size']}"


def test_h200_smoke_run_metrics_equal_the_cpu_runs_at_the_printed_decimals():
    log = (BENCHMARKS / "h200-smoke-tiny.log").read_text()
    cpu = json.loads((BENCHMARKS / "cpu-smoke-tiny-results.json").read_text())
    for split in ("valid", "test"):
        printed = re.search(rf"^{split}: (.*)$", log, re.MULTILINE).group(1).split()
        gpu = {name: float(value) for name, value in (cell.split("=") for cell in printed)}
        assert gpu.keys() == cpu[split].keys()
        for name, value in gpu.items():
            assert abs(value - cpu[split][name]) <= 5e-5, (split, name, value, cpu[split][name])
