"""The results pages (docs/results/*.md) are generated from the results they summarise (issue #33).

scripts/results_pages.py makes each page from its prose (scripts/results_prose/PAGE.md) and the
benchmarks' own table functions over benchmarks/results. These tests fail when a committed page
differs from what the script makes (``python scripts/results_pages.py`` mends it), show that a
changed result does change its page (so the check can fail), and that every result file the
script names is there.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil

import pytest

from conftest import REPO

FIX = "run `python scripts/results_pages.py` and commit docs/results"


@pytest.fixture(scope="module")
def pages():
    """scripts/results_pages.py as a module (scripts/ is no package; loading it from its file
    leaves sys.path as it is)."""
    spec = importlib.util.spec_from_file_location("results_pages", REPO / "scripts" / "results_pages.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generated(pages) -> dict[str, str]:
    return pages.build_pages()


@pytest.fixture
def results_copy(pages, tmp_path):
    """A copy of benchmarks/results to alter (JSON and Markdown only: the pictures are not read)."""
    root = tmp_path / "results"
    shutil.copytree(pages.RESULTS, root, ignore=shutil.ignore_patterns("*.png"))
    return root


def test_every_committed_page_is_what_its_results_give(pages, generated):
    committed = {p.name: p.read_text(encoding="utf-8") for p in pages.PAGES.glob("*.md")}
    differ = sorted(name for name, text in generated.items() if committed.get(name) != text)
    assert not differ, f"docs/results pages that differ from their prose and results: {differ}; {FIX}"
    assert sorted(committed) == sorted(generated), f"pages no prose makes: {sorted(set(committed) - set(generated))}"
    assert pages.stale_pages() == []


def _alter(path, change):
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data), encoding="utf-8")


@pytest.mark.parametrize("name, change, page, shown", [
    # a JSON file a script wrote: HOG's forward time against VLFeat
    ("hog_dsift.json", lambda d: d["rows"][0].update(jax_best_ms=987.65), "speed.md", "| 987.65 |"),
    # a table's summary rows: SqueezeNet's printed error at conv1 on the ImageNet pictures
    ("imagenet100/cnn/table-squeezenet1_1-paper.json", lambda d: d["rows"][0].update(printed=[77.7, 1.2]),
     "paper-tables.md", "| conv1 | 0.5* | 77.7 ± 1.2 |"),
])
def test_an_altered_result_changes_its_page_and_the_check_names_it(pages, generated, results_copy, capsys,
                                                                    monkeypatch, name, change, page, shown):
    _alter(results_copy / name, change)
    altered = pages.build_pages(results_copy)
    assert [n for n in altered if altered[n] != generated[n]] == [page]
    assert shown in altered[page] and shown not in generated[page]
    assert pages.stale_pages(results_copy) == [page]
    monkeypatch.setattr(pages, "RESULTS", results_copy)
    assert pages.main(["--check"]) == 1
    assert f"docs/results/{page} is not what its prose and results give" in capsys.readouterr().err


def test_a_changed_measurement_makes_its_date_and_machine_unknown(pages, results_copy):
    """provenance.json's note holds for the files it was written for, not for a later run's."""
    before = pages.render_block("throughput", results_copy)
    assert pages.CHANGED not in before
    _alter(results_copy / "throughput.json", lambda d: d["rows"][0].update(jax_its=1.0))
    after = pages.render_block("throughput", results_copy)
    assert f"- **Measured:** {pages.CHANGED}" in after and f"- **Machine:** {pages.CHANGED}" in after


def test_every_result_the_generator_names_exists(pages):
    missing = [(name, pattern) for name, block in pages.BLOCKS.items()
               for pattern in (*block.measured, *block.derived) if not list(pages.RESULTS.glob(pattern))]
    assert not missing, f"results files named by scripts/results_pages.py that are not there: {missing}"
    assert (pages.RESULTS / pages.PROVENANCE).is_file()
    used = [name for page in pages.page_names() for name in pages.blocks_of(page)]
    assert sorted(set(used) - set(pages.BLOCKS)) == [], "prose names a block the script does not have"
    assert sorted(set(pages.BLOCKS) - set(used)) == [], "a block no page shows"
    for page in pages.page_names():  # every file a page reads is one the script names
        assert all(list(pages.RESULTS.glob(p)) for p in pages.sources_of(page)), page


def test_every_block_says_where_and_when_it_was_measured(generated):
    """Each block names its command, date and machine; none is a stale note (rerun a benchmark:
    record its date and machine in benchmarks/results/provenance.json, or in its own JSON)."""
    blocks = re.findall(r"<!-- block ([\w-]+): generated.*?\n- \*\*Command:\*\* (.*?)\n- \*\*Results:\*\* .*?\n"
                        r"- \*\*Measured:\*\* (.*?)\n- \*\*Machine:\*\* (.*?)\n", "".join(generated.values()), re.DOTALL)
    assert len(blocks) == sum(text.count("<!-- block ") for text in generated.values())
    for name, command, date, machine in blocks:
        assert "unknown" not in date and "unknown" not in machine, name
        assert command != "not recorded" or name == "modern-networks-own-lambda", name


def test_pages_hold_no_nan_and_link_only_committed_figures(pages, generated):
    for name, text in generated.items():
        assert not re.search(r"\bnan\b", text, re.IGNORECASE), f"{name} shows a NaN"
        for link in re.findall(r"\]\(([^)\s]+\.png)\)", text):
            assert link.startswith("../figures/"), f"{name} links {link}: link docs/figures only (the others are not in git)"
            assert (pages.PAGES / link).resolve().is_file(), f"{name} links {link}, which is not there"


def test_every_page_is_in_the_site_navigation(pages, generated):
    nav = (REPO / "mkdocs.yml").read_text(encoding="utf-8").split("\nnav:", 1)[1]
    assert all(f"results/{name}" in nav for name in generated), "add each results page to mkdocs.yml's nav"


def test_digests_say_which_notes_hold(pages, results_copy, monkeypatch, capsys):
    """--digests names each block's state: its own record, provenance.json's note, or changed since."""
    monkeypatch.setattr(pages, "RESULTS", results_copy)
    _alter(results_copy / "traced_weights_run2.json", lambda d: d["rows"][0].update(traced_its=1.0))
    assert pages.main(["--digests"]) == 0
    states = dict(line.split("\t")[::2] for line in capsys.readouterr().out.splitlines())
    assert states.pop("traced-weights") == "changed since noted"
    assert states.pop("prior-seconds") == "own record" and states.pop("atlas-scale") == "own record"
    assert states.pop("atlas-widths") == "own record"
    assert set(states.values()) == {"noted"}
