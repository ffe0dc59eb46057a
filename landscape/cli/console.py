"""Where the commands write: results on stdout; notes, warnings and errors on stderr, one line
each. Every text goes through `flagged`, so what the library wrote with `arg(...)` markers
reads as flags. Under torchrun only rank 0 speaks."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console

from landscape.cli.flags import flagged

# User text (paths, messages) is printed as it is: no markup, no emoji codes, no highlighting.
out_console = Console(markup=False, emoji=False, highlight=False)
err_console = Console(stderr=True, markup=False, emoji=False, highlight=False)


def rank0() -> bool:
    """Whether this process speaks for the run: a plain process, or rank 0 under torchrun (the
    rank as `landscape.run.distributed` reads it, without loading PyTorch)."""
    from landscape.run.distributed import rank

    return rank() == 0


def say(text: str, soft_wrap: bool = True) -> None:
    """A result line, on stdout."""
    out_console.print(flagged(text), soft_wrap=soft_wrap)


def tell(text: str, soft_wrap: bool = True) -> None:
    """A line about the run (a note, a row as it finishes), on stderr."""
    err_console.print(flagged(text), soft_wrap=soft_wrap)


def note(text: str) -> None:
    tell(f"note: {text}")


@contextmanager
def one_line_warnings() -> Iterator[None]:
    """A warning from a library (NumPy, PyTorch, landscape) as one line, "warning: ...", without
    the source line Python prints under it; each text once."""
    seen: set[str] = set()
    previous = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):  # type: ignore[no-untyped-def]
        text = flagged((str(message).splitlines() or [""])[0].strip())
        if text not in seen and rank0():
            seen.add(text)
            err_console.print(f"warning: {text}", soft_wrap=True)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = previous


@contextmanager
def quiet_warnings(quiet: bool) -> Iterator[None]:
    """With --quiet, no Python warnings either (PyTorch's deprecation notes, say)."""
    with warnings.catch_warnings():
        if quiet:
            warnings.simplefilter("ignore")
        yield
