"""The benchmark figures of the README ("On one NVIDIA H200") equal the kept JSON files and session logs in
docs/benchmarks/, at the precision the README prints. (The result tables are rendered and checked by
tests/report/.)"""

import json
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SIGNED = re.compile(r"^([+-]?\d+(?:\.\d+)?)(?:e([+-]?\d+))?%?$")


def first_table_after(marker: str) -> list[list[str]]:
    """The cells of the first Markdown table at or after the first README line starting with marker."""
    lines = [line.strip() for line in README.read_text().splitlines()]
    starts = [i for i, line in enumerate(lines) if line.startswith(marker)]
    assert starts, f"the README has no line starting with {marker!r}"
    table = []
    for line in lines[starts[0]:]:
        if line.startswith("|"):
            table.append([cell.strip() for cell in line.strip("|").split("|")])
        elif table:
            break
    return table


def decimals(number: str) -> int:
    return len(number.split(".")[1]) if "." in number else 0


def close_at_printed_precision(printed: str, value: float) -> bool:
    """'1.8e-16' or '0.0064' against a float: within half a unit of the last printed digit."""
    match = SIGNED.match(printed)
    assert match, f"{printed!r} is not a number"
    mantissa, exponent = match.groups()
    scale = 10.0 ** int(exponent or 0)
    value = value * 100 if printed.endswith("%") else value
    return abs(float(mantissa) * scale - value) <= 0.5 * 10 ** -decimals(mantissa) * scale * (1 + 1e-9)


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
