"""Exceptions and warnings raised to users: their fields are the user interface.

A DataError keeps the problem, the fix and the values they mention apart, so
each language can phrase them in its own syntax. Python shows one message
(`image_size is [228, 228] ... pass on_bad_image='skip'`); the R package asks
for `render("r")` and shows cli bullets with R values (`c(228, 228)`,
`on_bad_image = "skip"`). Templates name values as `{name}`; only those names
are replaced, so any other brace in a message is left alone.
"""

from __future__ import annotations

import math
import os
import re
import sys
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

LANGUAGES = ("python", "r", "cli")
SHOWN = 5  # how many rows, names or values a message lists before "and N more"


@dataclass(frozen=True)
class Setting:
    """An argument as the user would type it: on_bad_image='skip' / on_bad_image = "skip"."""

    name: str
    value: object


@dataclass(frozen=True)
class Few:
    """The first `limit` items of a long list (SHOWN), then "and N more" (rows, file names, labels).

    limit=None shows every item: for short lists the user must see whole (the valid names).
    """

    items: tuple
    limit: int | None = SHOWN

    def __init__(self, items, limit: int | None = SHOWN):
        object.__setattr__(self, "limit", limit)
        items = list(items)
        try:
            items = list(dict.fromkeys(items))  # each value once, in order
        except TypeError:  # unhashable values (lists) are shown as they come
            pass
        object.__setattr__(self, "items", tuple(items))


@dataclass(frozen=True)
class Text:
    """A value shown as it is, never quoted (a class name inside a sentence, a path)."""

    text: str


@dataclass(frozen=True)
class Words:
    """Words that differ by language, shown as they are: Words("load_model()", "rkd_load_model()").

    python: the Python wording (also used for "cli" unless `cli` is given); r: the R wording.
    """

    python: str
    r: str
    cli: str | None = None

    def text(self, language: str) -> str:
        if language == "r":
            return self.r
        return self.cli if language == "cli" and self.cli is not None else self.python


def few(items, limit: int | None = SHOWN) -> Few:
    """The first `limit` items then "and N more"; limit=None lists them all."""
    return Few(items, limit)


def every(items) -> Few:
    """All the items, however many (the valid names a user chooses from)."""
    return Few(items, None)


def plural(n: int, one: str, many: str) -> str:
    """`one` for 1, else `many`: plural(1, "file is", "files are")."""
    return one if n == 1 else many


def kind(value):
    """What a wrong value is, in each language's words, for "must be ..., not {kind}".

    None and logicals as values (None / NULL, True / TRUE); numbers and text with the
    value (a number (42), text ("flip")); lists, mappings and other objects by kind
    (a list of length 2 / a vector or list of length 2, a dict / a named list,
    an object of class Sequential).
    """
    if value is None or isinstance(value, bool):
        return value
    if type(value).__name__ in ("bool", "bool_") and _is_numpy_number(value):  # NumPy's bool
        return bool(value)
    if isinstance(value, (int, float)) or _is_numpy_number(value):
        return Words(f"a number ({literal(value)})", f"a number ({literal(value, 'r')})")
    if isinstance(value, str):
        return Words(f"text ({literal(value)})", f"text ({literal(value, 'r')})")
    if isinstance(value, Mapping):
        return Words("a dict", "a named list")
    if isinstance(value, (list, tuple)) or _is_numpy_array(value):
        name = {"list": "a list", "tuple": "a tuple"}.get(type(value).__name__, "an array")
        return Words(f"{name} of length {len(value)}", f"a vector or list of length {len(value)}")
    name = type(value).__name__
    return Words(f"an object of class {name}", f"an object of class {name}")


def shown(value):
    """`value` itself when both languages can write it (numbers, text, lists, ...), else its kind()."""
    plain = (type(None), bool, int, float, str, list, tuple, dict, Setting, Few, Text, Words)
    if isinstance(value, plain) or _is_numpy_number(value) or _is_numpy_array(value):
        return value
    return kind(value)


def literal(value, language: str = "python") -> str:
    """`value` as code in `language`: strings quoted, lists as [..] or c(..), None as None or NULL.

    "cli" writes settings as command-line flags (--on-bad-image skip) and values as Python.
    """
    r = language == "r"
    if isinstance(value, Setting) and language == "cli":
        flag = "--" + value.name.replace("_", "-")
        shown = value.value
        if isinstance(shown, bool):
            return flag if shown else f"(no {flag})"
        if isinstance(shown, (list, tuple)):
            return f"{flag} {' '.join(literal(v, language).strip(chr(39)) for v in shown)}"
        return f"{flag} {literal(shown, language).strip(chr(39))}"
    if isinstance(value, Setting):
        return f"{value.name} = {literal(value.value, language)}" if r else f"{value.name}={literal(value.value)}"
    if isinstance(value, Few):
        limit = len(value.items) if value.limit is None else value.limit
        shown = ", ".join(literal(v, language) for v in value.items[:limit])
        more = len(value.items) - limit
        return shown + (f" and {more} more" if more > 0 else "")
    if isinstance(value, Text):
        return value.text
    if isinstance(value, Words):
        return value.text(language)
    if _is_numpy_number(value):
        value = value.item()  # a NumPy bool is TRUE in R, not True
    if value is None:
        return "NULL" if r else "None"
    if isinstance(value, bool):
        return ("TRUE" if value else "FALSE") if r else repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"' if r else repr(value)
    if isinstance(value, dict):
        items = [(f"{k} = " if r else f"{k!r}: ") + literal(v, language) for k, v in value.items()]
        return f"list({', '.join(items)})" if r else "{" + ", ".join(items) + "}"
    if isinstance(value, (int, float)) or _is_numpy_number(value):
        return _number(value, r)
    if isinstance(value, Sequence) or _is_numpy_array(value):
        items = ", ".join(literal(v, language) for v in list(value))
        return f"c({items})" if r else f"[{items}]"
    return type(value).__name__ if r else repr(value)


def _number(value, r: bool) -> str:
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return ("Inf" if value > 0 else "-Inf") if r else repr(value)
        if r and value == int(value) and abs(value) < 1e15:
            return str(int(value))  # R prints 228, not 228.0
    return repr(value)


def _is_numpy_number(value) -> bool:
    return type(value).__module__ == "numpy" and hasattr(value, "item") and getattr(value, "ndim", 1) == 0


def _is_numpy_array(value) -> bool:
    return type(value).__module__ == "numpy" and getattr(value, "ndim", 0) >= 1


def fill(template: str, values: dict, language: str = "python") -> str:
    """Replace each `{name}` whose name is in `values` by that value written in `language`."""
    names = "|".join(re.escape(k) for k in values)
    if not names:
        return template
    return re.sub(r"\{(" + names + r")\}", lambda m: literal(values[m.group(1)], language), template)


class DataError(ValueError):
    """A table, an image or an argument that cannot be trained on.

    Raised before the first training step, so nothing has changed yet.
    problem: what is wrong; fix: what to do about it (may be None);
    values: the offending values the two templates name as `{name}`.
    """

    def __init__(self, problem: str, fix: str | None = None, **values):
        self.problem = problem
        self.fix = fix
        self.values = values
        super().__init__(self.message("python"))

    def render(self, language: str = "python") -> dict:
        """{"problem": str, "fix": str or None}, values written in `language` ("python" or "r")."""
        if language not in LANGUAGES:
            raise ValueError(f"language must be one of {LANGUAGES}, not {language!r}")
        return {
            "problem": fill(self.problem, self.values, language),
            "fix": None if self.fix is None else fill(self.fix, self.values, language),
        }

    def message(self, language: str = "python") -> str:
        parts = self.render(language)
        return parts["problem"] if parts["fix"] is None else f"{parts['problem']} {parts['fix']}"

    def __reduce__(self):  # picklable with its fields (multiprocessing, pytest-xdist)
        return (_rebuild, (self.problem, self.fix, self.values))


def _rebuild(problem, fix, values):
    return DataError(problem, fix, **values)


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite; the offending update was not applied."""

    def __init__(self, epoch: int, step: int):
        self.epoch = epoch
        self.step = step
        super().__init__(
            f"The loss became NaN or infinite at epoch {epoch}, step {step}. "
            "Training stopped; the student keeps its weights from the last good step. "
            "Try a lower learning_rate, or check the images and the rescale factor."
        )


_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


class WordedWarning(UserWarning):
    """A warning whose text differs by language: `r` is what R shows (c(...), TRUE, rkd_ functions)."""

    def __init__(self, message: str, r: str):
        super().__init__(message)
        self.r = r


def warn(message: str, category: type[Warning] = UserWarning, *, r: str | None = None) -> None:
    """warnings.warn() shown at the user's line: the first caller outside pykd.

    r: the message as R shows it, when it names code (the bridge gives R this text).
    """
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    if r is not None:
        warnings.warn(WordedWarning(message, r), stacklevel=level + 1)
    else:
        warnings.warn(message, category, stacklevel=level + 1)
