"""`landscape info`: what a surface file or a Hessian file holds, by `landscape.run.info`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from landscape.cli.console import say
from landscape.cli.flags import flagged


def info(file: Annotated[Path, typer.Argument(metavar="FILE", help="A surface or Hessian file, or a training log "
                                                                  "(or the run folder holding it).")]) -> None:
    """Summarize a surface file (grid, settings, plan, progress, loss, basins), a Hessian file, or a
    training log (steps, learning rates, sharpness)."""
    from landscape.run.info import summary

    say(summary(file, render=flagged))  # a Hessian table's advice names flags here
