"""The house: imports point one way, no cycles, modules stay small, and the layering rules hold.

Flow, bottom to top: inputs → plane → engine → curvature → store → run / export / callbacks → plot → cli.
The leaves (errors, choices, models, basins, _version) import nothing of the package's layers.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "landscape"
LAYER = {"inputs": 1, "plane": 2, "engine": 3, "curvature": 4, "store": 5, "run": 6, "export": 6, "callbacks": 6, "plot": 7,
         "cli": 8}
LEAVES = {"errors", "choices", "models", "basins", "_version"}
MAX_LINES = 600
LONGER = {  # module -> why it is longer than MAX_LINES
}


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(path: Path, module: str) -> set[str]:
    """Every module of the package that `path` imports, at the top or inside a function, except
    under `if TYPE_CHECKING:`."""
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    skip = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for n in ast.walk(node)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("landscape")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            if base.startswith("landscape"):
                found.add(base)
                found |= {f"{base}.{a.name}" for a in node.names}
    mods = _modules()
    return {m for m in found if m in mods and m != module}


def _layer(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) == 1:
        return None  # the facade `landscape`
    return 0 if parts[1] in LEAVES else LAYER.get(parts[1])


GRAPH = {m: _imports(p, m) for m, p in _modules().items()}


def test_imports_point_down_the_flow():
    upward = []
    for module, imported in GRAPH.items():
        own = _layer(module)
        if own is None or module == "landscape.__main__":
            continue
        for target in imported:
            layer = _layer(target)
            if layer is not None and layer > own and target.split(".")[1] != module.split(".")[1]:
                upward.append(f"{module} -> {target}")
    assert not upward, "imports against the flow:\n" + "\n".join(sorted(upward))


def test_no_import_cycle():
    graph = {m: {t for t in ts if t != "landscape"} for m, ts in GRAPH.items() if m != "landscape"}
    # a package's __init__ that re-exports its modules is part of them: fold it away
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in graph.get(m, ()):
            if t.startswith(m + ".") or m.startswith(t + "."):
                continue  # a package and its own modules
            if state.get(t) == 1:
                cycles.append(stack[stack.index(t):] + [t])
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_modules_are_small():
    long = {m: len(p.read_text().splitlines()) for m, p in _modules().items()}
    over = {m: n for m, n in long.items() if n > MAX_LINES and m not in LONGER}
    assert not over, f"modules over {MAX_LINES} lines without a stated reason: {over}"


def test_plane_makers_know_no_job():
    for module, imported in GRAPH.items():
        if module.startswith("landscape.plane"):
            assert not {t for t in imported if t.startswith(("landscape.run", "landscape.store"))}, module


def test_the_curvature_math_writes_no_file():
    for module, path in _modules().items():
        if not module.startswith("landscape.curvature"):
            continue
        text = path.read_text()
        assert "h5py" not in text and not {t for t in GRAPH[module] if t.startswith("landscape.store")}, module
        for call in ("open(", ".write_text(", ".write_bytes(", "replacing(", "np.save", "torch.save"):
            assert call not in text, (module, call)


def test_a_surface_run_needs_no_hessian_math():
    """`compute` without an eigen map loads no curvature module; with one, it goes through the
    eigen-map interface only."""
    code = ("import sys, landscape.run.compute, landscape.run.dry_run, landscape.run.job;"
            "print(sorted(m for m in sys.modules if m.startswith('landscape.curvature')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out
    surface_run = [m for m in GRAPH if m.startswith("landscape.run.") and m not in
                   ("landscape.run.curvature", "landscape.run.info", "landscape.run.schedules")]
    reaching = {t for m in surface_run for t in GRAPH[m] if t.startswith("landscape.curvature")}
    assert reaching == {"landscape.curvature.eigenmap"}, reaching


@pytest.mark.parametrize("module", ["landscape.plot", "landscape.export"])
def test_evaluation_never_imports_plotting(module):
    below = [m for m in GRAPH if _layer(m) is not None and _layer(m) <= LAYER["store"]]
    assert not [m for m in below if module in GRAPH[m] or any(t.startswith(module + ".") for t in GRAPH[m])]
