"""`landscape animate`: a GIF or MP4 of surface files for talks, made by `landscape.plot.animate`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from landscape.cli import options as opt
from landscape.cli import syntax
from landscape.cli.console import say
from landscape.cli.interrupts import on_interrupt
from landscape.cli.outputs import wrote
from landscape.cli.progress import Progress

WHOLE = "no animation is half-written (it is written whole once every frame is drawn)"


def animate(
    files: Annotated[list[Path], typer.Argument(metavar="FILES", help="Surface files (several: a sequence).")],
    what: Annotated[Optional[str], typer.Option("--what", metavar="WHAT",
                    help="path (the training path descending the surface), turn (the 3-D surface turning) or "
                         "sequence (the files one after another, one colour scale). Default: several files: "
                         "sequence; a file with a training path: path; else turn.")] = None,
    format: Annotated[str, typer.Option("--format", metavar="FORMAT",
                      help="gif, or mp4 (needs pip install 'landscape-viz[video]').")] = "gif",
    out: Annotated[Optional[Path], typer.Option("--out", metavar="DIR",
                   help="Folder for the animation (default: next to the first file).")] = None,
    fps: Annotated[Optional[float], typer.Option("--fps", metavar="N",
                   help="Frames per second (default: 12 for a turn; about a fifth of the frames, at least 2 "
                        "for a path and 1 for a sequence).")] = None,
    size: Annotated[Optional[str], typer.Option("--size", metavar="W,H", help="Frame size in inches.")] = None,
    style: opt.Style = "paper",
    dpi: Annotated[int, typer.Option("--dpi", metavar="N", help="Pixels per inch of the frames.")] = 100,
    kind: Annotated[Optional[str], typer.Option("--kind", metavar="KIND",
                    help="A sequence's frames: contour, filled (default), heatmap or surface; a path's map: "
                         "contour (default), filled or heatmap.")] = None,
    metric: opt.Metric = "loss",
    log: opt.Log = False,
    elev: opt.Elev = None,
    azim: Annotated[Optional[float], typer.Option("--azim", metavar="DEG",
                    help="3-D view azimuth (a turn starts there).")] = None,
    title: Annotated[Optional[str], typer.Option("--title", metavar="TEXT", help="Title above every frame.")] = None,
    quiet: opt.Quiet = False,
) -> None:
    """Animate surface files for talks: a training path descending the surface, the 3-D surface
    turning, or a sequence of files (one plane at several checkpoints) on one colour scale."""
    from landscape import store
    from landscape.plot import PlotOptions, blanks
    from landscape.plot.animate import animate as make

    options = PlotOptions(kinds=syntax.names(kind), metric=metric, log=log, dpi=dpi, size=syntax.size(size),
                          style=style, elev=elev, azim=azim, title=title)
    on_interrupt(lambda: WHOLE)
    with Progress(quiet) as progress:
        surfaces = [store.read_surface(f) for f in files]
        for f, s in zip(files, surfaces):
            missing = blanks(s)
            if missing:
                progress.note(f"{f}: {missing}")
        written = make(surfaces, what, options, format=format, fps=fps, out_dir=out,
                       on_frame=progress.task("frames", unit="frames"))
    for path in written:
        say(wrote(path, written.replaced))
