"""``python -m jaxinv``: the command line, as the ``jaxinv`` script runs it (its status included)."""

from jaxinv.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
