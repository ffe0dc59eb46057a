"""`landscape plot`: figures of surface files (and a Hessian file's spectral density), drawn by
`landscape.plot`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from landscape.cli import options as opt
from landscape.cli import syntax
from landscape.cli.console import say
from landscape.cli.interrupts import FIGURES_WHOLE, on_interrupt
from landscape.cli.outputs import wrote
from landscape.errors import LandscapeError


def plot(
    files: Annotated[list[Path], typer.Argument(metavar="FILES", help="Surface files (several with --compare), a "
                                                                       "Hessian file (its spectral density), or a "
                                                                       "training log or run folder (sharpness).")],
    kind: Annotated[Optional[str], typer.Option("--kind", metavar="KINDS",
                    help="Comma-separated: contour, filled, heatmap, surface, line, barcode, vtk, obj, ply, html, "
                         "or all (default: by file).")] = None,
    metric: opt.Metric = "loss",
    log: opt.Log = False,
    vmin: Annotated[Optional[float], typer.Option("--vmin", metavar="V", help="Lowest contour level / colour.")] = None,
    vmax: Annotated[Optional[float], typer.Option("--vmax", metavar="V", help="Highest contour level / colour.")] = None,
    levels: Annotated[Optional[int], typer.Option("--levels", metavar="N", help="Number of contour levels.")] = None,
    vlevel: Annotated[Optional[float], typer.Option("--vlevel", metavar="STEP",
                      help="Step between contour levels (the paper: 0.5).")] = None,
    cmap: Annotated[Optional[str], typer.Option("--cmap", metavar="NAME", help="Matplotlib colormap.")] = None,
    format: Annotated[str, typer.Option("--format", metavar="FORMATS", help="png, pdf, svg (comma-separated).")] = "png",
    dpi: Annotated[int, typer.Option("--dpi", metavar="N", help="Resolution of raster images.")] = 150,
    size: Annotated[Optional[str], typer.Option("--size", metavar="W,H", help="Figure size in inches.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", metavar="DIR",
                   help="Folder for the figures (default: next to the file).")] = None,
    title: Annotated[Optional[str], typer.Option("--title", metavar="TEXT", help="Figure title.")] = None,
    elev: opt.Elev = None,
    azim: Annotated[Optional[float], typer.Option("--azim", metavar="DEG", help="3-D view azimuth.")] = None,
    zmax: Annotated[Optional[float], typer.Option("--zmax", metavar="V", help="Clip the 3-D surface at this "
                                                                              "value.")] = None,
    epoch_labels: Annotated[bool, typer.Option("--epoch-labels", help="Label trajectory points with their "
                                                                      "epoch.")] = False,
    compare: Annotated[bool, typer.Option("--compare", help="Several surfaces side by side on one colour "
                                                            "scale.")] = False,
    threshold: Annotated[Optional[float], typer.Option("--threshold", metavar="LOSS",
                         help="Barcode: the persistence a basin needs to count (default: 5% of the range).")] = None,
    style: opt.Style = "paper",
    transparent: Annotated[bool, typer.Option("--transparent", help="No background (PNG, SVG, PDF).")] = False,
    font: Annotated[str, typer.Option("--font", metavar="FONT",
                    help="sans, serif (Times-like) or cm (LaTeX's Computer Modern).")] = "sans",
    fontsize: Annotated[Optional[float], typer.Option("--fontsize", metavar="PT",
                        help="Font size in points (default: 9 at the default size, scaled with --size).")] = None,
    xlabel: Annotated[Optional[str], typer.Option("--xlabel", metavar="TEXT", help="x axis label.")] = None,
    ylabel: Annotated[Optional[str], typer.Option("--ylabel", metavar="TEXT", help="y axis label.")] = None,
    labels: Annotated[Optional[str], typer.Option("--labels", metavar="NAMES",
                      help="Names of the files in legends and panel titles, comma-separated.")] = None,
    notes: Annotated[bool, typer.Option("--notes", help="Notes on the image too (they always go to the caption "
                                                        "files beside it).")] = False,
    smooth: Annotated[Optional[int], typer.Option("--smooth", metavar="N",
                      help="3-D surface: a smooth mesh, each cell resampled N x N (cubic).")] = None,
) -> None:
    """Draw figures of surface files: contours, heatmap, 3-D surface, 1-D line, barcode, 3-D exports;
    a Hessian file's spectral density; a training log's sharpness against step (edge of stability). Each figure's caption goes beside it (.caption.txt, .tex)."""
    from landscape import store
    from landscape.plot import PlotOptions, blanks, is_hessian_file, render_compare, render_file
    from landscape.store.training_log import is_training_log, log_path

    options = PlotOptions(kinds=syntax.names(kind), metric=metric, log=log, vmin=vmin, vmax=vmax, levels=levels,
                          vlevel=vlevel, cmap=cmap, formats=syntax.names(format), dpi=dpi, title=title, elev=elev,
                          azim=azim, zmax=zmax, epoch_labels=epoch_labels, size=syntax.size(size),
                          threshold=threshold, style=style, transparent=transparent, font=font, fontsize=fontsize,
                          xlabel=xlabel, ylabel=ylabel, labels=syntax.names(labels), notes=notes, smooth=smooth)
    if len(files) > 1 and not compare:
        raise LandscapeError(f"{len(files)} files given: add --compare to draw them side by side, or give one")
    on_interrupt(lambda: FIGURES_WHOLE)
    files = [log_path(f) if f.is_dir() else f for f in files]  # a recorded run's folder: its training log
    for f in files:
        missing = "" if is_hessian_file(f) or is_training_log(f) else blanks(store.read_surface(f))
        if missing:
            say(f"note: {f}: {missing}")
    written = render_compare(files, options, out) if compare else render_file(files[0], options, out)
    for path in written:
        say(wrote(path, written.replaced))
    if written.captions:
        say(f"captions beside them ({', '.join(p.name for p in written.captions[:2])}"
            f"{', ...' if len(written.captions) > 2 else ''})")
