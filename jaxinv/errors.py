"""The one error class for bad input."""

from __future__ import annotations


class JaxinvError(ValueError):
    """Bad input to jaxinv: the message names the problem and the fix, on one line.

    The CLI prints the message alone and exits with status 2.
    """
