"""The error rljax raises for input it checked and refused.

:class:`ValidationError` is a ``ValueError``, so ``except ValueError`` still catches
it. The command line prints it as one line with exit code 2; any other exception
(a bug in rljax or a dependency) keeps its traceback and a different exit code, so
an internal fault never looks like the user's mistake.
"""

from __future__ import annotations


class ValidationError(ValueError):
    """A value rljax checked and refused: the message names it and what is allowed."""
