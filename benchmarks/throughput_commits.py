"""Throughput of two commits side by side: `throughput.py` (JAX only) of each, alternated.

Each round runs the OLD commit's `benchmarks/throughput.py` and then the NEW one's, each in its
own process on its own checkout (a `git worktree` under ``--work``; ``.`` is this checkout as it
is, uncommitted changes included) with its own jaxinv on ``PYTHONPATH``, so both see the same load
of the machine in turn and each side times its own library with its own script (the chunk was
`jaxinv.optimize.run_chunk` before 0.2, `jaxinv.program.advance_chunk` since: the same program of
the host's runner). A case's figure is the median over the rounds of each process's best-repeat
image-iterations per second; the table gives new/old and flags any case more than 5% slower.

    python benchmarks/throughput_commits.py --old e78b524 --new HEAD --rounds 5   # the core's change
    python benchmarks/throughput_commits.py --old 61f7243 --new . --rounds 5      # one core, one runner
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import tempfile

import numpy as np


import common

from jaxinv.cli import ArgumentParser, positive
from jaxinv.files import atomic_write_bytes, json_text

#: The last commit before the composable core (issue #14) replaced the engine's internals.
CORE_BEFORE = "e78b524"
#: The last commit before one core, one runner, one way in (issue #32).
RUNNER_BEFORE = "61f7243"
#: What ``--old``/``--new`` call this checkout as it is, uncommitted changes included.
THIS_CHECKOUT = "."

#: Slower than this fraction of the old figure counts as a regression.
TOLERANCE = 0.05


def checkout(rev: str, work: pathlib.Path) -> pathlib.Path:
    """A detached worktree of ``rev`` under ``work`` (reused when it is already there); this
    checkout itself for `THIS_CHECKOUT`."""
    if rev == THIS_CHECKOUT:
        return common.REPO
    commit = subprocess.run(["git", "-C", str(common.REPO), "rev-parse", rev], check=True,
                            capture_output=True, text=True).stdout.strip()
    path = work / commit[:12]
    if not path.exists():
        subprocess.run(["git", "-C", str(common.REPO), "worktree", "add", "--detach", str(path), commit],
                       check=True, capture_output=True)
    return path


def one_run(tree: pathlib.Path, args, out: pathlib.Path) -> list[dict]:
    """Rows of one `throughput.py --no-torch` process of the checkout ``tree``."""
    env = dict(os.environ, PYTHONPATH=str(tree))  # its own jaxinv, not the installed one
    command = [sys.executable, str(tree / "benchmarks" / "throughput.py"), "--no-torch", "--cases", args.cases,
               "--batch", args.batch, "--steps", str(args.steps), "--repeats", str(args.repeats),
               "--json", str(out)]
    subprocess.run(command, check=True, env=env, cwd=tree, stdout=subprocess.DEVNULL)
    return json.loads(out.read_text())["rows"]


def table(runs: dict[str, list[list[dict]]], labels: dict[str, str]) -> tuple[str, list[dict]]:
    """Per case: each commit's median over the rounds (the flag is on their ratio), and the
    median of the rounds' own new/old ratios, which cancels the machine's drift between rounds."""
    first = runs["old"][0]
    lines = [f"| case | B | old {labels['old']} it/s (median of {len(runs['old'])}) | "
             f"new {labels['new']} it/s (median of {len(runs['new'])}) | new/old | within 5% |"
             " median of the rounds' new/old |",
             "|---|---|---|---|---|---|---|"]
    summary = []
    for i, row in enumerate(first):
        old = float(np.median([run[i]["jax_its"] for run in runs["old"]]))
        new = float(np.median([run[i]["jax_its"] for run in runs["new"]]))
        paired = float(np.median([b[i]["jax_its"] / a[i]["jax_its"] for a, b in zip(runs["old"], runs["new"])]))
        ok = new >= (1 - TOLERANCE) * old
        summary.append({"case": row["case"], "batch": row["batch"], "old_its": old, "new_its": new,
                        "ratio": new / old, "within_tolerance": ok, "paired_ratio": paired})
        lines.append(f"| {row['case']} | {row['batch']} | {old:.2f} | {new:.2f} | {new / old:.3f} |"
                     f" {'yes' if ok else 'NO'} | {paired:.3f} |")
    return "\n".join(lines) + "\n", summary


def main(argv=None) -> int:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", default=CORE_BEFORE, help="the commit before the change (default: before the core)")
    parser.add_argument("--new", default="HEAD", help=f"the commit after it ('{THIS_CHECKOUT}': this checkout as it is)")
    parser.add_argument("--rounds", type=positive(int, maximum=100), default=5, help="processes per commit")
    parser.add_argument("--cases", default="caffenet:conv5,squeezenet1_1:fire9,hog,dsift")
    parser.add_argument("--batch", default="1,8")
    parser.add_argument("--steps", type=positive(int, maximum=10000), default=10)
    parser.add_argument("--repeats", type=positive(int, maximum=100), default=3)
    parser.add_argument("--work", default=tempfile.gettempdir(), help="where the worktrees go")
    parser.add_argument("--out", default=str(common.REPO / "benchmarks" / "results" / "throughput_commits"))
    args = parser.parse_args(argv)
    trees = {side: checkout(getattr(args, side), pathlib.Path(args.work)) for side in ("old", "new")}
    labels = {side: "worktree" if tree == common.REPO else tree.name[:7] for side, tree in trees.items()}
    out = pathlib.Path(args.out)
    runs: dict[str, list[list[dict]]] = {"old": [], "new": []}
    with tempfile.TemporaryDirectory() as scratch:
        for r in range(args.rounds):
            for side in ("old", "new"):
                runs[side].append(one_run(trees[side], args, pathlib.Path(scratch) / f"{side}{r}.json"))
            print(f"round {r + 1}/{args.rounds} done", flush=True)
    text, summary = table(runs, labels)
    record = {"old": labels["old"], "new": labels["new"], "rounds": args.rounds, "steps": args.steps,
              "repeats": args.repeats, "tolerance": TOLERANCE, "summary": summary, "runs": runs,
              "loadavg_end": os.getloadavg()}
    atomic_write_bytes(out / "throughput_commits.json", json_text(record, indent=1).encode())
    atomic_write_bytes(out / "table.md", text.encode())
    print(text)
    return 0 if all(s["within_tolerance"] for s in summary) else 1


if __name__ == "__main__":
    common.run_script(main, "throughput_commits.py")
