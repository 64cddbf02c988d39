"""What the R package calls through reticulate: calls that keep their exception for R.

reticulate 1.28 turns a Python exception into an R error holding only text. R
calls pykd functions through `call()`, which remembers the exception; R then
asks `last_error("r")` for its class and fields (problem, fix, values written
as R code) and builds a cli error from them, never by parsing a traceback.
"""

from __future__ import annotations

import threading
import warnings

from .errors import DataError

_last = threading.local()
_HIDDEN_BY_DEFAULT = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)


def call(function, *args, **kwargs):
    """function(*args, **kwargs); an exception is kept for last_error() and raised on.

    Python warnings raised meanwhile are kept for last_warnings() instead of printed,
    so R can raise them as R warnings.
    """
    _last.error = None
    _last.warnings = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for category in _HIDDEN_BY_DEFAULT:  # notices libraries leave for their own developers
            warnings.filterwarnings("ignore", category=category)
        try:
            return function(*args, **kwargs)
        except BaseException as err:
            _last.error = err
            raise
        finally:
            _last.warnings = [str(w.message) for w in caught]


def last_warnings() -> list[str]:
    """The messages of the warnings the last call() raised, then forgotten."""
    messages = getattr(_last, "warnings", [])
    _last.warnings = []
    return messages


def last_error(language: str = "r") -> dict | None:
    """The exception of the last failed call() as plain values, then forgotten; None if there is none.

    {"type": class name, "data_error": bool, "problem": str, "fix": str or None}, and
    "history": the finished epochs' History when a run was interrupted (Ctrl-C);
    "histories": with noisy_student(), the finished rounds' and then that one.
    """
    err = getattr(_last, "error", None)
    _last.error = None
    if err is None:
        return None
    if isinstance(err, DataError):
        parts = err.render(language)
    else:
        text = str(err).strip() or type(err).__name__
        parts = {"problem": text, "fix": None}
    info = {"type": type(err).__name__, "data_error": isinstance(err, DataError), **parts}
    if getattr(err, "history", None) is not None:
        info["history"] = err.history
    if getattr(err, "histories", None) is not None:  # noisy_student(): every round so far
        info["histories"] = list(err.histories)
    return info


def raising_interrupts(function):
    """`function` (an R progress hook) as a callable that raises KeyboardInterrupt when it returns
    "rkd-interrupted": R says so when Ctrl-C arrives while its own code runs, which would otherwise
    reach Python as a RuntimeError, and pykd keeps an interrupted run's epochs only for a
    KeyboardInterrupt."""

    def hook(*args):
        if function(*args) == "rkd-interrupted":
            raise KeyboardInterrupt

    return hook
