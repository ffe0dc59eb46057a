"""The one progress display of the commands, on stderr.

A command asks for a task (`task("points", unit="points")`) and hands the update function
`(done, total)` to the library. The display starts at the first update, so nothing shows
before every check has passed; lines printed meanwhile (`tell`, `note`) appear above it.
With `quiet` there is no display and no line."""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType

from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.progress import Progress as Bars

from landscape.cli.console import err_console
from landscape.cli.flags import flagged

Update = Callable[[int, int], None]


class Progress:
    """`with Progress(quiet) as progress:` ... `progress.task(name)` → an update function."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self._bars = Bars(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                          TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("eta"),
                          TimeRemainingColumn(), console=err_console, disable=quiet, transient=False)
        self._started = False

    def task(self, name: str, unit: str | None = None) -> Update:
        """The update function of a bar named `name`, shown from its first update; with `unit`,
        the rate since then ("12.3 points/s")."""
        first: dict[str, float] = {}  # the task's id, and the time and count of its first update

        def update(done: int, total: int) -> None:
            now = time.perf_counter()
            if not first:
                self._start()
                first.update(id=self._bars.add_task(name, total=total, rate=""), t=now, done=done)
            elapsed = now - first["t"]
            rate = (f"{(done - first['done']) / elapsed:.1f} {unit}/s"
                    if unit and elapsed > 0 and done > first["done"] else "")
            self._bars.update(int(first["id"]), completed=done, total=total, rate=rate)

        return update

    def tell(self, text: str, soft_wrap: bool = True) -> None:
        """A line about the run, above the bars (nothing when quiet)."""
        if not self.quiet:
            err_console.print(flagged(text), soft_wrap=soft_wrap)

    def note(self, text: str) -> None:
        self.tell(f"note: {text}")

    def _start(self) -> None:
        if not self._started:
            self._bars.start()
            self._started = True

    def stop(self) -> None:
        if self._started:
            self._bars.stop()
            self._started = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()
