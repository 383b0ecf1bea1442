"""The result tables of docs/RESULTS.md and the README are exactly what `python -m launch.report render` gives
from the kept run files named in docs/results/manifest.toml: a pasted, edited or stale cell fails, naming its
table and row."""

import pathlib

import pytest

from engine.report import manifest as manifest_lib
from engine.report.documents import differences, regions, render_documents, unrendered_tables
from engine.report.ranks_store import read_store, store_dir

ROOT = pathlib.Path(__file__).resolve().parents[2]
RESULTS = ROOT / "docs" / "results"
MANIFEST = RESULTS / "manifest.toml"


@pytest.fixture(scope="module")
def rendered():
    return render_documents(ROOT, MANIFEST)


def test_the_documents_hold_their_rendered_tables(rendered):
    found = [f"{path.relative_to(ROOT)}: {d}" for path, (old, new) in rendered.items() for d in differences(old, new)]
    assert not found, "\n".join(found) + "\n(python -m launch.report render)"


def test_every_table_of_the_results_document_is_rendered():
    text = (ROOT / "docs" / "RESULTS.md").read_text()
    assert not unrendered_tables(text), f"docs/RESULTS.md lines {unrendered_tables(text)}: a table outside " \
        "<!-- table: ID --> ... <!-- /table -->; add its rows to docs/results/manifest.toml"
    assert "summary" in regions((ROOT / "README.md").read_text())


def test_a_changed_cell_fails_naming_its_table_and_row(rendered):
    old, new = rendered[ROOT / "docs" / "RESULTS.md"]
    assert "| test | **0.1829 ± 0.0013** |" in old
    edited = old.replace("| test | **0.1829 ± 0.0013** |", "| test | **0.1830 ± 0.0013** |", 1)
    found = differences(edited, new)
    assert len(found) == 1 and found[0].startswith("table ml-1m-preset, row 'test':"), found


def test_every_stored_ranks_array_belongs_to_a_kept_run():
    assert not list(RESULTS.rglob("ranks_test.npy")), "loose ranks: python -m launch.report pack-ranks"
    for path in store_dir(RESULTS).glob("*.npz"):
        for run in read_store(path):
            assert (RESULTS / run / "results.json").exists(), f"{path.name}: {run} has no run directory"


def test_the_manifest_renders_both_documents():
    manifest = manifest_lib.load(MANIFEST)
    assert {t["doc"] for t in manifest["table"]} == {"docs/RESULTS.md", "README.md"}
