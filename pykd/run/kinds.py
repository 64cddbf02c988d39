"""The kinds of values options take: how each is checked, written as a type, read from the
command line and converted from R. An option's declaration (pykd.run.options) names its
kind; the checks, the CLI flags and R's conversions follow from it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from ..core.errors import DataError, kind
from ..core.validation import one_of, whole_number


@dataclass(frozen=True, kw_only=True)
class Kind:
    """Any value, checked where it is used (a table, a model part); no command-line flag."""

    hint: str = "object"
    r: str = "value"  # R's conversion: value, integer, path, table, callbacks or named (Rpkg/R/checks.R)

    def check(self, value, name: str):
        return value

    def cli(self) -> dict | None:
        """argparse keyword arguments of the option's flag, or None for no flag."""
        return None


@dataclass(frozen=True, kw_only=True)
class Text(Kind):
    hint: str = "str"

    def cli(self) -> dict:
        return {"type": str}


@dataclass(frozen=True, kw_only=True)
class Columns(Kind):
    """A column name, or a list of names (one-hot columns, class names): "a,b,c" on the command line."""

    hint: str = "str | Sequence[str]"

    def cli(self) -> dict:
        return {"type": _comma_list, "metavar": "NAME[,NAME...]"}


@dataclass(frozen=True, kw_only=True)
class Folder(Kind):
    """A folder's path (local or a tf.io.gfile URL), or None."""

    hint: str = "str | os.PathLike | None"
    r: str = "path"

    def check(self, value, name: str):
        if value is None:
            return None
        if not isinstance(value, (str, os.PathLike)):
            raise DataError(f"{name} must be a folder path, not {{value}}.", value=kind(value))
        return os.fspath(value)

    def cli(self) -> dict:
        return {"type": str, "metavar": "FOLDER"}


@dataclass(frozen=True, kw_only=True)
class Table(Kind):
    """A table (DataFrame, CSV path, dict of columns), a folder of class subfolders or (x, y) arrays."""

    hint: str = "pd.DataFrame | str | os.PathLike | Mapping | tuple | None"
    r: str = "table"

    def cli(self) -> dict:
        return {"type": str, "metavar": "CSV_OR_FOLDER"}


@dataclass(frozen=True, kw_only=True)
class Whole(Kind):
    """A whole number >= minimum (R sends doubles such as 32.0), or None when allowed."""

    minimum: int = 1
    none: bool = False
    hint: str = "int"
    r: str = "integer"

    def check(self, value, name: str):
        return whole_number(value, name, minimum=self.minimum, allow_none=self.none)

    def cli(self) -> dict:
        return {"type": int}


@dataclass(frozen=True, kw_only=True)
class Number(Kind):
    """A real number, checked by `rule` (value, name) -> float, or None when allowed."""

    rule: Callable | None = None
    none: bool = False
    hint: str = "float"

    def check(self, value, name: str):
        if value is None and self.none:
            return None
        return value if self.rule is None else self.rule(value, name)

    def cli(self) -> dict:
        return {"type": float}


@dataclass(frozen=True, kw_only=True)
class Pair(Kind):
    """Two whole numbers (height, width)."""

    hint: str = "Sequence[int] | None"
    r: str = "integer"

    def cli(self) -> dict:
        return {"type": int, "nargs": 2, "metavar": ("HEIGHT", "WIDTH")}


@dataclass(frozen=True, kw_only=True)
class Choice(Kind):
    """One of a few values; on the command line written as text ("auto", "true", "2")."""

    values: tuple = ()
    rule: Callable | None = None  # (value) -> the checked value, for a choice that also takes other forms
    hint: str = ""  # by default Literal[...] of the values (True and False as bool)

    def __post_init__(self):
        if not self.hint:
            texts = [repr(v) for v in self.values if not isinstance(v, bool)]
            hint = f"Literal[{', '.join(texts)}]" if texts else ""
            if any(isinstance(v, bool) for v in self.values):
                hint = f"{hint} | bool" if hint else "bool"
            object.__setattr__(self, "hint", hint.replace("'", '"'))

    def check(self, value, name: str):
        if self.rule is not None:
            return self.rule(value)
        one_of(value, name, self.values)
        return value

    def cli(self) -> dict:
        return {"type": self.parse, "choices": list(self.values), "metavar": "{" + ",".join(map(_flag_text, self.values)) + "}"}

    def parse(self, text: str):
        for value in self.values:
            if _flag_text(value) == text.lower():
                return value
        return text  # argparse then names the choices


@dataclass(frozen=True, kw_only=True)
class Switch(Kind):
    """True or False; on the command line a flag that turns it on."""

    hint: str = "bool"

    def check(self, value, name: str):
        one_of(value, name, (True, False))
        return bool(value)

    def cli(self) -> dict:
        return {"action": "store_true"}


@dataclass(frozen=True, kw_only=True)
class Coerced(Kind):
    """An object made from what was given by `coerce(value)` (a dataclass from a dict R sends, ...)."""

    coerce: Callable = lambda value: value
    flag: dict | None = None  # argparse keyword arguments, for a value the command line can give

    def check(self, value, name: str):
        return self.coerce(value)

    def cli(self) -> dict | None:
        return self.flag


def _comma_list(text: str):
    parts = [p.strip() for p in text.split(",")]
    return parts if len(parts) > 1 else parts[0]


def _flag_text(value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")
