"""The public API keeps its conventions (dm-pix's ``api_test.py`` does this for its library).

Every public callable (each name in the ``__all__`` of `jaxinv`, `jaxinv.core` and every module
under ``jaxinv/``, classes and their public methods included) has a docstring, takes its options
by keyword, names its PRNG argument ``key`` and types a parametrisation with the
`jaxinv.core.parametrisations.Parametrisation` protocol, not ``Any``. Each failure names the
callable and the fix.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import re
import types
import typing
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import jaxinv

#: Data arguments with a default that callers pass positionally: each is what the call is about,
#: not an option of it (the list stays this short; anything else goes after ``*``).
POSITIONAL_DATA = {
    # `invert(rep, picture, *, key)`, `invert_batch(rep, pictures, *, key)`: the input itself; the
    # default None means "given as code= instead".
    "picture", "pictures",
    # `maximize(rep, objective, *, key)` (issue #32, item 4): the objective is the second datum.
    "objective",
    # `Solver.run(key, target, mask)` and the norms' `data_term(code, target, Z, mask)`: an array the
    # pure functions are vmapped over, and `jax.vmap`'s in_axes address positional arguments only.
    "mask",
    # `jaxinv.cli.main(argv)`: the command line, the console-script convention.
    "argv",
}
#: The 0.1 modules kept one release as warning shims (PEP 562 ``__getattr__``), walked only if
#: they grow an ``__all__`` of their own.
SHIMS = {"jaxinv.objective", "jaxinv.schedules", "jaxinv.optimizers", "jaxinv.priors", "jaxinv.deprecation"}
#: A PRNG argument by any other name: rng, prng, rng_key, prng_key, seed_key, random_key, subkey...
PRNG_NAME = re.compile(r"(^|_)p?rngs?(_|$)|^(seed|random|prng|rng|sub|noise|init|jax)_?keys?$|^subkey$")


def public_modules(package: types.ModuleType = jaxinv) -> Iterator[types.ModuleType]:
    """The package and every module under it, the warning shims without an ``__all__`` left out."""
    yield package
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        module = importlib.import_module(info.name)
        if info.name in SHIMS and "__all__" not in vars(module):
            continue
        yield module


def public_callables(module: types.ModuleType) -> Iterator[tuple[str, Any]]:
    """(qualified name, object) for each function and class in ``module.__all__``, and each public
    method a class defines in jaxinv (properties, static and class methods included)."""
    for name in getattr(module, "__all__", ()):
        obj = getattr(module, name)
        if (isinstance(obj, types.ModuleType) or not callable(obj)
                or not str(getattr(obj, "__module__", "")).startswith("jaxinv")):
            continue  # a module (walked itself), a constant, or a type alias such as ``tuple[int, ...]``
        qualified = f"{getattr(obj, '__module__', module.__name__)}.{getattr(obj, '__qualname__', name)}"
        yield qualified, obj
        if inspect.isclass(obj):
            # a dataclass field's default (a function, say) is data, not a method
            fields = {f.name for f in dataclasses.fields(obj)} if dataclasses.is_dataclass(obj) else set()
            for attribute, member in vars(obj).items():
                if attribute.startswith("_") or attribute in fields:
                    continue
                if isinstance(member, (staticmethod, classmethod)):
                    member = member.__func__
                if isinstance(member, property) or inspect.isfunction(member):
                    yield f"{qualified}.{attribute}", member


def _own_doc(obj: Any) -> str:
    """``obj``'s docstring, a class's own only (not the ``Name(field, ...)`` line that dataclasses
    and NamedTuples write, nor one inherited), a method's inherited from the method it overrides."""
    if inspect.isclass(obj):
        doc = vars(obj).get("__doc__") or ""
        generated = doc.startswith(f"{obj.__name__}(") and doc.rstrip().endswith(")") and "\n" not in doc.strip()
        return "" if generated else doc
    return inspect.getdoc(obj) or ""


def missing_docstring(name: str, obj: Any) -> list[str]:
    """The docstring rule: every public function, class, method and property says what it is."""
    if _own_doc(obj).strip():
        return []
    return [f"{name} has no docstring: add one line saying what it is or does (with maths or units "
            f"where they matter)"]


def _signature(obj: Any) -> inspect.Signature | None:
    target = obj.fget if isinstance(obj, property) else obj
    try:
        return inspect.signature(target)
    except (TypeError, ValueError):
        return None


def _is_record(obj: Any) -> bool:
    """A dataclass, NamedTuple or flax module: its generated constructor takes its fields in
    declared order (they are the record's data; `dataclasses.replace` changes one by name)."""
    return inspect.isclass(obj) and (dataclasses.is_dataclass(obj) or hasattr(obj, "_fields"))


def _constructor_in_jaxinv(cls: type) -> bool:
    """Whether ``cls``'s ``__init__`` is written in jaxinv (not inherited from, e.g., argparse)."""
    for klass in cls.__mro__:
        if "__init__" in vars(klass):
            return klass.__module__.startswith("jaxinv")
    return False


def positional_options(name: str, obj: Any) -> list[str]:
    """The keyword-only rule: a parameter with a default is an option, taken after ``*``; a
    class's own constructor included, a record's generated one not (`_is_record`)."""
    if isinstance(obj, property) or _is_record(obj) or (inspect.isclass(obj) and not _constructor_in_jaxinv(obj)):
        return []
    signature = _signature(obj)
    if signature is None:
        return []
    return [f"{name} takes option {p.name!r} positionally: move it after '*' (keyword-only), or add it "
            f"to POSITIONAL_DATA with a reason if it is data callers pass by position"
            for p in signature.parameters.values()
            if p.default is not p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            and p.name not in POSITIONAL_DATA]


def prng_argument_names(name: str, obj: Any) -> list[str]:
    """The PRNG rule: a PRNG key argument (or field) is called ``key`` (``keys`` for a batch)."""
    signature = _signature(obj)
    names = list(signature.parameters) if signature is not None else []
    if dataclasses.is_dataclass(obj) and inspect.isclass(obj):
        names += [f.name for f in dataclasses.fields(obj) if f.name not in names]
    return [f"{name} names a PRNG argument {p!r}: call it 'key' (or 'keys' for a batch of keys)"
            for p in names if PRNG_NAME.search(p)]


def _annotations(obj: Any) -> dict[str, Any]:
    """``obj``'s parameter (or field) annotations, resolved where they can be, else their text."""
    target = obj.fget if isinstance(obj, property) else obj
    found: dict[str, Any] = {}
    if inspect.isclass(target):
        for klass in reversed(target.__mro__):
            found.update(getattr(klass, "__annotations__", {}) if klass.__module__.startswith("jaxinv")
                         or klass is target else {})
        init = vars(target).get("__init__")
        if inspect.isfunction(init):
            found.update(getattr(init, "__annotations__", {}))
    else:
        found.update(getattr(target, "__annotations__", {}) or {})
    try:
        hints = typing.get_type_hints(target.__init__ if inspect.isclass(target) else target)
        if inspect.isclass(target):
            hints.update(typing.get_type_hints(target))
        found.update({k: v for k, v in hints.items() if k in found})
    except Exception:  # an annotation that names something not importable here: keep its text
        pass
    return found


def _is_parametrisation_type(annotation: Any) -> bool:
    from jaxinv.core.parametrisations import Parametrisation

    if isinstance(annotation, str):
        return re.search(r"\bParametrisation\b", annotation) is not None
    if annotation is Parametrisation:
        return True
    return any(_is_parametrisation_type(a) for a in typing.get_args(annotation))


def any_parametrisation(name: str, obj: Any) -> list[str]:
    """The typing rule: a ``parametrisation`` field or parameter is typed with the protocol."""
    annotations = _annotations(obj)
    if "parametrisation" not in annotations or _is_parametrisation_type(annotations["parametrisation"]):
        return []
    return [f"{name} types 'parametrisation' as {annotations['parametrisation']!r}: annotate it "
            f"jaxinv.core.parametrisations.Parametrisation (the protocol), not Any"]


CHECKS: tuple[Callable[[str, Any], list[str]], ...] = (
    missing_docstring, positional_options, prng_argument_names, any_parametrisation)


def violations(modules: Iterator[types.ModuleType]) -> list[str]:
    """Every rule's failures over every public callable of ``modules``, each reported once."""
    seen: set[str] = set()
    found: list[str] = []
    for module in modules:
        for name, obj in public_callables(module):
            if name in seen:
                continue
            seen.add(name)
            for check in CHECKS:
                found += check(name, obj)
    return found


def test_every_public_callable_keeps_the_conventions():
    modules = list(public_modules())
    assert {"jaxinv", "jaxinv.core", "jaxinv.inversion", "jaxinv.core.solver"} <= {m.__name__ for m in modules}
    found = violations(iter(modules))
    assert not found, f"{len(found)} API convention failures:\n" + "\n".join(found)


def test_the_walk_reaches_classes_methods_and_both_levels():
    names = {name for module in public_modules() for name, _ in public_callables(module)}
    assert "jaxinv.inversion.invert" in names
    assert "jaxinv.core.solver.Solver" in names
    assert "jaxinv.core.solver.Solver.run" in names or any(n.startswith("jaxinv.core.solver.Solver.") for n in names)
    assert len(names) > 300


def test_each_check_fails_on_a_deliberate_violation():
    """A synthetic module with one violation of each rule: each is reported, naming the callable."""
    fake = types.ModuleType("fake")

    def undocumented(x, *, scale=1.0):
        return x * scale

    def positional(x, scale=1.0):
        """Scales x."""
        return x * scale

    def random(x, *, rng=None):
        """Draws with the wrong name."""
        return x

    def batch_of_keys(keys, *, key=None):
        """``keys``: a batch of PRNG keys is fine."""
        return keys

    def typed_any(x, *, parametrisation: Any = None):
        """Takes an untyped parametrisation."""
        return x

    @dataclasses.dataclass(frozen=True)
    class Holder:
        parametrisation: Any
        seed_key: Any = None

    class Engine:
        """A class whose own constructor takes an option positionally."""

        def __init__(self, rep, steps=10):
            self.rep, self.steps = rep, steps

        def run(self, x):
            return x

    class Fine(NamedTuple):
        """A documented NamedTuple without options."""

        value: int

    for function in (undocumented, positional, random, batch_of_keys, typed_any, Holder, Engine, Fine):
        function.__module__ = "jaxinv.fake"  # as if written in the library: the walk keeps jaxinv's own
        setattr(fake, function.__name__, function)
    fake.__all__ = ["undocumented", "positional", "random", "batch_of_keys", "typed_any", "Holder", "Engine", "Fine"]
    found = violations(iter([fake]))
    joined = "\n".join(found)

    def reported(callable_name: str, fragment: str) -> bool:
        return any(callable_name in line and fragment in line for line in found)

    assert reported("undocumented", "has no docstring"), joined
    assert reported("positional", "takes option 'scale' positionally"), joined
    assert reported("random", "names a PRNG argument 'rng'"), joined
    assert reported("Holder", "names a PRNG argument 'seed_key'"), joined
    assert reported("typed_any", "types 'parametrisation' as"), joined
    assert reported("Holder", "has no docstring"), joined            # the dataclass's generated line is no docstring
    assert reported("Holder", "types 'parametrisation' as"), joined
    assert reported("Engine", "takes option 'steps' positionally"), joined
    assert reported("Engine.run", "has no docstring"), joined
    assert not any("batch_of_keys" in line or "Fine" in line for line in found), joined
    assert len(found) == 9, joined
