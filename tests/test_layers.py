"""Architecture checks over the source of ``fedforget/`` (every import, lazy ones inside
functions and type-only ones under ``if TYPE_CHECKING:`` included):

* the layers below (a module may import its own layer or a lower one, never a higher one);
* no import cycle between fedforget modules, type-only imports included;
* the config depends on nothing of fedforget but its errors;
* the core library never imports Flower (only ``fedforget/runtime/`` does), nor the
  ``strategies``/``clients`` adapters;
* ``fedforget/`` has a handful of top-level modules, and every package says in its
  docstring what it owns and where it sits.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "fedforget"

# Top to bottom. The longest matching prefix names a module's layer.
LAYERS: dict[str, int] = {
    "fedforget": 9, "fedforget.cli": 9,          # the command line
    "fedforget.runtime": 8,                      # Flower and Ray (strategies/, clients/ beside it)
    "fedforget.studies": 7,                      # compare, seeds, sweeps: many runs
    "fedforget.run": 6,                          # the server's side of one run
    "fedforget.client": 5,                       # the client's side: the worker
    "fedforget.unlearning": 4, "fedforget.evaluation": 4, "fedforget.deletion.receipts": 4,
    "fedforget.compression": 3,
    "fedforget.data": 2, "fedforget.models": 2, "fedforget.training": 2, "fedforget.deletion": 2,
    "fedforget.tasks": 2,                        # what a sample, a loss, a signal, an accuracy are
    "fedforget.config": 1, "fedforget.report": 1,  # report reads files only
    "fedforget.util": 0, "fedforget.federation": 0,  # the wire protocol beside the utilities
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def layer_of(module: str) -> int:
    best = max((k for k in LAYERS if module == k or module.startswith(k + ".")), key=len)
    return LAYERS[best]


def _imports(name: str, path: Path) -> set[str]:
    """Every module ``name`` imports (absolute names), run-time and type-only."""
    tree = ast.parse(path.read_text(), str(path))
    is_pkg = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            subs = {f"{mod}.{a.name}" for a in node.names if f"{mod}.{a.name}" in MODULES}
            out.update(subs)  # ``from pkg import submodule`` depends on the submodule only
            if len(subs) < len(node.names):
                out.add(mod)
    return out


IMPORTS = {m: _imports(m, p) for m, p in MODULES.items()}
GRAPH = {m: {i for i in deps if i in MODULES and i != m} for m, deps in IMPORTS.items()}


def test_graph_is_not_empty() -> None:
    assert "fedforget.config" in GRAPH and "fedforget.run.experiment" in GRAPH
    assert "fedforget.config" in GRAPH["fedforget.run.experiment"]  # the parser sees imports


def test_every_module_has_a_layer() -> None:
    for m in MODULES:
        assert any(m == k or m.startswith(k + ".") for k in LAYERS), m


def _violations(graph: dict[str, set[str]]) -> list[str]:
    return sorted(f"{m} (layer {layer_of(m)}) imports {d} (layer {layer_of(d)})"
                  for m, deps in graph.items() for d in deps if layer_of(d) > layer_of(m))


def test_no_layer_imports_a_higher_one() -> None:
    bad = _violations(GRAPH)
    assert not bad, "\n".join(bad)


def test_layer_check_finds_a_planted_violation() -> None:
    planted = {**GRAPH, "fedforget.util.io": GRAPH["fedforget.util.io"] | {"fedforget.run.experiment"}}
    assert _violations(planted) == ["fedforget.util.io (layer 0) imports fedforget.run.experiment (layer 6)"]


def test_config_depends_only_on_errors() -> None:
    parts = {m for m in MODULES if m == "fedforget.config" or m.startswith("fedforget.config.")}
    assert len(parts) >= 4
    for part in parts:
        assert GRAPH[part] <= parts | {"fedforget.util", "fedforget.util.errors"}, (part, GRAPH[part])


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (as a path of module names), or None."""
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def dfs(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state:
                found = dfs(n)
                if found:
                    return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state:
            found = dfs(m)
            if found:
                return found
    return None


def test_no_import_cycles_not_even_type_only() -> None:
    cycle = _cycle(GRAPH)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_cycle_finder_finds_a_planted_cycle() -> None:
    planted = {**GRAPH, "fedforget.util.errors": GRAPH["fedforget.util.errors"] | {"fedforget.config"}}
    assert _cycle(planted) is not None


@pytest.mark.parametrize("foreign", ["flwr", "strategies", "clients"])
def test_core_never_imports_flower_or_the_adapters(foreign: str) -> None:
    allowed = ("fedforget.runtime",) if foreign == "flwr" else ()
    bad = {m: sorted(i for i in deps if i == foreign or i.startswith(foreign + "."))
           for m, deps in IMPORTS.items() if not m.startswith(allowed or ("\0",))}
    assert not {m: v for m, v in bad.items() if v}


def test_a_handful_of_top_level_modules() -> None:
    top = sorted(p.name for p in PKG.glob("*.py"))
    assert len(top) <= 6, top


def test_every_package_states_its_role() -> None:
    for init in sorted(PKG.rglob("__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and len(doc.split()) >= 8, f"{init.relative_to(ROOT)} needs a docstring saying what it owns"


def test_no_old_name_aliases() -> None:
    for m, p in MODULES.items():
        assert "# old name" not in p.read_text(), m
