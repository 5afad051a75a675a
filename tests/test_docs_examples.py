"""Every code block of the README and the documentation runs, and prints what it says it prints.

Each fenced ``python`` block is a script of its own (it defines its key and finds its weights):
it runs in a fresh interpreter, in an empty folder, with the switch the documentation names,
``JAXINV_MAX_STEPS`` (every run stops after that many iterations; `jaxinv.program.step_limit`),
so the whole site runs in minutes. A line ``print(...)  # -> TEXT`` claims the printed text:
the run fails when the output differs (``...`` in TEXT stands for any characters). A claim that
holds only at full size (an error value, say) is written as a plain comment and not checked.

Each line of a ``bash`` block is a command, and ``# -> TEXT`` claims its last printed line:
``jaxinv ...`` runs (same switch, in a folder that holds ``photo.jpg`` and the shared Caffe files
by their names, with a cache of its own); one that needs the internet (``jaxinv weights
download``) or a file the check does not have (`UNAVAILABLE_FILE`: a ``.mat``, a ``.pth``) runs
its parser, as do ``python benchmarks/NAME.py``, ``python scripts/NAME.py``, ``python
examples/NAME.py`` and ``python weights/NAME.py`` (runs of minutes to hours): ``--help``, which
must list every ``--flag`` the command uses (``bash benchmarks/gpu.sh``, a device run, is
checked by ``bash -n`` here and by its ``--cpu`` mode in test_gpu_bench). The set-up commands
that ``.ci/run`` runs itself are named exactly in `COVERED_BY_CI`, and a cluster launcher must
launch a script that is a block of its page (``# NAME.py`` on its first line), which runs as a
cluster of one process. Any other command fails the test until it is classified here; a block
whose fence tag is neither run nor text (`EXECUTED_TAGS`, `DATA_TAGS`) fails too.
"""

from __future__ import annotations

import fnmatch
import os
import pathlib
import re
import shlex
import socket
import subprocess
import sys
from dataclasses import dataclass

import pytest
from conftest import shared_weights

REPO = pathlib.Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", REPO / "PYPI.md", *sorted((REPO / "docs").rglob("*.md"))]

#: Fence tags of code that runs, and of text that is not code (output, a citation, a diagram).
EXECUTED_TAGS = ("python", "bash")
DATA_TAGS = ("text", "bibtex")

#: Iterations per run while the documentation's examples are checked (the documented switch).
MAX_STEPS = os.environ.get("JAXINV_MAX_STEPS", "12")

#: Commands the documentation shows that `.ci/run` runs itself (install, tests, the site), exactly.
COVERED_BY_CI = frozenset({
    "pip install -e .", 'pip install -e ".[test]"', 'pip install -e ".[test,docs]"', 'pip install -e ".[docs]"',
    'pip install -e ".[convert]"', "bash scripts/test.sh", "pip install jaxinv", "mkdocs serve",
    "mkdocs build --strict -d /tmp/site",
})
#: Files the check does not have (a MatConvNet .mat, a torchvision .pth, a timm .safetensors):
#: a jaxinv command on one runs its parser only.
UNAVAILABLE_FILE = re.compile(r"\.(mat|pth|safetensors)$", re.IGNORECASE)

#: Launchers of a script on a cluster; the script they launch is a block of the same page, which runs.
CLUSTER_LAUNCHERS = ("gcloud", "srun", "mpirun", "sbatch")

_FENCE = re.compile(r"^(\s*)```(\w*)")
_CLAIM = re.compile(r"^(\s*)print\((.*)\)\s*#\s*->\s?(.*)$")
_MARK = "\x1eclaim "


@dataclass(frozen=True)
class Block:
    """One fenced block: its page, first line, language and text."""

    page: pathlib.Path
    line: int
    language: str
    text: str

    @property
    def name(self) -> str:
        return f"{self.page.relative_to(REPO)}:{self.line}"


def blocks(page: pathlib.Path) -> list[Block]:
    """The fenced blocks of a markdown page (indented fences, as in admonitions, included)."""
    found, lines, i = [], page.read_text(encoding="utf-8").splitlines(), 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, body, j = len(opening.group(1)), [], i + 1
        while j < len(lines) and not lines[j].strip().startswith("```"):
            body.append(lines[j][indent:])
            j += 1
        found.append(Block(page, i + 1, opening.group(2).lower(), "\n".join(body) + "\n"))
        i = j + 1
    return found


def instrumented(source: str) -> tuple[str, list[str]]:
    """The source with a marker printed after each claimed print, and the claims in order."""
    out, claims = [], []
    for line in source.splitlines():
        claim = _CLAIM.match(line)
        if claim:
            indent, args, expected = claim.groups()
            out.append(f"{indent}print({args}); print({_MARK!r} + {str(len(claims))!r})")
            claims.append(expected.strip())
        else:
            out.append(line)
    return "\n".join(out) + "\n", claims


def printed_claims(stdout: str) -> dict[int, str]:
    """Claim number -> the line printed just before its marker."""
    lines, seen = stdout.split("\n"), {}  # not splitlines: it splits at the marker's \x1e too
    for i, line in enumerate(lines):
        if line.startswith(_MARK):
            seen[int(line[len(_MARK):])] = lines[i - 1] if i else ""
    return seen


def mismatches(claims: list[str], seen: dict[int, str]) -> list[str]:
    """Each claim whose printed line differs (``...`` matches anything), as 'expected / printed'."""
    bad = []
    for i, expected in enumerate(claims):
        pattern = fnmatch.translate(expected.replace("[", "[[]").replace("...", "*"))
        got = seen.get(i)
        if got is None or not re.match(pattern, got.strip()):
            bad.append(f"claim {expected!r}, printed {got!r}")
    return bad


def environment(folder: pathlib.Path) -> dict[str, str]:
    """The examples' environment: the switch, the shared weights, and a weight cache of their own;
    a deprecated jaxinv name used by an example is an error (its warning is the example's own)."""
    return {**os.environ, "JAXINV_MAX_STEPS": MAX_STEPS, "JAXINV_SHARED_WEIGHTS": str(shared_weights()),
            "JAXINV_HOME": str(folder / ".jaxinv-cache"),
            "PYTHONWARNINGS": "error::DeprecationWarning:__main__,error::DeprecationWarning:jaxinv",
            "MPLBACKEND": "Agg"}


def run_python(block: Block, folder: pathlib.Path) -> subprocess.CompletedProcess:
    """The block as a script in ``folder``; one that starts `jax.distributed` joins a cluster of one."""
    source, _ = instrumented(block.text)
    script = folder / "example.py"
    script.write_text(source, encoding="utf-8")
    env = environment(folder)
    if "initialize_distributed" in source:
        env.update(JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{free_port()}", JAX_NUM_PROCESSES="1", JAX_PROCESS_ID="0")
    return subprocess.run([sys.executable, str(script)], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=900, check=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def command_kind(command: str) -> str:
    """'run' (a jaxinv command or ``python -c``), 'parser' (--help, and every flag of the command
    in it: a script of minutes to hours, a download, a command on an unavailable file),
    'cluster' (a launcher of a script that is a block of the page) or 'ci' (set-up)."""
    if command == "jaxinv" or command.startswith("jaxinv "):
        words = shlex.split(command)
        unavailable = any(UNAVAILABLE_FILE.search(w) for w in words)
        return "parser" if unavailable or words[1:3] == ["weights", "download"] else "run"
    if command.startswith("python -c ") or re.match(r"([A-Z_]+=\S+ )+python -c ", command):
        return "run"
    if command.split()[0] in CLUSTER_LAUNCHERS:
        return "cluster"
    if re.match(r"(python|bash) (benchmarks|scripts|examples|weights)/\w+\.(py|sh)\b", command):
        return "parser"
    if command in COVERED_BY_CI:
        return "ci"
    raise AssertionError(f"a shell command the docs' check does not know: {command!r}; run it, or name it in"
                         " COVERED_BY_CI (tests/test_docs_examples.py) if .ci/run runs it")


def commands(block: Block) -> list[tuple[str, str | None]]:
    """The commands of a shell block, each with its claim (``# -> TEXT``) or None: prompts and
    comments stripped, continuation lines joined, ``a && b`` as two commands."""
    joined = block.text.replace("\\\n", " ")
    found: list[tuple[str, str | None]] = []
    for line in joined.splitlines():
        line, _, comment = line.partition(" #")
        line = line.strip().removeprefix("$ ").strip().replace("python -m pip ", "pip ")
        claim = comment.strip()[3:].strip() if comment.strip().startswith("-> ") else None
        if line and not line.startswith("#"):
            parts = [part.strip() for part in line.split(" && ")]
            found.extend((part, claim if part == parts[-1] else None) for part in parts)
    return found


def launched_script_is_on_the_page(command: str, block: Block) -> bool:
    """Whether the script a cluster launcher starts is a Python block of the page (``# NAME.py`` first)."""
    named = re.search(r"(\w+\.py)", command)
    return named is not None and any(b.language == "python" and b.text.startswith(f"# {named.group(1)}")
                                     for b in blocks(block.page))


def run_command(command: str, folder: pathlib.Path) -> subprocess.CompletedProcess:
    kind, argv = command_kind(command), shlex.split(command)
    env = environment(folder)
    while kind == "run" and "=" in argv[0]:  # VAR=value prefixes
        name, _, value = argv.pop(0).partition("=")
        env[name] = value
    if kind == "parser":
        env.pop("JAXINV_MAX_STEPS")  # a benchmark refuses to start under it, even for --help
    if kind == "run":
        argv = [sys.executable, *argv[1:]] if argv[0] == "python" else [sys.executable, "-m", "jaxinv", *argv[1:]]
    elif kind == "parser" and argv[0] == "jaxinv":
        subcommand = [w for w in argv[1:3] if not w.startswith("-") and "." not in w]
        argv = [sys.executable, "-m", "jaxinv", *subcommand, "--help"]
    elif kind == "parser" and argv[0] == "bash":
        argv = ["bash", "-n", str(REPO / argv[1])]  # a device run: its syntax here, its --cpu mode in test_gpu_bench
    elif kind == "parser":
        argv = [sys.executable, str(REPO / argv[1]), "--help"]
    else:
        return subprocess.CompletedProcess(argv, 0, "", "")
    return subprocess.run(argv, cwd=folder, env=env, capture_output=True, text=True, timeout=900, check=False)


def unknown_flags(command: str, help_text: str) -> list[str]:
    """The ``--flags`` of a command its ``--help`` does not list (a renamed or misspelt option)."""
    flags = {w.split("=", 1)[0] for w in shlex.split(command) if w.startswith("--")}
    return sorted(f for f in flags if not re.search(rf"{re.escape(f)}\b", help_text))


EXAMPLES = [b for page in PAGES for b in blocks(page) if b.language in EXECUTED_TAGS]


def prepare(folder: pathlib.Path) -> None:
    """The files the examples name: ``photo.jpg`` (the astronaut) and the shared Caffe files."""
    from PIL import Image

    from jaxinv.images import default_picture

    Image.fromarray(default_picture("astronaut").astype("uint8")).save(folder / "photo.jpg")
    for caffe in shared_weights().glob("*/*.caffemodel"):
        (folder / caffe.name).symlink_to(caffe)


@pytest.mark.parametrize("block", EXAMPLES, ids=[b.name for b in EXAMPLES])
def test_example_runs_and_prints_what_it_claims(block, tmp_path):
    prepare(tmp_path)
    if block.language == "python":
        done = run_python(block, tmp_path)
        assert done.returncode == 0, f"{block.name} failed:\n{done.stderr[-3000:]}"
        _, claims = instrumented(block.text)
        bad = mismatches(claims, printed_claims(done.stdout))
        assert not bad, f"{block.name}: " + "; ".join(bad)
        return
    for command, claim in commands(block):
        if command_kind(command) == "cluster":
            assert launched_script_is_on_the_page(command, block), f"{block.name}: `{command}` launches no block"
            continue
        done = run_command(command, tmp_path)
        assert done.returncode == 0, f"{block.name}: `{command}` failed:\n{done.stderr[-3000:]}"
        if command_kind(command) == "parser" and "-n" not in done.args:
            assert not unknown_flags(command, done.stdout), f"{block.name}: `{command}`: {unknown_flags(command, done.stdout)}"
        if claim is not None:
            printed = done.stdout.strip().split("\n")[-1]
            assert not mismatches([claim], {0: printed}), f"{block.name}: `{command}` printed {printed!r}, not {claim!r}"


def test_every_block_runs_or_is_text():
    """No code escapes the check by its fence: every tag is run or is text, and no ~~~ fence hides one."""
    tags = {(b.name, b.language) for page in PAGES for b in blocks(page)}
    assert {tag for _, tag in tags} >= set(EXECUTED_TAGS)
    odd = sorted(name for name, tag in tags if tag not in EXECUTED_TAGS + DATA_TAGS)
    assert not odd, f"blocks with a tag that is neither run nor text: {odd}; tag them python, bash or text"
    tilde = [page.name for page in PAGES if re.search(r"^\s*~~~", page.read_text(encoding="utf-8"), re.MULTILINE)]
    assert not tilde, f"~~~ fences, which this check does not read: {tilde}; use ```"


def test_there_are_examples_on_the_pages_that_teach():
    named = {b.page.relative_to(REPO).as_posix() for b in EXAMPLES if b.language in ("python", "py")}
    tutorials = {p.relative_to(REPO).as_posix() for p in (REPO / "docs" / "tutorials").glob("*.md")
                 if p.name != "index.md"}
    assert tutorials and tutorials <= named, sorted(tutorials - named)
    assert "README.md" in named


def test_a_block_with_an_undefined_name_fails(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# A page\n\n```python\nimport jax\nprint(jax.numpy.zeros(2).shape)  # -> (2,)\n"
                    "print(undefined_name)\n```\n", encoding="utf-8")
    (block,) = blocks(page)
    done = run_python(block, tmp_path)
    assert done.returncode != 0 and "NameError: name 'undefined_name' is not defined" in done.stderr


def test_a_wrong_claim_is_reported(tmp_path):
    source = "print((1, 2))  # -> (1, 3)\nprint('squeezenet1_1:fire5/concat')  # -> squeezenet1_1:...\n"
    text, claims = instrumented(source)
    done = subprocess.run([sys.executable, "-c", text], capture_output=True, text=True, check=True)
    assert mismatches(claims, printed_claims(done.stdout)) == ["claim '(1, 3)', printed '(1, 2)'"]


def test_unknown_shell_commands_are_refused():
    assert command_kind("jaxinv invert photo.jpg") == "run"
    assert command_kind("jaxinv invert my_photo.jpg --rep no_such_rep") == "run"  # runs, so it fails
    assert command_kind("python benchmarks/table1.py --pictures 100") == "parser"
    assert command_kind("jaxinv weights download caffenet") == "parser"
    assert command_kind("jaxinv weights convert model.pth --name vgg16") == "parser"
    for command in ("rm -rf /tmp/x", "pip install jaxinv-typo", "git clone x"):
        with pytest.raises(AssertionError, match="does not know"):
            command_kind(command)


def test_a_misspelt_flag_of_a_script_is_reported():
    help_text = "usage: table_shallow.py [--batch N] [--table-only]"
    assert unknown_flags("python benchmarks/table_shallow.py --batch 1 --tabel-only", help_text) == ["--tabel-only"]
    assert unknown_flags("python benchmarks/table_shallow.py --batch=1 --table-only", help_text) == []


def test_a_shell_claim_is_read():
    block = Block(REPO / "README.md", 1, "bash", "jaxinv --version      # -> jaxinv 0.2.0\npip install -e . && jaxinv\n")
    assert commands(block) == [("jaxinv --version", "jaxinv 0.2.0"), ("pip install -e .", None), ("jaxinv", None)]


def test_a_failing_command_is_reported(tmp_path):
    done = run_command("jaxinv invert no_such_picture.jpg", tmp_path)
    assert done.returncode == 2 and "not found" in done.stderr
