"""What to draw and how: `PlotOptions`, validated once where it is built, and the choices it
holds (`Kind`, `Metric`, `Format`), with which kinds fit which surfaces.

Strings work wherever a choice is expected; a bad value raises LandscapeError naming the field
(`LandscapeError.field`) and, through `errors.arg`, the argument (the CLI shows its flag).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar

import matplotlib as mpl
import numpy as np
from matplotlib.mathtext import MathTextParser

from landscape import store
from landscape.errors import LandscapeError, arg
from landscape.plot.style import STYLE


class _Choice(str, Enum):
    """A choice whose text is its value (in messages and f-strings, as Typer shows it)."""

    def __str__(self) -> str:
        return self.value


class Kind(_Choice):
    """What `render_file` writes: a figure (contour ... barcode) or a file for another program
    (vtk for ParaView, html for a browser, obj/ply for 3-D tools). `all`: every kind of `ALL_2D`
    (`ALL_1D`) that fits the file."""

    contour = "contour"
    filled = "filled"
    heatmap = "heatmap"
    surface = "surface"
    line = "line"
    barcode = "barcode"
    vtk = "vtk"
    html = "html"
    obj = "obj"
    ply = "ply"
    all = "all"


class Metric(_Choice):
    """The value drawn: loss, accuracy, or a map of the Hessian's eigenvalues (`store.EIGEN_METRICS`)."""

    loss = "loss"
    acc = "acc"
    eig_max = "eig_max"
    eig_min = "eig_min"
    eig_ratio = "eig_ratio"


class Theme(_Choice):
    """The look of a whole figure: `paper` (9 pt at the default sizes, scaled with the figure),
    `slide` (16:9, fonts and markers large enough for the back of a room), `dark` (light ink on a
    dark background, for dark slide decks)."""

    paper = "paper"
    slide = "slide"
    dark = "dark"


class Font(_Choice):
    """The typeface: `sans` (DejaVu Sans), `serif` (STIX, Times-like: most conference templates),
    `cm` (Computer Modern, LaTeX's default)."""

    sans = "sans"
    serif = "serif"
    cm = "cm"


class Format(_Choice):
    """Image formats of the figures."""

    png = "png"
    pdf = "pdf"
    svg = "svg"


FIGURES = (Kind.contour, Kind.filled, Kind.heatmap, Kind.surface, Kind.line, Kind.barcode)
FITS_2D = (Kind.contour, Kind.filled, Kind.heatmap, Kind.surface, Kind.barcode, Kind.vtk, Kind.html, Kind.obj,
           Kind.ply)
FITS_1D = (Kind.line, Kind.html)
COMPARE_2D = (Kind.contour, Kind.filled, Kind.heatmap, Kind.surface, Kind.barcode)
COMPARE_1D = (Kind.line,)
ALL_2D = (Kind.contour, Kind.filled, Kind.heatmap, Kind.surface, Kind.barcode, Kind.vtk)  # "all": no html/obj/ply
ALL_1D = (Kind.line,)
DEFAULTS_2D = (Kind.contour, Kind.filled, Kind.surface)
DEFAULTS_1D = (Kind.line,)
GRID_KINDS = (Kind.contour, Kind.filled, Kind.heatmap, Kind.surface, Kind.barcode)  # need 2 points along x and y


@dataclass(frozen=True)
class Look:
    """How a metric is labelled and coloured."""

    label: str | None  # None: from the value's name ("train loss", "test accuracy (%)")
    cmap: str
    best: str | None  # "min", "max" or None: where the star goes
    diverging: bool = False  # colours centred on 0


LOOKS = {
    Metric.loss: Look(None, "viridis", "min"),
    Metric.acc: Look(None, "viridis", "max"),
    Metric.eig_max: Look(store.EIGEN_LABELS["eig_max"], "plasma", None),
    Metric.eig_min: Look(store.EIGEN_LABELS["eig_min"], "RdBu_r", None, diverging=True),
    Metric.eig_ratio: Look(store.EIGEN_LABELS["eig_ratio"], "cividis", None),
}


E = TypeVar("E", bound=Enum)


def choice(cls: type[E], value: Any, what: str, field: str | None = None) -> E:
    """`value` (a member or its string) as a member of `cls`, or a LandscapeError naming the
    choices (and the `field` it was given for)."""
    try:
        return cls(getattr(value, "value", value))
    except ValueError:
        choices = ", ".join(m.value for m in cls)  # type: ignore[attr-defined]
        raise LandscapeError(f"unknown {what} {value!r}; use one of: {choices}", field=field) from None


@dataclass(frozen=True)
class PlotOptions:
    """What to draw and how. Validated when built: a bad value raises LandscapeError.

    Strings are accepted wherever an Enum is expected (kinds, metric, formats), as are lists and
    a single string; they are stored as `Kind`, `Metric` and `Format` members.
    vmin, vmax and zmax are in the metric's units even with `log` (then they must be > 0);
    with `log`, levels are at round losses (1, 3, 10, ... or 1-2-5) and `vlevel` is a step in decades.
    Contour levels by default: the paper's 0.1 to 10 every 0.5 for loss (those inside the data),
    or about ten nice levels when fewer than six of those fall inside the data, or for other
    metrics and log. The heatmap uses the same levels as its colour bands.
    `zmax` clips the 3-D surface and the exported heights; None caps automatically at
    q95 + (q95 - q5) of the values (no effect on an ordinary bowl, cuts single huge outliers);
    inf turns clipping off. `size` is the whole figure in inches; None: per kind, one panel per
    file. `threshold`: the barcode's basin threshold, a loss difference (None: `basins`' default).
    """

    kinds: tuple[Kind, ...] | None = None  # None: contour, filled, surface (2-D) / line (1-D)
    metric: Metric = Metric.loss
    log: bool = False
    vmin: float | None = None
    vmax: float | None = None
    levels: int | None = None  # number of contour lines, evenly spaced strictly inside [vmin, vmax]
    vlevel: float | None = None  # step between contour lines
    cmap: str | None = None  # None: per metric (viridis for loss and accuracy)
    formats: tuple[Format, ...] = (Format.png,)
    dpi: int = 150
    title: str | None = None
    elev: float | None = None  # None: STYLE.elev
    azim: float | None = None  # None: STYLE.azim
    zmax: float | None = None
    epoch_labels: bool = False
    size: tuple[float, float] | None = None
    threshold: float | None = None
    style: Theme = Theme.paper
    transparent: bool = False  # PNG/SVG/PDF without a background
    font: Font = Font.sans
    fontsize: float | None = None  # points; None: 9 at the default sizes, scaled with the figure
    xlabel: str | None = None  # None: the file's ("direction 1", "toward epoch_8.pt", ...)
    ylabel: str | None = None
    labels: tuple[str, ...] | None = None  # names of the surfaces in legends and panel titles, in order
    notes: bool = False  # the notes on the image too (they always go to the caption files)
    smooth: int | None = None  # 3-D surface: resample each cell into smooth x smooth (cubic), 2 to 16

    def __post_init__(self) -> None:
        """Accept what a CLI or a notebook hands over: lists, one string, strings for Enum members."""
        def items(value: Any) -> tuple[Any, ...]:
            return (value,) if isinstance(value, (str, Enum)) else tuple(value)

        kinds = ", ".join(k.value for k in Kind)
        if self.kinds is not None:
            object.__setattr__(self, "kinds", tuple(choice(Kind, k, "plot kind", "kinds") for k in items(self.kinds)))
        object.__setattr__(self, "formats", tuple(choice(Format, f, "format", "formats") for f in items(self.formats)))
        object.__setattr__(self, "metric", choice(Metric, self.metric, "metric", "metric"))
        object.__setattr__(self, "style", choice(Theme, self.style, "style", "style"))
        object.__setattr__(self, "font", choice(Font, self.font, "font", "font"))
        if self.size is not None:
            object.__setattr__(self, "size", tuple(float(v) for v in items(self.size)))
        if self.labels is not None:
            object.__setattr__(self, "labels", tuple(str(v) for v in items(self.labels)))
        if self.kinds == ():
            raise LandscapeError(f"no plot kind given; use one of: {kinds}", field="kinds")
        self.validate()

    def validate(self) -> None:
        """Raise LandscapeError naming the first bad value and what to give instead."""
        numbers = {k: getattr(self, k) for k in ("vmin", "vmax", "vlevel", "zmax", "elev", "azim", "threshold",
                                                 "fontsize")}
        limits = [k for k in ("vmin", "vmax", "zmax") if numbers[k] is not None and numbers[k] <= 0]
        checks = [  # (broken, message, the field to fix)
            (not self.formats, "no output format given; use png, pdf or svg", "formats"),
            *((v is not None and not (np.isfinite(v) or (k == "zmax" and v == np.inf)),
               f"{arg(k)} must be a finite number, got {v}", k) for k, v in numbers.items()),
            (None not in (self.vmin, self.vmax) and self.vmin >= self.vmax,  # type: ignore[operator]
             f"{arg('vmin', self.vmin)} must be smaller than {arg('vmax', self.vmax)}", "vmin"),
            (self.levels is not None and not 1 <= self.levels <= STYLE.max_levels,
             f"{arg('levels')} must be between 1 and {STYLE.max_levels}, got {self.levels}", "levels"),
            (self.vlevel is not None and self.vlevel <= 0, f"{arg('vlevel')} must be positive, got {self.vlevel}",
             "vlevel"),
            (None not in (self.levels, self.vlevel),
             f"give {arg('levels')} (a count) or {arg('vlevel')} (a step), not both", "levels"),
            (self.log and self.metric is not Metric.loss,
             f"{arg('log', True)} applies to the loss only; drop {arg('log', True)} or use {arg('metric', 'loss')}",
             "log"),
            (self.log and bool(limits),
             f"{arg(limits[0] if limits else 'vmin')} must be > 0 with {arg('log', True)} (limits are losses)",
             limits[0] if limits else None),
            (self.threshold is not None and self.threshold < 0,
             f"{arg('threshold')} must be >= 0, got {self.threshold}", "threshold"),
            (not 10 <= self.dpi <= 2400, f"{arg('dpi')} must be between 10 and 2400, got {self.dpi}", "dpi"),
            (self.size is not None and (len(self.size) != 2 or not all(0 < v <= 100 for v in self.size)),
             f"{arg('size')} must be two numbers of inches in (0, 100], got {self.size}", "size"),
            (self.fontsize is not None and not 4 <= self.fontsize <= 72,
             f"{arg('fontsize')} must be between 4 and 72 points, got {self.fontsize}", "fontsize"),
            (self.smooth is not None and not 2 <= self.smooth <= 16,
             f"{arg('smooth')} must be between 2 and 16 (points per cell side), got {self.smooth}", "smooth"),
            (self.labels is not None and not all(v.strip() for v in self.labels),
             f"{arg('labels')} has an empty name; give one name per file, comma-separated", "labels"),
            (self.cmap is not None and self.cmap not in mpl.colormaps,
             f"unknown colormap {self.cmap!r}; try viridis, magma, cividis or coolwarm", "cmap"),
        ]
        for bad, message, field in checks:
            if bad:
                raise LandscapeError(message, field=field)
        texts = [("title", self.title), ("xlabel", self.xlabel), ("ylabel", self.ylabel),
                 *(("labels", v) for v in self.labels or ())]
        for field, text in texts:
            if text and text.count("$") >= 2 and text.count("$") % 2 == 0:
                try:
                    MathTextParser("path").parse(text)
                except ValueError as e:
                    first = str(e).strip().splitlines()[-1] if str(e).strip() else "cannot parse it"
                    named = {"title": arg("title"), "xlabel": arg("xlabel"), "ylabel": arg("ylabel"),
                             "labels": arg("labels")}[field]
                    raise LandscapeError(f"{named} {text!r} is not valid math text ({first}); fix the $...$ part "
                                         "or escape the dollar signs (\\$)", field=field) from None

    @property
    def look(self) -> Look:
        return LOOKS[self.metric]
