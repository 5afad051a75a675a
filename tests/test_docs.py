"""The documentation site: every public name is on an API page, and the site builds strictly.

The API pages (docs/api/*.md) are mkdocstrings directives: ``::: jaxinv.invert`` documents one
object, ``::: jaxinv.images`` with ``options: members: [...]`` a module and the members it
lists, and ``options: heading: NAME`` gives an object the public NAME it is exported under
(`jaxinv.core.solver`, a function that griffe, reading the source, sees shadowed by the
submodule of the same name). `documented` reads those pages as mkdocstrings does; `missing`
compares them with a module's ``__all__``. The build (`mkdocs build --strict`) fails on any
warning, broken link or unresolved reference (a test shows it failing on one); under ``CI=true``
a missing MkDocs fails the tests rather than skipping them (``pip install -e ".[docs]"``).
"""

from __future__ import annotations

import importlib
import os
import pathlib
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from typing import Any

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
API_PAGES = REPO / "docs" / "api"

#: The modules whose every ``__all__`` name must be on an API page.
PUBLIC_MODULES = ("jaxinv", "jaxinv.core", "jaxinv.core.objectives", "jaxinv.runner", "jaxinv.plan", "jaxinv.scores")

_DIRECTIVE = re.compile(r"^:::\s+([A-Za-z_][\w.]*)\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _option_block(lines: list[str], start: int) -> list[str]:
    """The indented lines after a directive (its YAML options), up to the first unindented one."""
    block = []
    for line in lines[start:]:
        if line.strip() and _indent(line) == 0:
            break
        block.append(line)
    return block


def _members(block: list[str]) -> list[str] | None:
    """The names of a ``members:`` option (block or flow list); None when there is none or it is false."""
    for i, line in enumerate(block):
        key, _, value = line.strip().partition(":")
        if key != "members":
            continue
        value = value.strip()
        if value.startswith("["):
            return [v.strip().strip("'\"") for v in value.strip("[]").split(",") if v.strip()]
        if value:  # members: false / true: no list of names
            return None
        names, depth = [], _indent(line)
        for item in block[i + 1:]:
            if not item.strip():
                continue
            if _indent(item) <= depth or not item.strip().startswith("- "):
                break
            names.append(item.strip()[2:].strip().strip("'\""))
        return names
    return None


def _option(block: list[str], name: str) -> str | None:
    for line in block:
        key, _, value = line.strip().partition(":")
        if key == name and value.strip():
            return value.strip().strip("'\"`")
    return None


def directives(markdown: str) -> list[dict[str, Any]]:
    """Each ``::: identifier`` of a page outside code fences: its identifier, members and heading."""
    lines, found, fenced = markdown.splitlines(), [], False
    for i, line in enumerate(lines):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        match = None if fenced else _DIRECTIVE.match(line)
        if match:
            block = _option_block(lines, i + 1)
            found.append({"identifier": match.group(1), "members": _members(block),
                          "heading": _option(block, "heading")})
    return found


def documented(pages: Iterable[str]) -> set[str]:
    """Every dotted name the pages document: identifiers, headings, and module.member for listed members."""
    names: set[str] = set()
    for page in pages:
        for d in directives(page):
            names.add(d["identifier"])
            if d["heading"]:
                names.add(d["heading"])
            names.update(f"{d['identifier']}.{m}" for m in d["members"] or ())
    return names


def missing(module: str, public: Iterable[str], names: set[str]) -> list[str]:
    """The names of ``module``'s ``public`` list that no page documents, under ``module`` or, for a
    name it re-exports unchanged (``jaxinv.scores.psnr`` is ``jaxinv.metrics.psnr``), where it is defined."""
    def home(name: str) -> str:
        found = getattr(importlib.import_module(module), name, None)
        return f"{getattr(found, '__module__', None) or module}.{name}"

    return sorted(n for n in public if f"{module}.{n}" not in names and home(n) not in names)


def resolve(dotted: str) -> Any:
    """The object at a dotted path as Python sees it: attributes first, submodules where there is none
    (so ``jaxinv.core.solver`` is the function the package exports, not its submodule)."""
    parts = dotted.split(".")
    obj = importlib.import_module(parts[0])
    for i, part in enumerate(parts[1:], start=2):
        obj = getattr(obj, part) if hasattr(obj, part) else importlib.import_module(".".join(parts[:i]))
    return obj


def api_pages() -> list[str]:
    return [p.read_text(encoding="utf-8") for p in sorted(API_PAGES.glob("*.md"))]


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_every_public_name_is_on_an_api_page(module):
    public = importlib.import_module(module).__all__
    absent = missing(module, public, documented(api_pages()))
    assert not absent, (f"{module}.__all__ names with no `::: {module}.NAME` on docs/api/*.md: {absent}; add"
                        " each to the page of its group")


def test_headings_name_the_object_they_document():
    """A directive headed by another name documents the object exported under that name."""
    headed = [d for page in api_pages() for d in directives(page) if d["heading"]]
    assert headed  # jaxinv.core.solver
    for d in headed:
        assert resolve(d["identifier"]) is resolve(d["heading"]), d


def test_the_checker_reports_a_name_no_page_documents():
    page = """# Fake

::: jaxinv.invert

::: jaxinv.images
    options:
      members:
        - load
        - save_png

::: jaxinv.masks
    options:
      members: [channel_group, central_window]

::: jaxinv.core.priors.solver
    options:
      heading: jaxinv.core.solver

```markdown
::: jaxinv.in_a_code_block_only
```
"""
    names = documented([page])
    assert missing("jaxinv", ["invert", "images", "masks", "not_documented"], names) == ["not_documented"]
    assert missing("jaxinv.images", ["load", "save_png", "resize"], names) == ["resize"]
    assert missing("jaxinv.masks", ["channel_group", "central_window"], names) == []
    assert missing("jaxinv.core", ["solver", "prior"], names) == ["prior"]
    assert missing("jaxinv", ["in_a_code_block_only"], names) == ["in_a_code_block_only"]
    # the real pages against an __all__ with one name too many
    fake_all = [*importlib.import_module("jaxinv").__all__, "definitely_not_public"]
    assert missing("jaxinv", fake_all, documented(api_pages())) == ["definitely_not_public"]


def _docs_tools_missing() -> list[str]:
    absent = []
    for module in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python"):
        try:
            importlib.import_module(module)
        except ImportError:
            absent.append(module)
    return absent


def _build(root: pathlib.Path, site: pathlib.Path) -> subprocess.CompletedProcess:
    """``mkdocs build --strict`` of the site at ``root``. Not ``-q``: MkDocs counts the warnings that
    strict mode turns into a failure through its log, and ``-q`` drops them before they are counted
    (a quiet strict build with a broken link exits 0)."""
    absent = _docs_tools_missing()
    if absent:
        message = f"{', '.join(absent)} not installed: pip install -e '.[docs]'"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (CI installs the docs extra; a missing one fails, never skips)")
        pytest.skip(message)
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # Material's notice about MkDocs 2.0, not a warning
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)],
                          cwd=root, env=env, capture_output=True, text=True, timeout=600)


def test_the_site_builds_with_warnings_as_errors(tmp_path):
    site = tmp_path / "site"
    build = _build(REPO, site)
    assert build.returncode == 0 and "WARNING" not in build.stderr, build.stdout + build.stderr
    assert (site / "index.html").is_file()
    # Every public name was rendered: mkdocstrings anchors each object at its dotted path.
    html = "".join(p.read_text(encoding="utf-8") for p in (site / "api").rglob("*.html"))
    anchors = set(re.findall(r'id="(jaxinv[\w.]*)"', html))
    headed = {d["heading"]: d["identifier"] for page in api_pages() for d in directives(page) if d["heading"]}
    for module in PUBLIC_MODULES:
        for name in importlib.import_module(module).__all__:
            path = f"{module}.{name}"
            home = f"{getattr(getattr(importlib.import_module(module), name), '__module__', module)}.{name}"
            assert headed.get(path, path) in anchors or home in anchors, f"{path} is on no rendered API page"


def test_the_build_fails_on_a_broken_link_and_reference(tmp_path):
    """The same site with one broken page link and one unresolved API reference does not build."""
    root = tmp_path / "repo"
    root.mkdir()
    (root / "mkdocs.yml").write_text((REPO / "mkdocs.yml").read_text(encoding="utf-8"), encoding="utf-8")
    for name in ("jaxinv", "CHANGELOG.md"):
        (root / name).symlink_to(REPO / name)
    shutil.copytree(REPO / "docs", root / "docs")
    index = root / "docs" / "index.md"
    broken = "\nSee [nowhere](nowhere.md) and [this][jaxinv.no_such_name].\n"
    index.write_text(index.read_text(encoding="utf-8") + broken, encoding="utf-8")
    build = _build(root, tmp_path / "site")
    assert build.returncode != 0
    assert "nowhere.md" in build.stderr and "jaxinv.no_such_name" in build.stderr, build.stderr
