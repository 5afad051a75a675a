"""The house shows itself: no import cycle between the package's parts, no module over 450
lines, no function over 60 lines of code (its docstring aside), the pure core imports only
itself and the errors, and the host layer's modules import and call only downwards."""

import ast
import pathlib
import sys

import jax
import numpy as np
from conftest import REPO

PACKAGE = REPO / "jaxinv"
#: What the pure core may import of the package: itself and the one error class.
CORE_MAY_IMPORT = ("jaxinv.core", "jaxinv.errors")
#: The package's modules in layers, lowest first: a module imports and calls only its own
#: layer's or lower ones (docs/ARCHITECTURE.md draws them).
LAYERS = (
    ("jaxinv.errors", "jaxinv.deprecation"),
    ("jaxinv.core",),
    ("jaxinv.files", "jaxinv.images", "jaxinv.parallel", "jaxinv.results", "jaxinv.networks", "jaxinv.weights",
     "jaxinv.representation", "jaxinv.representations", "jaxinv.masks", "jaxinv.metrics", "jaxinv.registry",
     "jaxinv.targets", "jaxinv.objective", "jaxinv.schedules", "jaxinv.optimizers", "jaxinv.scores"),
    ("jaxinv.program",),
    ("jaxinv.runner",),
    ("jaxinv.inversion", "jaxinv.plan"),
    ("jaxinv.visualize", "jaxinv.priors"),
    ("jaxinv.atlas",),
    ("jaxinv.cli_output", "jaxinv.cli_runs", "jaxinv.cli_visualize", "jaxinv.cli_score", "jaxinv.cli_atlas"),
    ("jaxinv.cli",),
    ("jaxinv.__main__",),
)


def layer(module: str) -> int | None:
    """The layer of ``module`` (its index in `LAYERS`), None outside the package's layers."""
    for index, group in enumerate(LAYERS):
        if any(module == g or module.startswith(g + ".") for g in group):
            return index
    return None


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


def core_violations(names: dict[str, pathlib.Path]) -> dict[str, set[str]]:
    """Each core module's imports of the package outside `CORE_MAY_IMPORT`."""
    found = {}
    for name, path in names.items():
        if name == "jaxinv.core" or name.startswith("jaxinv.core."):
            outside = {m for m in imported(name, path)
                       if not any(m == allowed or m.startswith(allowed + ".") for allowed in CORE_MAY_IMPORT)}
            if outside:
                found[name] = outside
    return found


def test_the_core_imports_only_itself_and_errors():
    assert not core_violations(dict(modules()))


def upward_imports(names: dict[str, pathlib.Path]) -> list[tuple[str, str]]:
    """(importer, imported) pairs whose imported module sits in a higher layer."""
    found = set()
    for name, path in names.items():
        if name == "jaxinv":  # the public facade re-exports everything
            continue
        for target in imported(name, path):
            target = target if target in names else target.rpartition(".")[0]
            if target in names and target != "jaxinv" and layer(target) > layer(name):
                found.add((name, target))
    return sorted(found)


def test_every_module_has_a_layer_and_imports_only_downwards():
    names = dict(modules())
    assert not [name for name in names if name != "jaxinv" and layer(name) is None]
    assert not upward_imports(names)


def test_an_upward_import_is_caught(tmp_path):
    """The check itself: a runner that imports the CLI is reported."""
    bad = tmp_path / "runner.py"
    bad.write_text("from jaxinv.cli import main\n")
    assert upward_imports({"jaxinv.runner": bad, "jaxinv.cli": bad}) == [("jaxinv.runner", "jaxinv.cli")]
    core = tmp_path / "core_bad.py"
    core.write_text("import jaxinv.errors\nfrom jaxinv.images import load\n")
    assert core_violations({"jaxinv.core.bad": core}) == {"jaxinv.core.bad": {"jaxinv.images", "jaxinv.images.load"}}


#: The modules that run an optimisation for people, above the representations.
RUNNING = ("jaxinv.program", "jaxinv.runner", "jaxinv.inversion", "jaxinv.plan", "jaxinv.visualize", "jaxinv.cli")


def test_a_parameter_walks_down_from_invert_batch_to_the_compiled_program():
    """Every call between two of the running modules during `invert_batch` goes down a layer: the
    walk is inversion → runner → program, each entered once from above, never called back.
    (Below them the core calls the representation it was given, ``features`` and ``check_input``:
    an interface passed in, not an import.)"""
    import jaxinv

    calls: set[tuple[str, str]] = set()

    def profile(frame, event, arg):
        if event == "call" and frame.f_back is not None:
            callee, caller = frame.f_globals.get("__name__", ""), frame.f_back.f_globals.get("__name__", "")
            if callee != caller and callee.startswith(RUNNING) and caller.startswith(RUNNING):
                calls.add((caller, callee))

    picture = np.random.default_rng(0).uniform(0, 255, (16, 16, 3)).astype(np.float32)
    sys.setprofile(profile)
    try:
        jaxinv.invert_batch(jaxinv.average_pool(factor=2), [picture], key=jax.random.key(0), schedule=[(0.004, 2)],
                            chunk=1)
    finally:
        sys.setprofile(None)
    assert calls == {("jaxinv.inversion", "jaxinv.runner"), ("jaxinv.runner", "jaxinv.program")}
