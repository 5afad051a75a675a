#!/usr/bin/env bash
# The wheel works outside the source tree (issue #33, item 6): build it with `pip wheel .`, install
# it into a fresh virtual environment, and from an empty folder check `jaxinv --version`, the
# package data files and the default job. Exits non-zero on any failure.
#
#   bash scripts/wheel_check.sh            # PYTHON=python3.12 bash scripts/wheel_check.sh for another Python
#
# The environment reuses the calling Python's site-packages (--system-site-packages) for jax, flax
# and the rest, so it needs the package's dependencies installed there (.ci/run installs them
# first) and no network beyond what `pip wheel .` needs for its build backend; jaxinv itself comes
# only from the wheel (--no-deps --force-reinstall --no-index), and the check says where it was
# imported from.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-python}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/jaxinv-wheel.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
unset PYTHONPATH
fail() { echo "wheel check FAILED: $*" >&2; exit 1; }

expected="$("$PYTHON" -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["project"]["version"])' \
  "$REPO/pyproject.toml")"
echo "== building the wheel of jaxinv $expected"
# From a copy of the files git would commit (tracked and not ignored): setuptools' build/ folder
# keeps modules deleted since the last build, and would put them in the wheel.
SRC="$REPO"
if git -C "$REPO" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  SRC="$WORK/src" && mkdir "$SRC"
  (cd "$REPO" && git ls-files -z --cached --others --exclude-standard \
     | tar --null --ignore-failed-read -T - -cf - 2>/dev/null) | tar -xf - -C "$SRC"
fi
"$PYTHON" -m pip wheel "$SRC" --no-deps -q -w "$WORK/wheelhouse"
wheels=("$WORK"/wheelhouse/jaxinv-"$expected"-*.whl)
[ -f "${wheels[0]}" ] || fail "no jaxinv-$expected wheel in $(ls "$WORK/wheelhouse")"

echo "== installing $(basename "${wheels[0]}") into a fresh environment"
"$PYTHON" -m venv --system-site-packages "$WORK/venv"
VPY="$WORK/venv/bin/python"
"$VPY" -m pip install -q --no-deps --force-reinstall --no-index "${wheels[0]}"

mkdir "$WORK/run" && cd "$WORK/run"          # outside the source tree: nothing of it on the path

echo "== jaxinv --version"
version="$("$WORK/venv/bin/jaxinv" --version)"
echo "$version"
[ "$version" = "jaxinv $expected" ] || fail "jaxinv --version printed '$version', expected 'jaxinv $expected'"

echo "== import jaxinv and its data files"
"$VPY" - "$WORK/venv" "$REPO" "$expected" <<'EOF' || fail "import jaxinv or its data files"
import importlib.resources, json, os, sys

venv, repo, expected = os.path.realpath(sys.argv[1]), os.path.realpath(sys.argv[2]), sys.argv[3]
import jaxinv
from jaxinv.core import natural_statistics
from jaxinv.plan import unit_extremes

where = os.path.realpath(jaxinv.__file__)
assert where.startswith(venv + os.sep), f"jaxinv imported from {where}, not from the wheel in {venv}"
assert not where.startswith(repo + os.sep), f"jaxinv imported from the source tree: {where}"
assert jaxinv.__version__ == expected, (jaxinv.__version__, expected)
data = importlib.resources.files("jaxinv") / "data"
names = sorted(p.name for p in data.iterdir() if p.name.endswith(".json"))
assert {"channel_extremes.json", "natural_statistics.json"} <= set(names), names
for name in names:
    json.loads((data / name).read_text())
json.loads((importlib.resources.files("jaxinv") / "weights" / "official.json").read_text())
stats = natural_statistics()
assert len(stats.colour_mean) == 3, stats.colour_mean
extremes = unit_extremes("squeezenet1_1", "fire5/concat")
assert extremes is None or extremes["max"].ndim == 1
print(f"jaxinv {jaxinv.__version__} from {where}; data files read: {', '.join(names)}, weights/official.json")
EOF

echo "== the default job: jaxinv --out OUT --no-progress"
start=$SECONDS
timeout 900 "$WORK/venv/bin/jaxinv" --out "$WORK/run/out" --no-progress || fail "the default job (exit $?)"
[ -s "$WORK/run/out/summary.json" ] || fail "the default job wrote no summary.json: $(ls "$WORK/run/out" 2>&1)"
"$VPY" -c 'import json, sys; s = json.load(open(sys.argv[1])); assert isinstance(s, dict) and s, s' \
  "$WORK/run/out/summary.json" || fail "summary.json is not a JSON object"
ls "$WORK"/run/out/*.png >/dev/null 2>&1 || fail "the default job wrote no PNG"
echo "default job: $(ls "$WORK/run/out" | tr '\n' ' ')in $((SECONDS - start)) s"
echo "wheel check passed: jaxinv $expected"
