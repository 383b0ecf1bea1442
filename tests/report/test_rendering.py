"""engine.report on small made-up runs: the cells a manifest row gives, the compact ranks store, the regions
of a document, and one-line errors for a bad manifest."""

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from engine.eval.significance import paired_comparison
from engine.report import manifest as manifest_lib
from engine.report.documents import differences, render_documents
from engine.report.ranks_store import find_ranks, pack, read_store
from engine.report.tables import load_ranks

REPO = pathlib.Path(__file__).resolve().parents[2]


def fake_run(root: pathlib.Path, name: str, seed: int, test: dict, valid=None, ranks=None, dataset="beauty"):
    d = root / name
    d.mkdir(parents=True)
    (d / "results.json").write_text(json.dumps({"dataset": dataset, "protocol": "loo_full", "seed": seed,
                                                "best_step": 4700, "test": test, "valid": valid or {}}))
    (d / "config.json").write_text(json.dumps({"train": {"max_steps": 5000}}))
    if ranks is not None:
        np.save(d / "ranks_test.npy", np.asarray(ranks, dtype=np.int32))
    return d


MANIFEST = '''
[decimals]
"Novelty@10" = 2

[[table]]
id = "t"
doc = "doc.md"
kind = "runs"
header = ["model", "NDCG@10", "Novelty@10", "budget", "best step"]
columns = ["NDCG@10", "Novelty@10", "config:train.max_steps", "best_step"]

[[table.row]]
label = "three seeds"
runs = "a-s[012]"
bold = ["NDCG@10"]

[[table.row]]
label = "one seed"
runs = "a-s0"

[[table.row]]
label = "not kept"
unbacked = {"NDCG@10" = "0.5", "Novelty@10" = "–", "config:train.max_steps" = "–", "best_step" = "–"}

[[table]]
id = "c"
doc = "doc.md"
kind = "compare"
labels = ["A", "B"]
metrics = ["HR@10"]
baseline = "a-s[012]"
candidate = "b-s[012]"
'''

DOC = '''# Results

<!-- table: t -->
<!-- /table -->

Prose between the tables stays as written.

  <!-- table: c -->
  | stale |
  <!-- /table -->
'''


@pytest.fixture
def results(tmp_path):
    root = tmp_path / "docs" / "results"
    rng = np.random.default_rng(0)
    for seed, (ndcg, novelty) in enumerate([(0.1, 10.0), (0.2, None), (0.3, 11.0)]):
        test = {"NDCG@10": ndcg} | ({"Novelty@10": novelty} if novelty else {})
        fake_run(root, f"a-s{seed}", seed, test, ranks=rng.integers(0, 300, size=50))
        fake_run(root, f"b-s{seed}", seed, test, ranks=rng.integers(0, 300, size=50))
    (root / "manifest.toml").write_text(MANIFEST)
    (tmp_path / "doc.md").write_text(DOC)
    return root


def test_rows_render_mean_std_single_runs_seed_subsets_and_unbacked_cells(results):
    (_, (old, new)), = render_documents(results.parents[1], results / "manifest.toml").items()
    assert "| three seeds | **0.2000 ± 0.1000** | 10.50 ± 0.71 (s0, s2) | 5,000 | 4,700 |" in new
    assert "| one seed | 0.1000 | 10.00 | 5,000 | 4,700 |" in new
    assert "| not kept | 0.5 † | – | – | – |" in new
    assert "Prose between the tables stays as written." in new and "| stale |" not in new
    a = [np.load(results / f"a-s{s}" / "ranks_test.npy") for s in range(3)]
    b = [np.load(results / f"b-s{s}" / "ranks_test.npy") for s in range(3)]
    row = paired_comparison(a, b, "HR@10")
    assert f"  | HR@10 | {row['baseline']:.4f} | {row['candidate']:.4f} |" in new  # indented like its marker
    named = [d.split(":")[0] for d in differences(old, new)]
    assert "table c, row 'metric'" in named and "table t, row 'three seeds'" in named and \
        "table t, row 'not kept'" in named


def test_packed_ranks_read_back_unchanged_and_the_renderer_uses_them(results):
    before = render_documents(results.parents[1], results / "manifest.toml")
    originals = {d.name: np.load(d / "ranks_test.npy") for d in results.iterdir() if d.is_dir()}
    assert len(pack(results)) == 6
    assert not list(results.rglob("ranks_test.npy"))
    stored = read_store(results / "ranks" / "beauty-loo_full.npz")
    assert {a.dtype for a in stored.values()} == {np.dtype(np.uint16)}  # ranks up to 299
    for name, ranks in originals.items():
        got = find_ranks(results, name)
        assert got.dtype == np.int32 and np.array_equal(got, ranks)
        assert np.array_equal(load_ranks(results, results / name), ranks)
    assert render_documents(results.parents[1], results / "manifest.toml") == before


def test_packing_refuses_other_ranks_for_a_stored_run(results):
    pack(results)
    np.save(results / "a-s0" / "ranks_test.npy", np.zeros(50, dtype=np.int32))
    with pytest.raises(ValueError, match="holds other ranks for a-s0"):
        pack(results)
    assert (results / "a-s0" / "ranks_test.npy").exists()


def test_a_run_without_ranks_says_how_to_write_them(results):
    with pytest.raises(FileNotFoundError, match=r"ranks_valid.npy not found.*launch.evaluate"):
        load_ranks(results, results / "a-s0", "valid")


@pytest.mark.parametrize(("edit", "message"), [
    (('runs = "a-s0"', 'runz = "a-s0"'), r"table t, row 'one seed'.*unknown keys \['runz'\]"),
    (('bold = ["NDCG@10"]', 'bold = ["HR@10"]'), r"table t, row 'three seeds'.*columns the table does not have"),
    (('kind = "compare"', 'kind = "bars"'), r"table c: kind 'bars'"),
    (('id = "c"', 'id = "t"'), r"table t: id used twice"),
])
def test_a_bad_manifest_is_one_line_naming_table_and_row(tmp_path, edit, message):
    path = tmp_path / "manifest.toml"
    path.write_text(MANIFEST.replace(*edit))
    with pytest.raises(manifest_lib.ManifestError, match=message) as error:
        manifest_lib.load(path)
    assert "\n" not in str(error.value)


def test_a_missing_run_names_its_table_and_row(results):
    (results / "manifest.toml").write_text(MANIFEST.replace('runs = "a-s0"', 'runs = "gone-s0"'))
    with pytest.raises(ValueError, match=r"table t, row 'one seed': no run directory .*gone-s0"):
        render_documents(results.parents[1], results / "manifest.toml")


def run_report(root: pathlib.Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "launch.report", *args, f"--root={root}"], check=False,
                          cwd=REPO, capture_output=True, text=True, timeout=300)


def test_the_command_checks_then_renders_in_place(results):
    root = results.parents[1]
    stale = run_report(root, "render", "--check")
    assert stale.returncode == 1 and "doc.md: table t, row 'three seeds'" in stale.stderr
    assert (root / "doc.md").read_text() == DOC  # --check writes nothing
    assert run_report(root, "render").returncode == 0
    assert run_report(root, "render", "--check").returncode == 0
    packed = run_report(root, "pack-ranks")
    assert packed.returncode == 0 and "moved 6" in packed.stdout
    assert run_report(root, "render", "--check").returncode == 0
    bad = run_report(root, "draw")
    assert bad.returncode == 1 and "unknown command 'draw'" in bad.stderr
