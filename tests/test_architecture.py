"""The house shows itself: no import cycle between the package's parts, no module over 450
lines, no function over 60 lines of code (its docstring aside), and the pure core knows nothing
of the host layer."""

import ast
import pathlib

from conftest import REPO

PACKAGE = REPO / "jaxinv"
#: The host layer: files, pictures, progress bars, the command line. The core imports none.
HOST = {"jaxinv.inversion", "jaxinv.runner", "jaxinv.optimize", "jaxinv.cli", "jaxinv.images", "jaxinv.files",
        "jaxinv.results", "jaxinv.parallel", "jaxinv.registry", "jaxinv.targets", "jaxinv.weights"}


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def imported(name: str, path: pathlib.Path) -> set[str]:
    """Every jaxinv module ``name`` imports, at the top or inside a function."""
    found = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return {m for m in found if m.startswith("jaxinv")}


def part(module: str) -> str:
    """The part of the package a module belongs to: ``jaxinv.networks.layers`` → ``jaxinv.networks``."""
    pieces = module.split(".")
    return ".".join(pieces[:2])


def test_no_import_cycle_between_the_packages_parts():
    names = dict(modules())
    graph: dict[str, set[str]] = {}
    for name, path in names.items():
        if name == "jaxinv":  # the public facade re-exports everything
            continue
        for target in imported(name, path):
            target = target if target in names else target.rpartition(".")[0]
            if target in names and target != "jaxinv" and part(target) != part(name):
                graph.setdefault(part(name), set()).add(part(target))

    def cycle_from(start, node, seen):
        for nxt in graph.get(node, ()):
            if nxt == start:
                return [node, nxt]
            if nxt not in seen:
                seen.add(nxt)
                rest = cycle_from(start, nxt, seen)
                if rest:
                    return [node, *rest]
        return None

    for start in graph:
        cycle = cycle_from(start, start, {start})
        assert cycle is None, f"import cycle: {' -> '.join(cycle)}"


def test_no_module_over_450_lines():
    long = {str(path.relative_to(REPO)): n for _, path in modules()
            if (n := len(path.read_text().splitlines())) > 450}
    assert not long, long


def code_lines(function: ast.FunctionDef) -> int:
    """Lines from the first statement after the docstring to the function's end."""
    body = function.body
    if len(body) > 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return function.end_lineno - body[0].lineno + 1


def test_no_function_over_60_lines_of_code():
    long = {f"{path.relative_to(REPO)}::{node.name}": n for _, path in modules()
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and (n := code_lines(node)) > 60}
    assert not long, long


def test_the_core_knows_nothing_of_the_host_layer():
    for name, path in modules():
        if name.startswith("jaxinv.core"):
            host = {m for m in imported(name, path) if any(m == h or m.startswith(h + ".") for h in HOST)}
            assert not host, (name, host)
