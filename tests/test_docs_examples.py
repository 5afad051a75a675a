"""Every code block of the README and the documentation runs, and prints what it says it prints.

Each fenced ``python`` block is a script of its own (it defines its key and finds its weights):
it runs in a fresh interpreter, in an empty folder, with the switch the documentation names,
``JAXINV_MAX_STEPS`` (every run stops after that many iterations; `jaxinv.program.step_limit`),
so the whole site runs in minutes. A line ``print(...)  # -> TEXT`` claims the printed text:
the run fails when the output differs (``...`` in TEXT stands for any characters). A claim that
holds only at full size (an error value, say) is written as a plain comment and not checked.

Each line of a ``bash`` block is a command: ``jaxinv ...`` runs (same switch, in a folder that
holds ``photo.jpg`` and the shared Caffe files by their names, with a cache of its own); one
that needs the internet (``jaxinv weights download``) or a file the check does not have (a
``.mat``, a ``.pth``) runs its parser only (``--help``), as do ``python benchmarks/NAME.py``,
``python scripts/NAME.py``, ``python examples/NAME.py`` and ``python weights/NAME.py`` (runs of
minutes to hours; ``bash benchmarks/gpu.sh``, a device run, is checked by ``bash -n``); the set-up and CI commands that ``.ci/run`` itself runs are named in
`COVERED_BY_CI`. Any other command fails the test until it is classified here.
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

REPO = pathlib.Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]

#: Iterations per run while the documentation's examples are checked (the documented switch).
MAX_STEPS = os.environ.get("JAXINV_MAX_STEPS", "12")

#: Commands the documentation shows that `.ci/run` runs itself (install, tests, the site).
COVERED_BY_CI = (
    "pip install -e .", 'pip install -e ".[test]"', 'pip install -e ".[test,docs]"', 'pip install -e ".[docs]"',
    'pip install -e ".[torch]"', "bash scripts/test.sh", "scripts/test.sh", "bash .ci/run", "mkdocs serve",
    "mkdocs build --strict", "git clone", "cd jaxinv", "pip install jaxinv",
)

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


SHARED = pathlib.Path(os.environ.get("JAXINV_SHARED_WEIGHTS", str(REPO.parent / "shared" / "weights")))


def environment(folder: pathlib.Path) -> dict[str, str]:
    """The examples' environment: the switch, the shared weights, and a weight cache of their own."""
    return {**os.environ, "JAXINV_MAX_STEPS": MAX_STEPS, "JAXINV_SHARED_WEIGHTS": str(SHARED),
            "JAXINV_HOME": str(folder / ".jaxinv-cache"), "PYTHONWARNINGS": "error::DeprecationWarning:jaxinv",
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


_FILE_ARGUMENT = re.compile(r"\.(jpe?g|png|tiff?|caffemodel|mat|pth|safetensors|prototxt)$", re.IGNORECASE)


def command_kind(command: str, folder: pathlib.Path | None = None) -> str:
    """'run' (a jaxinv command or ``python -c``), 'parser' (--help only: a script of minutes to
    hours, a download, a command on a file the check does not have), 'cluster' (a launcher:
    what it launches is a block of the page) or 'ci' (set-up)."""
    if command == "jaxinv" or command.startswith("jaxinv "):
        words = shlex.split(command)
        absent = [w for w in words if _FILE_ARGUMENT.search(w) and folder is not None and not (folder / w).exists()]
        return "parser" if absent or words[1:3] == ["weights", "download"] else "run"
    if command.startswith("python -c ") or re.match(r"([A-Z_]+=\S+ )+python -c ", command):
        return "run"
    if command.split()[0] in CLUSTER_LAUNCHERS:
        return "cluster"
    if re.match(r"(python|bash) (benchmarks|scripts|examples|weights)/\w+\.(py|sh)\b", command):
        return "parser"
    if any(command.startswith(c) for c in COVERED_BY_CI):
        return "ci"
    raise AssertionError(f"a shell command the docs' check does not know: {command!r}; run it, or name it in"
                         " COVERED_BY_CI (tests/test_docs_examples.py) if .ci/run runs it")


def commands(block: Block) -> list[str]:
    """The commands of a shell block: prompts and comments stripped, continuation lines joined."""
    joined = block.text.replace("\\\n", " ")
    found = []
    for line in joined.splitlines():
        line = line.split(" #", 1)[0].strip().removeprefix("$ ").strip().replace("python -m pip ", "pip ")
        if line and not line.startswith("#"):
            found.extend(part.strip() for part in line.split(" && "))
    return found


def run_command(command: str, folder: pathlib.Path) -> subprocess.CompletedProcess:
    kind, argv = command_kind(command, folder), shlex.split(command)
    env = environment(folder)
    while kind == "run" and "=" in argv[0]:  # VAR=value prefixes
        name, _, value = argv.pop(0).partition("=")
        env[name] = value
    if kind == "run":
        argv = [sys.executable, *argv[1:]] if argv[0] == "python" else [sys.executable, "-m", "jaxinv", *argv[1:]]
    elif kind == "parser" and argv[0] == "jaxinv":
        subcommand = [w for w in argv[1:3] if not w.startswith("-") and not _FILE_ARGUMENT.search(w)]
        argv = [sys.executable, "-m", "jaxinv", *subcommand, "--help"]
    elif kind == "parser" and argv[0] == "bash":
        argv = ["bash", "-n", str(REPO / argv[1])]  # a device run: its syntax here, its --cpu mode in test_gpu_bench
    elif kind == "parser":
        argv = [sys.executable, str(REPO / argv[1]), "--help"]
    else:
        return subprocess.CompletedProcess(argv, 0, "", "")
    return subprocess.run(argv, cwd=folder, env=env, capture_output=True, text=True, timeout=900, check=False)


EXAMPLES = [b for page in PAGES for b in blocks(page) if b.language in ("python", "py", "bash", "sh", "console")]


def prepare(folder: pathlib.Path) -> None:
    """The files the examples name: ``photo.jpg`` (the astronaut) and the shared Caffe files."""
    from PIL import Image

    from jaxinv.images import default_picture

    Image.fromarray(default_picture("astronaut").astype("uint8")).save(folder / "photo.jpg")
    for caffe in SHARED.glob("*/*.caffemodel"):
        (folder / caffe.name).symlink_to(caffe)


@pytest.mark.parametrize("block", EXAMPLES, ids=[b.name for b in EXAMPLES])
def test_example_runs_and_prints_what_it_claims(block, tmp_path):
    prepare(tmp_path)
    if block.language in ("python", "py"):
        done = run_python(block, tmp_path)
        assert done.returncode == 0, f"{block.name} failed:\n{done.stderr[-3000:]}"
        _, claims = instrumented(block.text)
        bad = mismatches(claims, printed_claims(done.stdout))
        assert not bad, f"{block.name}: " + "; ".join(bad)
        return
    for command in commands(block):
        done = run_command(command, tmp_path)
        assert done.returncode == 0, f"{block.name}: `{command}` failed:\n{done.stderr[-3000:]}"


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
    assert command_kind("python benchmarks/table1.py --pictures 100") == "parser"
    assert command_kind("jaxinv weights download caffenet") == "parser"
    assert command_kind("jaxinv weights convert model.pth --name vgg16", pathlib.Path("/nonexistent")) == "parser"
    with pytest.raises(AssertionError, match="does not know"):
        command_kind("rm -rf /tmp/x")
