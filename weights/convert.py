#!/usr/bin/env python
"""Convert a weight file into jaxinv's cache: a thin wrapper over the library.

    python weights/convert.py SRC --name NAME [--prototxt deploy.prototxt] [--home DIR]

Same as ``jaxinv weights convert``; see weights/README.md.
"""

from __future__ import annotations

import pathlib
import sys

try:
    from jaxinv.weights.cli import main
except ImportError:  # run from a checkout without installing: use the package beside this folder
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
    from jaxinv.weights.cli import main

if __name__ == "__main__":
    sys.exit(main(["weights", "convert", *sys.argv[1:]]))
