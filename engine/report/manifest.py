"""The results manifest (docs/results/manifest.toml): which kept runs make which rows of which table.

    [decimals]                       # printed decimals per metric; 4 when not named
    "Coverage@10" = 3

    [[table]]
    id = "ml-1m-loo"                 # the region <!-- table: ml-1m-loo --> ... <!-- /table --> in `doc`
    doc = "docs/RESULTS.md"
    kind = "runs"                    # runs: mean ± std over the seeds of each row; compare / pairs: paired tests
    decimals = {"Novelty@10" = 3}    # this table's own printed decimals
    header = ["model", "NDCG@10", "Coverage@10"]
    columns = ["NDCG@10", "Coverage@10"]   # a cell per column: [valid:]METRIC, seeds, best_step, config:KEY

    [[table.row]]
    label = "SASRec"
    runs = "sasrec-ml-1m-s[012]"     # glob or prefix{a,b} under docs/results; or csv + model: a sweep's table.csv
    # these cells from other runs (file: another JSON of theirs than results.json; or csv + model)
    parts = [{runs = "sasrec-ml-1m-rerun-s[012]", file = "results.json", columns = ["Coverage@10"]}]
    bold = ["NDCG@10"]
    decimals = {"Coverage@10" = 4}
    unbacked = {"NDCG@10" = "0.1768"}    # printed as measured, but no kept file backs it (rendered with †)

kind = "compare": rows are metrics (`metrics`), `labels` name the two sides, `baseline` / `candidate` are run
patterns whose per-prompt test ranks are compared, or `json` names the file launch.compare wrote when the ranks
were not kept. kind = "pairs": a row per pair (`label`, `baseline`, `candidate`), columns METRIC:CELL with CELL in
baseline, candidate, arrow, gain, ci, gain_ci, t_p, wilcoxon_p, welch_p.
"""

from __future__ import annotations

import pathlib
import tomllib

KINDS = {"runs", "compare", "pairs"}
PAIR_CELLS = {"baseline", "candidate", "arrow", "gain", "ci", "gain_ci", "t_p", "wilcoxon_p", "welch_p"}
ROW_KEYS = {"runs": {"label", "runs", "csv", "model", "split", "parts", "bold", "decimals", "unbacked"},
            "pairs": {"label", "baseline", "candidate"}}
TABLE_KEYS = {"id", "doc", "kind", "header", "columns", "row", "decimals", "labels", "baseline", "candidate", "metrics",
              "json"}


class ManifestError(ValueError):
    pass


def load(path: pathlib.Path) -> dict:
    """The manifest, checked: every problem is one line naming the table (and row) and the key."""
    path = pathlib.Path(path)
    try:
        manifest = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise ManifestError(f"{path}: {error}") from None
    unknown = set(manifest) - {"decimals", "table"}
    if unknown:
        raise ManifestError(f"{path}: unknown top-level keys {sorted(unknown)}")
    seen = set()
    for i, table in enumerate(manifest.get("table", [])):
        where = f"{path}: table {table.get('id', f'#{i + 1}')}"
        check_table(table, where)
        if table["id"] in seen:
            raise ManifestError(f"{where}: id used twice")
        seen.add(table["id"])
    return manifest


def require(mapping: dict, keys, where: str) -> None:
    missing = [k for k in keys if k not in mapping]
    if missing:
        raise ManifestError(f"{where}: missing {', '.join(missing)}")


def check_table(table: dict, where: str) -> None:
    require(table, ("id", "doc", "kind"), where)
    if table["kind"] not in KINDS:
        raise ManifestError(f"{where}: kind {table['kind']!r} is not one of {sorted(KINDS)}")
    if unknown := set(table) - TABLE_KEYS:
        raise ManifestError(f"{where}: unknown keys {sorted(unknown)}")
    if table["kind"] == "compare":
        require(table, ("labels", "metrics"), where)
        if "json" not in table:
            require(table, ("baseline", "candidate"), where)
        return
    require(table, ("header", "columns", "row"), where)
    if len(table["header"]) != len(table["columns"]) + 1:
        raise ManifestError(f"{where}: header has {len(table['header'])} cells, columns {len(table['columns'])} "
                            f"(the header also names the label column)")
    for j, row in enumerate(table["row"]):
        row_where = f"{where}, row {row.get('label', f'#{j + 1}')!r}"
        require(row, ("label",), row_where)
        if unknown := set(row) - ROW_KEYS[table["kind"]]:
            raise ManifestError(f"{row_where}: unknown keys {sorted(unknown)}")
        if table["kind"] == "pairs":
            require(row, ("baseline", "candidate"), row_where)
            for column in table["columns"]:
                if column.rpartition(":")[2] not in PAIR_CELLS:
                    raise ManifestError(f"{where}: column {column!r} is not METRIC:CELL with CELL in "
                                        f"{sorted(PAIR_CELLS)}")
            continue
        all_unbacked = set(table["columns"]) <= set(row.get("unbacked", {}))
        if "runs" not in row and not ("csv" in row and "model" in row) and not all_unbacked:
            raise ManifestError(f"{row_where}: needs runs, or csv and model (or every cell unbacked)")
        if isinstance(row.get("runs"), list) and len(row["runs"]) != len(table["columns"]):
            raise ManifestError(f"{row_where}: a list of runs needs one pattern per column")
        named = [c for part in row.get("parts", []) for c in part.get("columns", [])]
        named += list(row.get("unbacked", {})) + list(row.get("decimals", {}))
        named += [c for c in row.get("bold", []) if isinstance(c, str)]
        if stray := [c for c in named if c not in table["columns"]]:
            raise ManifestError(f"{row_where}: names columns the table does not have: {stray}")
