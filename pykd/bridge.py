"""What the R package calls through reticulate: calls that keep their exception for R.

reticulate 1.28 turns a Python exception into an R error holding only text. R
calls pykd functions through `call()`, which remembers the exception; R then
asks `last_error("r")` for its class and fields (problem, fix, values written
as R code) and builds a cli error from them, never by parsing a traceback.
"""

from __future__ import annotations

import threading

from .errors import DataError

_last = threading.local()


def call(function, *args, **kwargs):
    """function(*args, **kwargs); an exception is kept for last_error() and raised on."""
    _last.error = None
    try:
        return function(*args, **kwargs)
    except BaseException as err:
        _last.error = err
        raise


def last_error(language: str = "r") -> dict | None:
    """The exception of the last failed call() as plain values, then forgotten; None if there is none.

    {"type": class name, "data_error": bool, "problem": str, "fix": str or None}, and
    "history": the finished epochs' History when a run was interrupted (Ctrl-C).
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
    return info
