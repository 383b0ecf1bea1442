"""The rendered regions of the Markdown documents: a table sits between

    <!-- table: ID -->
    ... (rendered; do not edit by hand)
    <!-- /table -->

and everything outside those lines is hand-written prose. A marker may be indented (a table inside a list item);
the table gets its indentation."""

from __future__ import annotations

import pathlib
import re

from engine.report import manifest as manifest_lib
from engine.report.tables import render_table, to_markdown

REGION = re.compile(r"^(?P<indent>[ \t]*)<!-- table: (?P<id>\S+) -->\n(?P<body>.*?)^[ \t]*<!-- /table -->$",
                    re.MULTILINE | re.DOTALL)


def regions(text: str) -> dict[str, re.Match]:
    found = {}
    for match in REGION.finditer(text):
        if match["id"] in found:
            raise ValueError(f"table {match['id']} is marked twice")
        found[match["id"]] = match
    return found


def render_documents(repo_root: pathlib.Path, manifest_path: pathlib.Path) -> dict[pathlib.Path, tuple[str, str]]:
    """{document: (its text now, its text with every marked table rendered)} for the documents the
    manifest names. Raises on a table with no region, or a region with no table."""
    manifest = manifest_lib.load(manifest_path)
    results_root = manifest_path.parent
    decimals = manifest.get("decimals", {})
    by_doc: dict[str, list[dict]] = {}
    for table in manifest.get("table", []):
        by_doc.setdefault(table["doc"], []).append(table)
    out = {}
    for doc, tables in by_doc.items():
        path = repo_root / doc
        text = path.read_text()
        found = regions(text)
        ids = {t["id"] for t in tables}
        if missing := sorted(ids - set(found)):
            raise ValueError(f"{doc}: no <!-- table: ID --> region for {missing}")
        if stray := sorted(set(found) - ids):
            raise ValueError(f"{doc}: regions {stray} are not tables of {manifest_path}")
        rendered = {t["id"]: render_table(t, results_root, decimals) for t in tables}
        out[path] = (text, REGION.sub(lambda m, rendered=rendered: replacement(m, rendered[m["id"]]), text))
    return out


def replacement(region: re.Match, cells: list[list[str]]) -> str:
    indent = region["indent"]
    return "\n".join([f"{indent}<!-- table: {region['id']} -->", *to_markdown(cells, indent),
                      f"{indent}<!-- /table -->"])


def table_lines(text: str) -> dict[str, list[str]]:
    """The lines of each marked region, by table id."""
    return {table_id: m["body"].splitlines() for table_id, m in regions(text).items()}


def differences(old: str, new: str) -> list[str]:
    """One line per row that differs between two texts of a document: the table, its row label, both lines."""
    out = []
    old_tables, new_tables = table_lines(old), table_lines(new)
    for table_id in sorted(set(old_tables) | set(new_tables)):
        a, b = old_tables.get(table_id, []), new_tables.get(table_id, [])
        for i in range(max(len(a), len(b))):
            line_a = a[i].strip() if i < len(a) else "(no line)"
            line_b = b[i].strip() if i < len(b) else "(no line)"
            if line_a != line_b:
                label = (line_b if line_b != "(no line)" else line_a).strip("|").split("|")[0].strip()
                out.append(f"table {table_id}, row {label!r}:\n  written:  {line_a}\n  rendered: {line_b}")
    if not out and old != new:
        out.append("the text outside the tables differs (indentation of a region?)")
    return out


def unrendered_tables(text: str) -> list[int]:
    """Line numbers of Markdown table rows outside every marked region."""
    inside = set()
    for m in REGION.finditer(text):
        first = text.count("\n", 0, m.start()) + 1
        inside.update(range(first, first + m.group(0).count("\n") + 1))
    lines = text.splitlines()
    in_code = False
    out = []
    for number, line in enumerate(lines, 1):
        if line.strip().startswith("```"):
            in_code = not in_code
        elif not in_code and line.strip().startswith("|") and number not in inside:
            out.append(number)
    return out
