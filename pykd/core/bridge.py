"""What the R package calls through reticulate: calls that keep their exception for R.

reticulate 1.28 turns a Python exception into an R error holding only text. R
calls pykd functions through `call()`, which remembers the exception; R then
asks `last_error("r")` for its class and fields (problem, fix, values written
as R code) and builds a cli error from them, never by parsing a traceback.
"""

from __future__ import annotations

import sys
import threading
import warnings

from .errors import DataError

_last = threading.local()
_running = 0  # call()s whose function is running (see handle_interrupts)
_HIDDEN_BY_DEFAULT = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)


def call(function, *args, **kwargs):
    """function(*args, **kwargs); an exception is kept for last_error() and raised on.

    Python warnings raised meanwhile are kept for last_warnings() instead of printed,
    so R can raise them as R warnings.
    """
    global _running
    _last.error = None
    _last.warnings = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for category in _HIDDEN_BY_DEFAULT:  # notices libraries leave for their own developers
            warnings.filterwarnings("ignore", category=category)
        _running += 1
        try:
            return function(*args, **kwargs)
        except BaseException as err:
            _last.error = err
            raise
        finally:
            _running -= 1
            _last.warnings = [getattr(w.message, "r", None) or str(w.message) for w in caught]  # R's own wording


def last_warnings() -> list[str]:
    """The messages of the warnings the last call() raised, then forgotten."""
    messages = getattr(_last, "warnings", [])
    _last.warnings = []
    return messages


def last_error(language: str = "r") -> dict | None:
    """The exception of the last failed call() as plain values, then forgotten; None if there is none.

    {"type": class name, "data_error": bool, "problem": str, "fix": str or None}, and
    "history": the finished epochs' History when a run was interrupted (Ctrl-C);
    "histories": with noisy_student(), the finished rounds' and then that one;
    "sweep": with sweep(), the finished settings' table as {column: list of values}.
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
    if getattr(err, "sweep", None) is not None:  # sweep(): the finished settings' table, as plain lists
        info["sweep"] = err.sweep.to_dict(orient="list")
    return info


def raising_interrupts(function):
    """`function` (an R progress hook) as a callable that raises KeyboardInterrupt when it returns
    "rkd-interrupted": R says so when Ctrl-C arrives while its own code runs, which would otherwise
    reach Python as a RuntimeError, and pykd keeps an interrupted run's epochs only for a
    KeyboardInterrupt. (Under reticulate 1.28, handle_interrupts() raises it first.)"""

    def hook(*args):
        if function(*args) == "rkd-interrupted":
            raise KeyboardInterrupt

    return hook


def handle_interrupts() -> None:
    """Make every Ctrl-C during a call() a KeyboardInterrupt in Python, under reticulate before 1.37.

    reticulate's SIGINT handler (rpytools.signals) asks R, by calling R, whether R has taken the
    Ctrl-C already, and raises KeyboardInterrupt only if not. R takes it in whatever R code runs
    next: an R function Python called back (a user's FunctionCallback then fails with RuntimeError)
    or that very question (the handler then fails with RuntimeError, or worse). Either way training
    would lose its finished epochs. So while a call()'s function runs the answer is yes, without
    asking R: reticulate clears R's flag when the KeyboardInterrupt reaches R. A Ctrl-C that R took
    while no Python ran stays R's: Python sees it at its next bytecode, before call() counts itself
    running. Later reticulate has no such handler: nothing to do.
    """
    signals = sys.modules.get("rpytools.signals")
    ask_r = getattr(signals, "_callback", None)
    if ask_r is None or getattr(ask_r, "pykd_handled", False):
        return

    def interrupts_pending(reset):
        if _running:
            return True
        try:
            return ask_r(reset)
        except Exception:  # R took the Ctrl-C while asked
            return True

    interrupts_pending.pykd_handled = True
    signals._callback = interrupts_pending
