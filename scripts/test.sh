#!/usr/bin/env bash
# Install jaxinv with everything the tests need (the VLFeat oracle and Chromium included) and run them.
set -euo pipefail
cd "$(dirname "$0")/.."
# Debian packages the tests need: the VLFeat oracle's library, and headless Chromium that opens
# the atlas's pages (tests/test_atlas_browser.py).
packages=()
python -c "import cyvlfeat" 2>/dev/null || packages+=(libvlfeat-dev)
command -v chromium >/dev/null 2>&1 || packages+=(chromium)
if [ "${#packages[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
  fi
fi
python -m pip install -q numpy cython setuptools wheel scipy
python -m pip install -q --no-build-isolation cyvlfeat==0.7.1
python -m pip install -q -e ".[test]"
# Two worker processes, one test file each at a time (module fixtures run once): on two cores the
# suite took 18 min 34 s this way against 27 min 40 s in one process (its XLA compilations are
# mostly single-threaded).
python -m pytest -q -n 2 --dist loadfile --durations=25 "$@"
