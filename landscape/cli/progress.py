"""The one progress display of the commands, on stderr.

A command asks for a task (`task("points", unit="points")`) and hands the update function
`(done, total)` to the library. The display starts at the first update, so nothing shows
before every check has passed; lines printed meanwhile (`tell`, `note`) appear above it.
On a terminal it is a bar per task; elsewhere (a log file, a batch job), where a bar would show
only at the end, it is plain lines: one when a task starts, then one at each tenth of the total
and at most every `EVERY` seconds, and one at the end. With `quiet` there is no display and no
line."""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType

from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.progress import Progress as Bars

from landscape.cli.console import err_console
from landscape.cli.flags import flagged

Update = Callable[[int, int], None]

EVERY = 30.0
"""Seconds between two plain lines of a task that has not reached its next tenth."""


class Progress:
    """`with Progress(quiet) as progress:` ... `progress.task(name)` → an update function.
    `clock`: seconds, for the rates and the plain lines' spacing."""

    def __init__(self, quiet: bool, clock: Callable[[], float] = time.perf_counter) -> None:
        self.quiet, self._clock = quiet, clock
        # A dumb terminal (TERM=dumb, an editor's shell) does not redraw a bar either.
        self._plain = not quiet and (not err_console.is_terminal or err_console.is_dumb_terminal)
        self._bars = Bars(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                          TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("eta"),
                          TimeRemainingColumn(), console=err_console, disable=quiet or self._plain, transient=False)
        self._started = False
        self._unsaid: dict[int, str] = {}  # plain lines: each task's latest state not printed yet

    def task(self, name: str, unit: str | None = None) -> Update:
        """The update function of a bar named `name`, shown from its first update; with `unit`,
        the rate since then ("12.3 points/s")."""
        first: dict[str, float] = {}  # the task's id, and the time and count of its first update
        said: dict[str, float] = {}  # plain lines: the time, count and tenth of the last one

        def update(done: int, total: int) -> None:
            now = self._clock()
            if not first:
                self._start()
                first.update(id=self._bars.add_task(name, total=total, rate=""), t=now, done=done)
            elapsed = now - first["t"]
            speed = (done - first["done"]) / elapsed if elapsed > 0 and done > first["done"] else 0.0
            rate = f"{speed:.1f} {unit}/s" if unit and speed else ""
            self._bars.update(int(first["id"]), completed=done, total=total, rate=rate)
            if not self._plain:
                return
            tenth, key = 10 * done // max(total, 1), int(first["id"])
            if said and done <= said["done"]:
                return
            if said and done < total and tenth <= said["tenth"] and now - said["t"] < EVERY:
                self._unsaid[key] = _line(name, done, total, rate, elapsed, speed)  # for the end, if nothing follows
                return
            self._unsaid.pop(key, None)
            self._say(_line(name, done, total, rate, elapsed, speed) if said else f"{name}: {done}/{total}")
            said.update(t=now, done=done, tenth=tenth)

        return update

    def tell(self, text: str, soft_wrap: bool = True) -> None:
        """A line about the run, above the bars (nothing when quiet)."""
        if not self.quiet:
            err_console.print(flagged(text), soft_wrap=soft_wrap)

    def note(self, text: str) -> None:
        self.tell(f"note: {text}")

    def _say(self, line: str) -> None:
        err_console.print(line, soft_wrap=True, markup=False, highlight=False)

    def _start(self) -> None:
        if not self._started:
            self._bars.start()
            self._started = True

    def stop(self) -> None:
        """Ends the display; a plain task's last state is printed if it was not yet."""
        for line in self._unsaid.values():
            self._say(line)
        self._unsaid.clear()
        if self._started:
            self._bars.stop()
            self._started = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()


def _line(name: str, done: int, total: int, rate: str, elapsed: float, speed: float) -> str:
    """The bar's fields as a line: points: 1300/2601 (50%), 12.3 points/s, elapsed 1:02, eta 1:03."""
    eta = f"eta {_duration(max(total - done, 0) / speed)}" if speed else ""
    fields = [f"{name}: {done}/{total} ({100 * done // max(total, 1)}%)", rate, f"elapsed {_duration(elapsed)}", eta]
    return ", ".join(f for f in fields if f)


def _duration(seconds: float) -> str:
    """1:02, or 1:02:03 from an hour on."""
    minutes, s = divmod(int(seconds), 60)
    hours, m = divmod(minutes, 60)
    return f"{hours}:{m:02}:{s:02}" if hours else f"{m}:{s:02}"
