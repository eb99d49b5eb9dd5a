"""The package's shape: no import circle, not even through an import inside a function.

Every module of ``vidcolor/`` is parsed (not imported) and each of its imports of another
``vidcolor`` module, wherever it stands, is an edge of the graph.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from media import make_video

PACKAGE = Path(__file__).resolve().parents[1] / "vidcolor"
LAB = "vidcolor.lab"  # training, data, losses, evaluation, quantisation, metrics


def is_lab(module: str) -> bool:
    """Whether ``module`` is of the lab wing."""
    return module == LAB or module.startswith(LAB + ".")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(name: str, modules: set[str]) -> str | None:
    """The module ``name`` is, or is in (``vidcolor.a.b`` may be a name inside ``vidcolor.a``)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_graph() -> dict[str, set[str]]:
    """``module -> the vidcolor modules it imports`` (at the top or inside a function)."""
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    modules = set(files)
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")
                    up = up[: len(up) - node.level + 1]
                    base = ".".join([*up, base] if base else up)
                targets = [f"{base}.{a.name}" for a in node.names]
            else:
                continue
            for target in targets:
                found = _resolve(target, modules)
                if found is not None and found != name:
                    edges.add(found)
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of ``graph`` as a list of modules, or ``None``."""
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_graph_sees_imports_inside_functions():
    graph = import_graph()
    assert "vidcolor.pipeline" in graph["vidcolor.cli"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_circle():
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle)


def test_the_runtime_never_imports_the_lab():
    graph = import_graph()
    reached = {m: sorted(filter(is_lab, ts)) for m, ts in graph.items() if not is_lab(m)}
    assert not {m: ts for m, ts in reached.items() if ts}


def test_colorizing_a_video_and_an_image_loads_no_lab_module(tmp_path, random_weights):
    import cv2
    import numpy as np

    video = make_video(tmp_path / "in.mp4", 64, 48, frames=6, shots=2)
    image = tmp_path / "in.png"
    cv2.imwrite(str(image), np.tile(np.arange(64, dtype=np.uint8), (48, 1)))
    common = ["--weights", str(random_weights), "--render-size", "64", "-q"]
    code = (
        "import sys; from vidcolor.cli import main\n"
        f"assert main([{str(video)!r}, '-o', {str(tmp_path / 'out.mp4')!r}, *{common!r}]) == 0\n"
        f"assert main([{str(image)!r}, '-o', {str(tmp_path / 'out.png')!r}, *{common!r}]) == 0\n"
        "print('\\n'.join(sorted(m for m in sys.modules if m.startswith('vidcolor'))))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    loaded = proc.stdout.split()
    assert "vidcolor.render" in loaded and "vidcolor.image" in loaded
    assert not [m for m in loaded if is_lab(m)]
