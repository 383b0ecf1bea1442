"""The package layers: no module imports from a layer above its own, no two folders import each other
(directly or round a longer loop), and engine never imports llm.

Every import counts, also those inside functions (a lazy import is still a dependency). A unit is a folder
(engine/eval, llm/stages) or one of engine's top-level modules (engine/recommender.py); llm's and launch's
top-level modules form one unit each. A new folder must be placed in LAYERS before it can be imported.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("engine", "llm", "launch", "configs")

# Low to high. A unit may import units of its own layer or below, never above.
LAYERS = (
    ("engine", "engine.run_dir", "engine.tiling", "engine.data"),  # files and data, no model knowledge
    ("engine.models", "engine.text"),                               # networks: recommenders, text encoder
    ("engine.recommender",),                                        # the Recommender contract (scores, recommend)
    ("engine.eval",),                                               # metrics and protocols of any Recommender
    ("engine.neighbors", "engine.embedding_recs"),                  # non-neural recommenders
    ("engine.train", "engine.lm"),                                  # the trainer; the causal LM with its LoRA training
    ("engine.neural_recommender",),                                 # a trained model as a Recommender
    ("engine.runner", "engine.report", "engine.benchmark"),           # run driver, registry; result tables; benchmarks
    ("llm", "llm.prompts", "llm.stages"),                           # the text side (engine never imports it)
    ("launch", "configs"),                                          # entry points and configs
)
LAYER_OF = {unit: level for level, units in enumerate(LAYERS) for unit in units}


def unit_of(module: str, root: pathlib.Path) -> str | None:
    """The unit of a dotted module name inside PACKAGES; None for third-party modules."""
    parts = module.split(".")
    if parts[0] not in PACKAGES:
        return None
    if parts[0] in ("launch", "configs") or len(parts) == 1:
        return parts[0]
    if parts[0] == "llm" and not (root / "llm" / parts[1]).is_dir():
        return "llm"  # llm's top-level modules are one unit
    return ".".join(parts[:2])


def module_name(path: pathlib.Path, root: pathlib.Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def file_unit(path: pathlib.Path, root: pathlib.Path) -> str:
    """engine/eval/x.py -> engine.eval; engine/recommender.py -> engine.recommender; llm/client.py -> llm."""
    parts = path.relative_to(root).parts
    if parts[0] in ("launch", "configs") or len(parts) == 1:
        return parts[0]
    if parts[0] == "llm" and len(parts) == 2:
        return "llm"  # llm's top-level modules are one unit
    return f"{parts[0]}.{pathlib.Path(parts[1]).stem}" if parts[1] != "__init__.py" else parts[0]


def imported_modules(path: pathlib.Path, root: pathlib.Path):
    """(line, dotted module) of every import in the file, relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module_name(path, root).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
            # `from engine import data` imports engine.data: the names may be modules.
            names = [f"{base}.{a.name}" for a in node.names] if base in PACKAGES else [base]
            for name in names:
                yield node.lineno, name


def import_edges(root: pathlib.Path) -> list[tuple[str, str, str]]:
    """(importing unit, imported unit, 'file:line') for every import between two different units."""
    edges = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            source = file_unit(path, root)
            for line, module in imported_modules(path, root):
                target = unit_of(module, root)
                if target is not None and target != source:
                    edges.append((source, target, f"{path.relative_to(root)}:{line}"))
    return edges


def layer_violations(edges) -> list[str]:
    problems = []
    for source, target, where in edges:
        for unit in (source, target):
            if unit not in LAYER_OF:
                problems.append(f"{where}: unit {unit} has no layer; add it to LAYERS in tests/test_layers.py")
        if source in LAYER_OF and target in LAYER_OF and LAYER_OF[target] > LAYER_OF[source]:
            problems.append(f"{where}: {source} (layer {LAYER_OF[source]}) imports {target} "
                            f"(layer {LAYER_OF[target]}), a higher layer")
    return sorted(set(problems))


def folder_cycles(edges) -> list[list[str]]:
    """Strongly connected groups of two or more units (Tarjan), each a set of folders that import each other."""
    graph: dict[str, set[str]] = {}
    for source, target, _ in edges:
        graph.setdefault(source, set()).add(target)
        graph.setdefault(target, set())
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def describe_cycles(edges) -> list[str]:
    out = []
    for group in folder_cycles(edges):
        inside = [f"{s} -> {t} ({w})" for s, t, w in edges if s in group and t in group]
        out.append(f"{' <-> '.join(group)}: " + "; ".join(sorted(inside)[:6]))
    return out


@pytest.fixture(scope="module")
def edges():
    return import_edges(ROOT)


def test_no_module_imports_a_higher_layer(edges):
    assert layer_violations(edges) == []


def test_no_two_folders_import_each_other(edges):
    assert describe_cycles(edges) == []


def test_engine_never_imports_llm_launch_or_configs(edges):
    bad = [f"{w}: {s} imports {t}" for s, t, w in edges
           if s.split(".")[0] == "engine" and t.split(".")[0] in ("llm", "launch", "configs")]
    assert bad == []


def test_the_check_fails_on_an_upward_import_and_on_a_cycle(tmp_path):
    """The checker itself, on a small tree: eval importing a recommender, and data <-> text importing each other."""
    def write(relative: str, text: str = ""):
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    for package in PACKAGES:
        write(f"{package}/__init__.py")
    write("engine/eval/extras.py", "def f():\n    from engine.neighbors.popularity import MostPopular\n")
    write("engine/neighbors/popularity.py", "from ..recommender import Recommender\n")
    write("engine/recommender.py")
    write("engine/data/splits.py", "from engine import text\n")
    write("engine/text/pieces.py", "from engine.data.splits import Split\n")
    write("engine/train/trainer.py", "import llm.client\n")
    found = import_edges(tmp_path)
    assert ("engine.neighbors", "engine.recommender", "engine/neighbors/popularity.py:1") in found
    assert layer_violations(found) == [
        "engine/data/splits.py:1: engine.data (layer 0) imports engine.text (layer 1), a higher layer",
        "engine/eval/extras.py:2: engine.eval (layer 3) imports engine.neighbors (layer 4), a higher layer",
        "engine/train/trainer.py:1: engine.train (layer 5) imports llm (layer 8), a higher layer"]
    assert folder_cycles(found) == [["engine.data", "engine.text"]]
    write("engine/widgets/thing.py", "from engine.run_dir import write_atomic\n")
    assert any("engine.widgets has no layer" in p for p in layer_violations(import_edges(tmp_path)))
