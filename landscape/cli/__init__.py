"""The `landscape` command line: one module per command group, each declaring its options and
calling one library function; `app.py` registers them and holds the one error edge.

    app.py         the Typer app, `main`, the edge: LandscapeError → one line, exit code 2
    options.py     the shared options, declared once; ModelOptions and SurfaceOptions
    syntax.py      MIN:MAX:NUM, auto[:NUM], W,H and lists → values
    flags.py       the library's argument names → flags (FLAGS)
    console.py     stdout and stderr, every text with flags; the rank that speaks
    progress.py    the one progress display
    interrupts.py  Ctrl-C and SIGTERM: exit code 130 and what the outputs hold
    outputs.py     default output names, the check before work, "wrote"/"replaced"
    compute.py     compute, trajectory, interpolate
    curvature.py   hessian, sharpness
    plot.py, info.py, demo.py

Importing this package loads no PyTorch, NumPy, h5py or matplotlib.
"""

from landscape.cli.app import app, main
from landscape.cli.syntax import parse_axis

__all__ = ["app", "main", "parse_axis"]
