"""Ctrl-C and SIGTERM: every command ends with exit code 130 and one true line saying what
its outputs hold at that moment. A command states that as it goes (`on_interrupt`); the app's
edge prints the last statement (`interrupted`)."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from landscape.cli.console import err_console, rank0

FIGURES_WHOLE = "no figure is half-written (each file is written whole), and any not written yet are missing"
_SAID: list[Callable[[], str]] = []  # what is true of the outputs if the running command stops now


def start() -> None:
    """A command begins: nothing written yet."""
    _SAID.clear()


def on_interrupt(say: Callable[[], str]) -> None:
    """From now on, an interruption leaves what `say()` says (asked when it happens)."""
    _SAID[:] = [say]


def interrupted() -> int:
    """Say, in one line, what an interruption left behind; the exit code, 130."""
    said = _SAID[-1]() if _SAID else "nothing was written"
    if rank0():
        err_console.print(f"interrupted: {said}", soft_wrap=True)
    return 130


def resumable(out: Path) -> Callable[[], str]:
    """For surface files: the points computed so far are saved (and resumed) once the file exists."""
    return lambda: (f"the points computed so far are saved in {out}; run the same command again to resume"
                    if out.exists() else "nothing was written")


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (a scheduler's kill) ends a run like Ctrl-C: the file is flushed and closed."""

    def handler(signum, frame):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def stoppable() -> Iterator[Callable[[], None]]:
    """SIGINT or SIGTERM during `hessian` and `sharpness`: the first asks the work to stop at its
    next step, where the check it is given raises KeyboardInterrupt (raised inside PyTorch's C++
    code instead, it comes out wrapped in a RuntimeError, or is lost); a second stops at once."""
    asked: list[int] = []

    def handler(signum, frame):  # type: ignore[no-untyped-def]
        if asked:
            raise KeyboardInterrupt
        asked.append(signum)

    def check() -> None:
        if asked:
            raise KeyboardInterrupt

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield check
        check()  # a signal during the last step: the command has said what is saved by now
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
