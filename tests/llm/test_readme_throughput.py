"""The README's LLM-server throughput table equals the kept output of `launch.llm_server --bench`."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
KEPT = ROOT / "docs/benchmarks/llm_server_throughput.txt"


def _table_rows(lines):
    return [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines
            if line.startswith("|") and not line.startswith("|---")]


def kept_runs() -> list[tuple[str, dict[str, list[str]]]]:
    """(command, {concurrency: row}) per run in the kept file."""
    runs, command, block = [], None, []
    for line in KEPT.read_text().splitlines() + ["$ end"]:
        if line.startswith("$ "):
            if command is not None:
                runs.append((command, {row[0]: row for row in _table_rows(block)[1:]}))
            command, block = line[2:], []
        else:
            block.append(line)
    return runs


def readme_groups() -> list[tuple[str, list[list[str]]]]:
    lines = (ROOT / "README.md").read_text().splitlines()
    start = lines.index("<!-- llm-throughput -->") + 1
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith("|") and i > start)
    groups = []
    for row in _table_rows(lines[start:end])[1:]:
        if row[0]:
            groups.append((row[0], []))
        groups[-1][1].append(row[1:])
    return groups


def test_readme_throughput_rows_are_the_kept_benchmark_output():
    runs, groups = kept_runs(), readme_groups()
    assert len(runs) == len(groups) == 4
    for (command, rows), (label, readme_rows) in zip(runs, groups):
        processes = re.search(r"--processes (\d)", label).group(1)
        assert f"--processes {processes}" in command and ("--binary" in command) == ("--binary" in label)
        assert [r[0] for r in readme_rows] == ["1", "4", "8"]
        for concurrency, completions, tokens, cpu in readme_rows:
            kept = rows[concurrency]  # concurrency, completions/s, tokens/s, prompt tok/s, ..., CPU s, seconds
            assert (completions, tokens, cpu) == (kept[1], kept[2], kept[6]), (label, concurrency)
