"""The one exception type for user mistakes, and how a message names the user's settings.

The library speaks Python, the command line speaks flags. A message names a setting with
`arg("x")` or `arg("precision", "fp32")`; the text carries a marker that reads as the Python
argument (`x`, `precision='fp32'`) in a notebook and as the flag (`--x`, `--precision fp32`)
once the CLI's one error edge renders it with `for_cli`. A `LandscapeError` may also carry the
`field` it concerns, so a caller can tell which argument to fix without reading the text.
"""

from __future__ import annotations

import ast
import re

_OPEN, _CLOSE = "\u2039", "\u203a"  # ‹name› or ‹name=repr(value)›: rare in real text
_MARK = re.compile(f"{_OPEN}([A-Za-z_][A-Za-z0-9_]*)(?:=(.*?))?{_CLOSE}")


def arg(name: str, value: object = None) -> str:
    """A setting named in a message: the argument `name` (with `value`, a setting of it).

    `arg("overwrite", True)` reads `overwrite=True` in Python and `--overwrite` on the command
    line; `arg("x")` reads `x` and `--x`."""
    return f"{_OPEN}{name}{'' if value is None else '=' + repr(value)}{_CLOSE}"


def as_python(text: str) -> str:
    """The message as a notebook user reads it: arguments by their Python names."""
    return _MARK.sub(lambda m: m[1] if m[2] is None else f"{m[1]}={m[2]}", text)


def for_cli(text: str, flags: dict[str, str | tuple[str, str]] | None = None) -> str:
    """The message as a command-line user reads it: `--flag value`. `flags` maps an argument to
    its flag where the two are not simply `x_target` -> `--x-target`; a switch whose two forms
    are not `--name`/`--no-name` maps to the pair (on, off), e.g. ("--ignore biasbn", "--no-ignore")."""
    flags = flags or {}

    def flag(m: re.Match[str]) -> str:
        known = flags.get(m[1], "--" + m[1].replace("_", "-"))
        on, off = known if isinstance(known, tuple) else (known, "--no-" + known.removeprefix("--"))
        if m[2] is None:
            return on.split()[0]
        try:
            value = ast.literal_eval(m[2])
        except (ValueError, SyntaxError):
            value = m[2]
        if value is True:
            return on
        if value is False:
            return off
        return f"{on.split()[0]} {value}"

    return _MARK.sub(flag, text)


class LandscapeError(Exception):
    """Bad input from the user: the CLI prints the message on one line and exits with code 2.

    `field` names the argument the error concerns (`"x"`, `"checkpoint"`), where there is one."""

    def __init__(self, message: str = "", field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    @property
    def message(self) -> str:
        """The raw text, markers included (for `for_cli`)."""
        return str(self.args[0]) if self.args else ""

    def __str__(self) -> str:
        return as_python(self.message)
