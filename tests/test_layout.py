"""pykd's layout: subpackages by job, no import circle, small modules and functions, and the
public names where the README and the docs say they are."""

import ast
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "pykd"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60  # besides its docstring


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(name: str, path: Path, modules: dict) -> set[str]:
    """The pykd modules `name` imports, at its top or inside its functions."""
    base = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            target = ".".join(base[:len(base) - node.level + 1] + ([node.module] if node.module else []))
            for alias in node.names:
                found.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in modules else target)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("pykd."))
    return {m for m in found if m in modules and m != name}


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    circles, state = [], {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                circles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return circles


def test_no_module_imports_one_that_imports_it_back():
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert _circles(graph) == []


# From the bottom up; a module imports only from its own subpackage and the rows below its own.
LAYERS = [{"_tf"}, {"core"}, {"data"}, {"models"}, {"kd"}, {"run"}, {"serve", "api"}, {"recipes"},
          {"pykd"}, {"demo"}, {"cli"}, {"__main__"}]


def _part(module: str) -> str:
    """The subpackage or top-level module `module` belongs to ("pykd" for pykd/__init__.py)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "pykd"


def test_each_subpackage_imports_only_from_the_layers_below_it():
    modules = _modules()
    row = {part: i for i, layer in enumerate(LAYERS) for part in layer}
    assert {_part(name) for name in modules} == set(row)
    upward = sorted(f"{name} -> {target}" for name, path in modules.items()
                    for target in _imports(name, path, modules)
                    if _part(target) != _part(name) and row[_part(target)] >= row[_part(name)])
    assert upward == []


def test_pykd_is_in_subpackages_by_job():
    assert {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()} == {
        "core", "data", "models", "kd", "run", "recipes", "serve"}


def test_no_module_over_400_lines_and_no_function_over_60():
    too_long = []
    for name, path in _modules().items():
        text = path.read_text()
        if len(text.splitlines()) > MAX_MODULE_LINES:
            too_long.append(f"{name}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                first = node.body[0]
                if isinstance(first, ast.Expr) and isinstance(getattr(first, "value", None), ast.Constant):
                    lines -= first.end_lineno - first.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    too_long.append(f"{name}.{node.name}: {lines} lines")
    assert too_long == []


@pytest.mark.parametrize("name", [
    "pykd.distill", "pykd.train_scratch", "pykd.evaluate", "pykd.predict", "pykd.export", "pykd.compare",
    "pykd.distillation_loss", "pykd.teacher_logits", "pykd.out_of_fold_logits", "pykd.sweep", "pykd.noisy_student",
    "pykd.Augmentation", "pykd.Hint", "pykd.History", "pykd.FunctionCallback", "pykd.DataError",
    "pykd.NonFiniteLossError", "pykd.models.classifier", "pykd.models.load_model", "pykd.models.save_model",
    "pykd.models.set_trainable", "pykd.models.load_weights", "pykd.models.save_weights", "pykd.models.example_teacher",
    "pykd.models.example_student", "pykd.models.describe", "pykd.models.BACKBONES", "pykd.datasets.write_digits",
    "pykd.datasets.fashion_mnist", "pykd.workers.loopback_ports", "pykd.sources.array_table",
])
def test_every_documented_public_name_is_where_the_docs_say(name):
    module, _, attribute = name.rpartition(".")
    assert hasattr(importlib.import_module(module), attribute)
