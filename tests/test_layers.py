"""Architecture checks over the source of ``fedforget/`` (every import, lazy ones inside
functions included; imports under ``if TYPE_CHECKING:`` are not run and not counted):

* ``config.py`` (with its parts ``config_deletion.py``, ``config_fields.py`` and ``config_sections.py``) depends
  on nothing of fedforget but its errors;
* there are no import cycles between fedforget modules;
* the core library never imports Flower (only ``fedforget/runtime/`` does).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "fedforget"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING"
    )


def _imports(name: str, path: Path) -> set[str]:
    """Every module ``name`` imports at run time (absolute names)."""
    tree = ast.parse(path.read_text(), str(path))
    is_pkg = path.name == "__init__.py"
    out: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
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
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return out


GRAPH = {m: {i for i in _imports(m, p) if i in MODULES and i != m} for m, p in MODULES.items()}


def test_graph_is_not_empty() -> None:
    assert "fedforget.config" in GRAPH and "fedforget.experiment" in GRAPH
    assert "fedforget.config" in GRAPH["fedforget.experiment"]  # the parser sees imports


CONFIG_PARTS = {"fedforget.config", "fedforget.config_deletion", "fedforget.config_fields", "fedforget.config_sections"}


def test_config_depends_only_on_errors() -> None:
    for part in CONFIG_PARTS:
        assert part in GRAPH, part
        assert GRAPH[part] <= CONFIG_PARTS | {"fedforget.errors"}, (part, GRAPH[part])


def _cycle() -> list[str] | None:
    """One import cycle (as a path of module names), or None."""
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def dfs(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(GRAPH[m]):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state:
                found = dfs(n)
                if found:
                    return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(GRAPH):
        if m not in state:
            found = dfs(m)
            if found:
                return found
    return None


def test_no_import_cycles() -> None:
    cycle = _cycle()
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_cycle_finder_finds_a_planted_cycle() -> None:
    saved = dict(GRAPH)
    try:
        GRAPH["fedforget.errors"] = GRAPH["fedforget.errors"] | {"fedforget.config"}
        assert _cycle() is not None
    finally:
        GRAPH.clear()
        GRAPH.update(saved)


def test_core_never_imports_flower() -> None:
    bad = {m: sorted(i for i in _imports(m, p) if i == "flwr" or i.startswith("flwr."))
           for m, p in MODULES.items() if not m.startswith("fedforget.runtime")}
    assert not {m: v for m, v in bad.items() if v}
