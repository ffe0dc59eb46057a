"""plot/options.py: PlotOptions takes what a CLI or a notebook hands over and refuses bad values,
naming the argument (`field`; the CLI renders it as the flag)."""

from __future__ import annotations

from enum import Enum

import pytest

from landscape import plot
from landscape.errors import LandscapeError, for_cli
from landscape.plot import PlotOptions
from test_plot_surfaces import no_pyplot_figures  # noqa: F401 (a fixture)


@pytest.mark.parametrize("bad", [
    dict(kinds=("pie",)), dict(kinds=()), dict(metric="f1"), dict(formats=("jpg",)), dict(formats=()),
    dict(vmin=2.0, vmax=1.0), dict(vmin=1.0, vmax=1.0), dict(levels=0), dict(vlevel=0.0), dict(vlevel=-1.0),
    dict(levels=5, vlevel=0.5), dict(dpi=5), dict(size=(0, 3)), dict(size=(4,)), dict(cmap="nope"),
    dict(log=True, metric="acc"), dict(log=True, vmin=0.0), dict(vmin=float("nan")), dict(elev=float("inf")),
])
def test_invalid_options(bad):
    with pytest.raises(LandscapeError):
        PlotOptions(**bad)


def test_options_accept_lists_strings_and_enums():
    class Kind(str, Enum):
        contour = "contour"

    opts = PlotOptions(kinds=[Kind.contour, "heatmap"], formats="pdf", size=[3, 2], metric="eig_ratio")
    assert opts.kinds == (plot.Kind.contour, plot.Kind.heatmap) and opts.kinds == ("contour", "heatmap")
    assert opts.formats == (plot.Format.pdf,) and opts.size == (3, 2) and opts.metric is plot.Metric.eig_ratio
    assert PlotOptions(kinds="all").kinds == (plot.Kind.all,)
    with pytest.raises(LandscapeError, match="eig_ratio"):  # the message lists the choices
        PlotOptions(metric="hessian")


@pytest.mark.parametrize("bad,field,python,cli", [
    (dict(vmin=2.0, vmax=1.0), "vmin", "vmin=2.0 must be smaller than vmax=1.0",
     "--vmin 2.0 must be smaller than --vmax 1.0"),
    (dict(levels=0), "levels", "levels must be between 1 and 500, got 0", "--levels must be between 1 and 500"),
    (dict(levels=5, vlevel=0.5), "levels", "give levels (a count) or vlevel (a step), not both",
     "give --levels (a count) or --vlevel (a step), not both"),
    (dict(log=True, vmin=0.0), "vmin", "vmin must be > 0 with log=True", "--vmin must be > 0 with --log"),
    (dict(log=True, metric="acc"), "log", "log=True applies to the loss only; drop log=True or use metric='loss'",
     "--log applies to the loss only; drop --log or use --metric loss"),
    (dict(zmax=float("nan")), "zmax", "zmax must be a finite number, got nan", "--zmax must be a finite number"),
    (dict(elev=float("inf")), "elev", "elev must be a finite number", "--elev must be a finite number"),
    (dict(threshold=-1.0), "threshold", "threshold must be >= 0", "--threshold must be >= 0"),
    (dict(dpi=5), "dpi", "dpi must be between 10 and 2400, got 5", "--dpi must be between 10 and 2400"),
    (dict(size=(4,)), "size", "size must be two numbers of inches", "--size must be two numbers of inches"),
    (dict(cmap="nope"), "cmap", "unknown colormap 'nope'", "unknown colormap 'nope'"),
    (dict(kinds=("pie",)), "kinds", "unknown plot kind 'pie'; use one of: contour", "unknown plot kind 'pie'"),
    (dict(kinds=()), "kinds", "no plot kind given", "no plot kind given"),
    (dict(formats=("jpg",)), "formats", "unknown format 'jpg'", "unknown format 'jpg'"),
    (dict(metric="f1"), "metric", "unknown metric 'f1'", "unknown metric 'f1'"),
])
def test_a_refusal_names_the_argument_in_python_and_the_flag_on_the_command_line(bad, field, python, cli):
    with pytest.raises(LandscapeError) as e:
        PlotOptions(**bad)
    assert e.value.field == field
    assert python in str(e.value), str(e.value)
    assert cli in for_cli(e.value.message), for_cli(e.value.message)
    assert "--" not in str(e.value)  # a notebook reads no flags
