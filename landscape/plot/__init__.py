"""Figures of loss surfaces as in Li et al. 2018 (arXiv:1712.09913): contour lines, filled
contours, heatmaps, 3-D surfaces, the 1-D loss/accuracy plot, the basins' persistence barcode,
and the dispatch of the file exports (VTK here; HTML, OBJ and PLY in `export`).

The only module that imports matplotlib. It never touches pyplot's global state: figures are
`matplotlib.figure.Figure` objects, so rendering works headless and in notebooks.
Arrays follow the store's orientation: a 2-D z has shape (len(y), len(x)) and z[j, i] belongs
to the point (x[i], y[j]); x runs along the horizontal axis.

What every 2-D figure shows and says:
- The whole grid's extent, even where only part of it is computed; points not computed yet are
  hatched grey, computed points with an inf or NaN loss hatched red, and a note below the figure
  says "n of N points computed". NaN and inf are never plotted as numbers.
- One colour scale per figure, in the metric's units even with `log` (levels, colorbar ticks,
  contour labels and the 3-D z axis all read as losses).
- Labels (contour values, track names, epochs) are placed where they collide with nothing:
  not with each other, nor with markers, paths and lines, and inside the axes.
- Equal aspect unless one direction's range is more than `STYLE.max_aspect` times the other's;
  then the note says "axes not to scale".
An array with no finite value raises LandscapeError ("no computed points to plot").
"""

from __future__ import annotations

import hashlib
import math
import tempfile
import textwrap
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection, QuadMesh
from matplotlib.colors import BoundaryNorm, CenteredNorm, Colormap, ListedColormap, Normalize
from matplotlib.container import BarContainer
from matplotlib.contour import QuadContourSet
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.path import Path as MplPath
from matplotlib.patheffects import withStroke
from matplotlib.text import Annotation, Text
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator
from mpl_toolkits.mplot3d.art3d import Poly3DCollection
from numpy.typing import ArrayLike

from landscape import store

from landscape.store import files
from landscape.errors import LandscapeError
from landscape.store.surface_file import Surface, Track


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


@dataclass(frozen=True)
class Style:
    """Every look-and-feel constant of the figures, in one place."""

    rc: tuple[tuple[str, Any], ...] = (("font.size", 9), ("axes.titlesize", 9), ("legend.fontsize", 7.5),
                                       ("pdf.fonttype", 42))  # 42: text stays editable in the PDF
    label_size: float = 7.5  # contour labels, track labels (points)
    note_size: float = 7.0
    cmap: str = "viridis"
    line_width: float = 0.9
    line_luminance: float = 0.62  # contour lines are darkened to at most this luminance (legible on white)
    ink_luminance: float = 0.33  # and their labels to at most this
    loss_color: str = "tab:blue"
    acc_color: str = "tab:red"
    best_color: str = "red"  # star at the minimum loss (maximum accuracy)
    run_colors: tuple[str, ...] = ("black", "#d62728", "#ff7f0e", "#e377c2", "#8c564b", "#17becf")
    missing_face: str = "0.93"  # cells not computed yet: light grey, hatched
    missing_hatch: str = "////"
    missing_ink: str = "0.6"
    diverged_face: str = "#fbe3e3"  # computed cells with an inf or NaN value
    diverged_hatch: str = "xxxx"
    diverged_ink: str = "#d62728"
    off_plane: float = 0.10  # a checkpoint with a larger projection residual is drawn hollow and noted
    max_aspect: float = 2.0  # equal aspect unless one range exceeds the other by more than this
    size_2d: tuple[float, float] = (4.2, 3.6)  # inches, one panel
    size_3d: tuple[float, float] = (5.0, 4.0)
    size_line: tuple[float, float] = (5.0, 3.4)
    paper_levels: tuple[float, float, float] = (0.1, 10.0, 0.5)  # vmin, vmax, step of the paper's contours
    min_levels: int = 6  # fewer paper levels than this inside the data: use nice levels instead
    nice_levels: int = 10  # about this many levels when not the paper's
    max_levels: int = 500
    max_bars: int = 40  # the barcode shows at most this many basins (the most persistent)
    elev: float = 35.0
    azim: float = -55.0


STYLE = Style()


E = TypeVar("E", bound=Enum)


def _choice(cls: type[E], value: Any, what: str, extra: str = "") -> E:
    """`value` (a member or its string) as a member of `cls`, or a LandscapeError naming the choices."""
    try:
        return cls(getattr(value, "value", value))
    except ValueError:
        choices = ", ".join(m.value for m in cls)  # type: ignore[attr-defined]
        raise LandscapeError(f"unknown {what} {value!r}; use one of: {choices}{extra}") from None


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

    def __post_init__(self) -> None:
        """Accept what a CLI or a notebook hands over: lists, one string, strings for Enum members."""
        def items(value: Any) -> tuple[Any, ...]:
            return (value,) if isinstance(value, (str, Enum)) else tuple(value)

        kinds = ", ".join(k.value for k in Kind)
        if self.kinds is not None:
            object.__setattr__(self, "kinds", tuple(_choice(Kind, k, "plot kind") for k in items(self.kinds)))
        object.__setattr__(self, "formats", tuple(_choice(Format, f, "format") for f in items(self.formats)))
        object.__setattr__(self, "metric", _choice(Metric, self.metric, "metric"))
        if self.size is not None:
            object.__setattr__(self, "size", tuple(float(v) for v in items(self.size)))
        if self.kinds == ():
            raise LandscapeError(f"no plot kind given; use one of: {kinds}")
        self.validate()

    def validate(self) -> None:
        """Raise LandscapeError naming the first bad value and what to give instead."""
        numbers = {k: getattr(self, k) for k in ("vmin", "vmax", "vlevel", "zmax", "elev", "azim", "threshold")}
        limits = [k for k in ("vmin", "vmax", "zmax") if numbers[k] is not None and numbers[k] <= 0]
        checks = [
            (not self.formats, "no output format given; use png, pdf or svg"),
            *((v is not None and not (np.isfinite(v) or (k == "zmax" and v == np.inf)),
               f"--{k} must be a finite number, got {v}") for k, v in numbers.items()),
            (None not in (self.vmin, self.vmax) and self.vmin >= self.vmax,  # type: ignore[operator]
             f"--vmin {self.vmin} must be smaller than --vmax {self.vmax}"),
            (self.levels is not None and not 1 <= self.levels <= STYLE.max_levels,
             f"--levels must be between 1 and {STYLE.max_levels}, got {self.levels}"),
            (self.vlevel is not None and self.vlevel <= 0, f"--vlevel must be positive, got {self.vlevel}"),
            (None not in (self.levels, self.vlevel), "give --levels (a count) or --vlevel (a step), not both"),
            (self.log and self.metric is not Metric.loss,
             "--log applies to the loss only; drop --log or use --metric loss"),
            (self.log and bool(limits), f"--{limits[0] if limits else ''} must be > 0 with --log (limits are losses)"),
            (self.threshold is not None and self.threshold < 0, f"--threshold must be >= 0, got {self.threshold}"),
            (not 10 <= self.dpi <= 2400, f"--dpi must be between 10 and 2400, got {self.dpi}"),
            (self.size is not None and (len(self.size) != 2 or not all(0 < v <= 100 for v in self.size)),
             f"--size must be two numbers of inches in (0, 100], got {self.size}"),
            (self.cmap is not None and self.cmap not in mpl.colormaps,
             f"unknown colormap {self.cmap!r}; try viridis, magma, cividis or coolwarm"),
        ]
        for bad, message in checks:
            if bad:
                raise LandscapeError(message)

    @property
    def look(self) -> Look:
        return LOOKS[self.metric]


# ---------------------------------------------------------------- values, levels, colours


def _axes(ax: Axes | None, size: tuple[float, float] = STYLE.size_2d, projection: str | None = None) -> Axes:
    return ax if ax is not None else Figure(figsize=size, layout="constrained").add_subplot(projection=projection)


MAX_DRAWN = 1e100  # values beyond ±this are drawn as diverged, like inf: no axis or colour scale spans them


def drawable(v: ArrayLike) -> np.ndarray:
    """Where values can be drawn: finite and within ±MAX_DRAWN."""
    a = np.asarray(v, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.isfinite(a) & (np.abs(a) <= MAX_DRAWN)


def _masked(z: ArrayLike) -> np.ma.MaskedArray:
    a = np.ma.asarray(z, dtype=np.float64)
    return np.ma.masked_where(~drawable(a.filled(np.nan)), a)


def _diverged_words(v: np.ndarray, computed: np.ndarray) -> tuple[int, str]:
    """How many computed points cannot be drawn, and what they hold ("an inf or NaN loss")."""
    bad = computed & ~drawable(v)
    huge = bool((bad & np.isfinite(v)).any())
    return int(bad.sum()), ("an inf, NaN or huge (beyond ±1e100) loss" if huge else "an inf or NaN loss")


def _range(z: np.ma.MaskedArray) -> tuple[float, float]:
    if z.count() == 0:
        raise LandscapeError("no computed points to plot; compute some points first")
    return float(z.min()), float(z.max())


def _spread(lo: float, hi: float) -> tuple[float, float]:
    """An interval of non-zero width around a flat range (a constant surface)."""
    if hi - lo > 1e-12 * max(1.0, abs(lo)):
        return lo, hi
    d = 0.05 * abs(lo) or 0.05
    return lo - d, hi + d


def _scaled(v: float | None, log: bool) -> float | None:
    return None if v is None else (float(np.log10(v)) if log else float(v))


def _levels(z: ArrayLike, o: PlotOptions = PlotOptions()) -> np.ndarray:
    """Contour levels for the (already log10-scaled if o.log) values z; see PlotOptions."""
    dlo, dhi = _spread(*_range(_masked(z)))
    lo = _scaled(o.vmin, o.log) if o.vmin is not None else dlo
    hi = _scaled(o.vmax, o.log) if o.vmax is not None else dhi
    if o.levels is not None:
        return np.linspace(lo, hi, o.levels + 2)[1:-1]
    if o.log and o.vlevel is None:
        return _log_levels(max(lo, dlo), min(hi, dhi))
    plain = o.metric is Metric.loss and not o.log
    step = o.vlevel or (STYLE.paper_levels[2] if plain else None)
    if step is not None:
        anchor = lo if o.vmin is not None else (STYLE.paper_levels[0] if plain else 0.0)
        top = min(hi, STYLE.paper_levels[1]) if plain and o.vmax is None else hi
        k0, k1 = np.ceil((max(lo, dlo) - anchor) / step - 1e-9), np.floor((min(top, dhi) - anchor) / step + 1e-9)
        if k1 - k0 > STYLE.max_levels and o.vlevel is not None:
            raise LandscapeError(f"--vlevel {step:g} gives {k1 - k0:.3g} levels over the data (at most "
                                 f"{STYLE.max_levels}); use a larger step")
        levels = (np.round(anchor + step * np.arange(k0, k1 + 1), 12) if k0 <= k1 <= k0 + STYLE.max_levels
                  else np.empty(0))  # none, or far too many of the paper's: nice levels below
        if (o.vlevel is not None and len(levels)) or len(levels) >= STYLE.min_levels:
            return levels
    levels = MaxNLocator(STYLE.nice_levels).tick_values(lo, hi)
    return levels[(levels >= lo - 1e-12 * abs(lo)) & (levels <= hi + 1e-12 * abs(hi))]


def _log_levels(lo: float, hi: float) -> np.ndarray:
    """Levels (log10 units) at round losses, 1 x 10^k, then 1 and 3, 1-2-5, ... until there are
    at least STYLE.min_levels within [lo, hi]; round linear values for a range under a decade."""
    exps = np.arange(math.floor(lo) - 1, math.ceil(hi) + 2)
    for mantissas in ((1.0,), (1.0, 3.0), (1.0, 2.0, 5.0), (1.0, 1.5, 2.0, 3.0, 5.0, 7.0)):
        levels = np.sort(np.log10(np.outer(10.0 ** exps, mantissas).ravel()))
        levels = levels[(levels >= lo - 1e-9) & (levels <= hi + 1e-9)]
        if len(levels) >= STYLE.min_levels:
            return np.round(levels, 12)
    linear = MaxNLocator(STYLE.nice_levels).tick_values(10.0 ** lo, 10.0 ** hi)
    linear = linear[(linear > 0) & (linear >= 10.0 ** lo * (1 - 1e-9)) & (linear <= 10.0 ** hi * (1 + 1e-9))]
    return np.log10(linear)


def _extend(levels: np.ndarray, lo: float, hi: float) -> str:
    below, above = lo < levels[0], hi > levels[-1]
    return "both" if below and above else "min" if below else "max" if above else "neither"


def _fmt_value(v: float) -> str:
    """A value as people write it: 0.1, 4.1, 0.0021, 26.8, 1e+06 (at most four significant digits)."""
    if v == 0 or not np.isfinite(v):
        return f"{v:g}"
    if 1e-4 <= abs(v) < 1e5:
        return np.format_float_positional(v, precision=4, unique=True, fractional=False, trim="-")
    return f"{v:.3g}"


def _value_formatter(log: bool) -> Callable[[float], str]:
    """Labels in the metric's units: with `log`, positions are log10 of the loss."""
    return (lambda v: _fmt_value(10.0 ** v)) if log else _fmt_value


def _log_ticks(lo: float, hi: float) -> np.ndarray:
    """Tick positions (log10 units) at round losses 1, 2, 5 x 10^k (or 1, 3, or 1 to 9) within [lo, hi]."""
    exps = np.arange(math.floor(lo) - 1, math.ceil(hi) + 2)
    best = np.array([])
    for mantissas in ((1.0,), (1.0, 3.0), (1.0, 2.0, 5.0), tuple(range(1, 10))):
        ticks = np.log10(np.outer(10.0 ** exps, mantissas).ravel())
        ticks = np.sort(ticks[(ticks >= lo - 1e-9) & (ticks <= hi + 1e-9)])
        best = ticks
        if len(ticks) >= 3:
            break
    return best if len(best) >= 2 else MaxNLocator(4).tick_values(lo, hi)


def _loss_axis(axis: Any, lo: float, hi: float) -> None:
    """Put an axis in log10 units into loss units: ticks at round losses, labelled as losses."""
    axis.set_major_locator(FixedLocator(_log_ticks(lo, hi)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: _fmt_value(10.0 ** v)))
    axis.set_minor_locator(FixedLocator([]))


def _luminance(rgba: Sequence[float]) -> float:
    r, g, b = rgba[:3]
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _darkened(rgba: Sequence[float], most: float) -> tuple[float, float, float, float]:
    """The colour scaled toward black until its luminance is at most `most` (legible on white)."""
    lum = _luminance(rgba)
    k = min(1.0, most / lum) if lum > 0 else 1.0
    return (rgba[0] * k, rgba[1] * k, rgba[2] * k, rgba[3] if len(rgba) > 3 else 1.0)


def _line_cmap(cmap: Colormap) -> Colormap:
    """The colormap with its light end darkened: contour lines on white stay visible."""
    rgba = cmap(np.linspace(0, 1, 256))
    out = ListedColormap([_darkened(c, STYLE.line_luminance) for c in rgba], name=f"{cmap.name}_lines")
    return out


def _metric_label(name: str, log: bool = False) -> str:
    """"train_loss" -> "train loss", "test_acc" -> "test accuracy (%)", "eig_min" -> "smallest Hessian eigenvalue"."""
    return store.metric_label(name) + (" (log scale)" if log else "")


@dataclass(frozen=True)
class _Scale:
    """One colour scale shared by every panel of a figure. Values (levels, lo, hi, norm) are log10
    of the loss with `log`; everything shown to the reader is in the metric's units."""

    label: str
    levels: np.ndarray  # contour levels, also the heatmap's colour bands
    norm: Normalize
    cmap: Colormap
    lo: float
    hi: float
    extend: str
    best: str | None
    log: bool

    @property
    def fmt(self) -> Callable[[float], str]:
        return _value_formatter(self.log)


def _scale(everything: np.ma.MaskedArray, name: str, o: PlotOptions) -> _Scale:
    lo, hi = _range(everything)
    levels = _levels(everything, o)
    cmap = mpl.colormaps[o.cmap or o.look.cmap]
    extend = _extend(levels, lo, hi) if len(levels) else "neither"
    vmin, vmax = _scaled(o.vmin, o.log), _scaled(o.vmax, o.log)
    if o.look.diverging:
        half = max(abs(v) for v in (vmin if vmin is not None else lo, vmax if vmax is not None else hi))
        norm: Normalize = CenteredNorm(0.0, half or 1.0)
    elif len(levels) >= 2 and o.vmin is None and o.vmax is None and len(levels) < cmap.N:
        norm = BoundaryNorm(levels, cmap.N, extend=extend)  # the heatmap's bands are the contour levels
    else:
        low = vmin if vmin is not None else float(levels[0]) if len(levels) else lo
        high = vmax if vmax is not None else float(levels[-1]) if len(levels) else hi
        norm = Normalize(*_spread(low, high))
    return _Scale(_metric_label(name, o.log), levels, norm, cmap, lo, hi, extend, o.look.best, o.log)


def _cap(z: np.ma.MaskedArray, zmax: float | None, log: bool) -> float:
    """The 3-D clip height in z's units: zmax (in the metric's units), or automatic (see PlotOptions)."""
    hi = float(z.max())
    return min(hi, _auto_zmax(z) if zmax is None else float(_scaled(zmax, log)))  # type: ignore[arg-type]


def _auto_zmax(z: np.ma.MaskedArray) -> float:
    """The default clip height: q95 + (q95 - q5), or the maximum if that is lower."""
    q5, q95 = np.percentile(z.compressed(), [5, 95])
    return float(min(z.max(), q95 + (q95 - q5)))


# ---------------------------------------------------------------- placing labels without collisions
# Labels are placed in display pixels once the figure's layout is settled: contour values on
# their lines, track names beside their points (with a leader line when moved away), each where
# it covers no other label, marker, path or (for contour labels) other contour line, and inside
# the axes. Whatever is placed later avoids everything placed before.


def _root(artist: Any) -> Figure:
    try:
        return artist.get_figure(root=True)
    except TypeError:  # matplotlib < 3.10: .figure may be a SubFigure, whose .figure is the root
        return artist.figure.figure


def _renderer(fig: Figure) -> Any:
    """Settle the layout (constrained layout, equal aspect) and return the renderer that measures text."""
    fig.draw_without_rendering()
    return fig._get_renderer()  # the renderer matplotlib's own clabel measures with


def _text_size(text: str, fontsize: float, fig: Figure, renderer: Any) -> tuple[float, float]:
    bb = Text(0, 0, text, fontproperties=FontProperties(size=fontsize), figure=fig).get_window_extent(renderer)
    return bb.width, bb.height


def _polyline(points: np.ndarray, step: float) -> np.ndarray:
    """Points every `step` pixels along a polyline (k, 2); segments with a non-finite end are gaps."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(p) < 2:
        return p[np.isfinite(p).all(axis=1)]
    a, b = p[:-1], p[1:]
    ok = np.isfinite(a).all(axis=1) & np.isfinite(b).all(axis=1)
    a, b = a[ok], b[ok]
    n = np.maximum(1, np.ceil(np.hypot(*(b - a).T) / step)).astype(int)
    t = np.concatenate([np.arange(k) / k for k in n] + [np.zeros(0)])
    starts = np.repeat(a, n, axis=0)
    return np.concatenate([starts + t[:, None] * np.repeat(b - a, n, axis=0), b])


def _overlaps(box: np.ndarray, boxes: Sequence[np.ndarray]) -> bool:
    if not len(boxes):
        return False
    b = np.asarray(boxes)
    return bool(np.any((b[:, 0] < box[2]) & (b[:, 2] > box[0]) & (b[:, 1] < box[3]) & (b[:, 3] > box[1])))


def _count(box: np.ndarray, boxes: np.ndarray) -> int:
    """How many of `boxes` (k, 4) overlap `box`."""
    b = boxes
    return int(np.count_nonzero((b[:, 0] < box[2]) & (b[:, 2] > box[0]) & (b[:, 1] < box[3]) & (b[:, 3] > box[1])))


def _within(box: np.ndarray, frame: np.ndarray) -> bool:
    return bool(box[0] >= frame[0] and box[1] >= frame[1] and box[2] <= frame[2] and box[3] <= frame[3])


def _in_box(points: np.ndarray, box: np.ndarray) -> np.ndarray:
    return (points[:, 0] > box[0]) & (points[:, 0] < box[2]) & (points[:, 1] > box[1]) & (points[:, 1] < box[3])


def _in_rect(points: np.ndarray, center: np.ndarray, hw: float, hh: float, angle: float) -> bool:
    """Whether any point lies in the rectangle of half sizes (hw, hh) at `center`, rotated by `angle` (rad)."""
    if not len(points):
        return False
    d = points - center
    c, s = math.cos(angle), math.sin(angle)
    return bool(np.any((np.abs(d[:, 0] * c + d[:, 1] * s) < hw) & (np.abs(d[:, 1] * c - d[:, 0] * s) < hh)))


@dataclass
class _Space:
    """What is taken in one axes, in display pixels."""

    frame: np.ndarray  # (4,) x0, y0, x1, y1: where labels may go
    boxes: list[np.ndarray]  # texts and markers
    points: np.ndarray  # (k, 2) samples of drawn paths (tracks, leader lines, vertical marks)

    def free(self, box: np.ndarray) -> bool:
        return _within(box, self.frame) and not _overlaps(box, self.boxes)

    def add_points(self, points: np.ndarray) -> None:
        self.points = np.concatenate([self.points, points.reshape(-1, 2)])


def _taken(ax: Axes, renderer: Any, pad: float) -> _Space:
    """Texts, markers and lines already in `ax` (contour lines are handled by `label_contours`)."""
    px = _root(ax).dpi / 72
    frame = np.array(ax.bbox.extents) + np.array([pad, pad, -pad, -pad])
    for t in ax.texts:
        if isinstance(t, Annotation):
            t.update_positions(renderer)  # an annotation is positioned when drawn; this one may not be yet
    boxes = [np.array(Text.get_window_extent(t, renderer).extents)  # text only: a leader line is sampled below
             for t in ax.texts if t.get_visible() and t.get_text()]
    points = [np.zeros((0, 2))]
    for ln in ax.lines:
        if not ln.get_visible():
            continue
        xy = ln.get_transform().transform(np.asarray(ln.get_xydata(), dtype=np.float64))
        if ln.get_marker() not in (None, "", " ", "None", "none"):
            r = ln.get_markersize() * px / 2 + pad
            boxes += [np.array([a - r, b - r, a + r, b + r]) for a, b in xy if np.isfinite(a) and np.isfinite(b)]
        if ln.get_linestyle() not in ("None", "", " ", "none") and ln.get_linewidth() > 0:
            points.append(_polyline(xy, 2 * px))
    for t in ax.texts:
        if isinstance(t, Annotation) and t.arrow_patch is not None and t.xycoords == "data":
            end = np.array(Text.get_window_extent(t, renderer).extents)
            points.append(_polyline(np.array([ax.transData.transform(t.xy), [(end[0] + end[2]) / 2, (end[1] + end[3]) / 2]]),
                                    2 * px))
    return _Space(frame, boxes, np.concatenate(points))


def _components(path: MplPath) -> list[tuple[np.ndarray, bool]]:
    """The connected pieces of a contour path: (vertices (m, 2), closed)."""
    verts, codes = path.vertices, path.codes
    if codes is None:
        return [(verts, False)] if len(verts) > 1 else []
    starts = np.flatnonzero(codes == MplPath.MOVETO).tolist() + [len(codes)]
    out = []
    for a, b in zip(starts[:-1], starts[1:]):
        closed = codes[b - 1] == MplPath.CLOSEPOLY
        v = verts[a:b]
        if closed:
            v = np.concatenate([v[:-1], v[:1]])  # the CLOSEPOLY vertex is a placeholder
        if len(v) > 1:
            out.append((v, bool(closed)))
    return out


@dataclass
class _Line:
    """One connected contour line in display pixels: its vertices and their arc lengths."""

    level: int
    cum: np.ndarray  # (m,) arc length at each vertex
    xy: np.ndarray  # (m, 2) vertices (a closed line repeats its first vertex at the end)
    closed: bool

    @classmethod
    def of(cls, level: int, display: np.ndarray, closed: bool) -> _Line:
        d = display[np.isfinite(display).all(axis=1)]
        cum = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(d, axis=0).T))]) if len(d) else np.zeros(1)
        return cls(level, cum, d if len(d) else np.zeros((1, 2)), closed)

    @property
    def length(self) -> float:
        return float(self.cum[-1])

    def at(self, s: np.ndarray | float) -> np.ndarray:
        """Points at arc lengths `s` (any shape); wraps around a closed line."""
        s = np.asarray(s, dtype=np.float64)
        if self.closed:
            s = np.mod(s, self.length)
        return np.stack([np.interp(s, self.cum, self.xy[:, 0]), np.interp(s, self.cum, self.xy[:, 1])], axis=-1)


@dataclass(frozen=True)
class _Spot:
    """A feasible place for one contour label."""

    line: int
    center: np.ndarray
    box: np.ndarray
    score: float


class _Points:
    """Points sorted by x, for quick "which points lie in this box" queries."""

    def __init__(self, points: np.ndarray, owner: np.ndarray, arc: np.ndarray):
        order = np.argsort(points[:, 0], kind="stable")
        self.points, self.owner, self.arc = points[order], owner[order], arc[order]

    def within(self, box: np.ndarray) -> np.ndarray:
        """Indices of the points inside box (x0, y0, x1, y1)."""
        a, b = np.searchsorted(self.points[:, 0], [box[0], box[2]])
        y = self.points[a:b, 1]
        return a + np.flatnonzero((y > box[1]) & (y < box[3]))


def _labelled(levels: np.ndarray) -> list[float]:
    """Which levels get a label: all of a few, every other of many, about twelve of very many."""
    n = len(levels)
    k = 1 if n <= 10 else 2 if n <= 24 else math.ceil(n / 12)
    return [float(v) for v in levels[::k]]


def label_contours(cs: QuadContourSet, levels: Sequence[float] | None = None,
                   fmt: Callable[[float], str] | None = None, fontsize: float | None = None,
                   renderer: Any = None) -> list[Text]:
    """Label the lines of `cs` with their values where the labels collide with nothing: not with
    each other, with other contour lines, with markers, paths and texts already in the axes, and
    not cut by the axes' edges. A label sits on a straight stretch of its line, which is broken
    under it. Call it when the figure's layout is final (`draw` does): positions are computed for
    the current size. `levels`: which to label (default: all of up to ten, else every other one);
    `fmt`: value -> text (default: up to four significant digits). Returns the labels added; a level
    whose lines have no free stretch stays unlabelled rather than crowd the others. `renderer`:
    one from a draw of the final layout (by default the figure is drawn to settle it)."""
    ax = cs.axes
    fig = _root(ax)
    renderer = renderer or _renderer(fig)
    px = fig.dpi / 72
    size = fontsize or STYLE.label_size
    fmt = fmt or _fmt_value
    gap = 1.5 * px
    space = _taken(ax, renderer, gap)
    all_levels = [float(v) for v in cs.levels]
    wanted = _labelled(np.asarray(all_levels)) if levels is None else [v for v in all_levels if v in set(levels)]
    lines = [_Line.of(k, cs.get_transform().transform(v), closed)
             for k, path in enumerate(cs.get_paths()) for v, closed in _components(path)]
    lines = [ln for ln in lines if ln.length > 0]
    if not lines or not wanted:
        return []
    samples = [(ln.at(np.arange(0.0, ln.length, px)), i) for i, ln in enumerate(lines)]  # every pixel
    every = _Points(np.concatenate([p for p, _ in samples]),
                    np.concatenate([np.full(len(p), i) for p, i in samples]),
                    np.concatenate([np.arange(len(p)) * px for p, _ in samples]))
    marks = _Points(space.points, np.zeros(len(space.points), dtype=int), np.zeros(len(space.points)))
    fw, fh = space.frame[2] - space.frame[0], space.frame[3] - space.frame[1]
    spread = 0.3 * min(fw, fh)
    placed: list[tuple[int, np.ndarray]] = []  # (level index, centre)
    boxes = list(space.boxes)

    def spots(i: int, w: float, h: float, away_from: list[np.ndarray], keep_off: float) -> list[_Spot]:
        """Where on line i a label of size (w, h) fits: a straight stretch, inside the frame, on
        nothing taken, crossed by no other line; scored (lower is better)."""
        ln = lines[i]
        if ln.length < w + 2 * gap:
            return []
        step = max(2 * px, w / 5)
        sc = np.arange(0.0, ln.length, step) if ln.closed else np.arange(w / 2 + gap, ln.length - w / 2 - gap, step)
        if not len(sc):
            return []
        window = ln.at(sc[:, None] + np.linspace(-w / 2, w / 2, 9)[None, :])  # (k, 9, 2)
        a, chord = window[:, 0], window[:, -1] - window[:, 0]
        cl = np.maximum(np.hypot(*chord.T), 1e-9)
        bend = np.max(np.abs(chord[:, None, 0] * (window[:, :, 1] - a[:, None, 1])
                             - chord[:, None, 1] * (window[:, :, 0] - a[:, None, 0])), axis=1) / cl
        angle = (np.arctan2(chord[:, 1], chord[:, 0]) + np.pi / 2) % np.pi - np.pi / 2  # upright, as clabel
        c = ln.at(sc)
        hw, hh = w / 2 + gap, h / 2 + gap / 2
        ex = np.abs(np.cos(angle)) * hw + np.abs(np.sin(angle)) * hh
        ey = np.abs(np.sin(angle)) * hw + np.abs(np.cos(angle)) * hh
        box = np.column_stack([c[:, 0] - ex, c[:, 1] - ey, c[:, 0] + ex, c[:, 1] + ey])
        f = space.frame
        ok = ((cl >= 0.8 * w) & (bend <= 0.3 * h) & (box[:, 0] >= f[0]) & (box[:, 1] >= f[1])
              & (box[:, 2] <= f[2]) & (box[:, 3] <= f[3]))
        if boxes:
            b = np.asarray(boxes)
            ok &= ~np.any((b[None, :, 0] < box[:, None, 2]) & (b[None, :, 2] > box[:, None, 0])
                          & (b[None, :, 1] < box[:, None, 3]) & (b[None, :, 3] > box[:, None, 1]), axis=1)
        for q in away_from:
            ok &= np.hypot(*(c - q).T) >= keep_off
        found = []
        for k in np.flatnonzero(ok):
            near = every.within(box[k] + np.array([-2 * h, -2 * h, 2 * h, 2 * h]))
            d = np.abs(every.arc[near] - sc[k])
            if ln.closed:
                d = np.minimum(d, ln.length - d)
            other = every.points[near[(every.owner[near] != i) | (d > w / 2 + 2 * gap)]]
            if _in_rect(other, c[k], w / 2 + gap / 2, h / 2, angle[k]):
                continue
            if _in_rect(marks.points[marks.within(box[k])], c[k], hw, hh, angle[k]):
                continue
            closest = float(np.min(np.hypot(*(other - c[k]).T))) if len(other) else 4 * h
            edge = min(box[k, 0] - f[0], box[k, 1] - f[1], f[2] - box[k, 2], f[3] - box[k, 3])
            nearest = min((float(np.hypot(*(c[k] - q))) for _, q in placed), default=spread)
            score = (2 * bend[k] / h + max(0.0, 1 - edge / (3 * h)) + max(0.0, 1 - nearest / spread)
                     + 0.5 * max(0.0, 1 - closest / (2 * h)))
            found.append(_Spot(i, c[k], box[k], score))
        return found

    chosen: list[tuple[float, _Spot]] = []

    def take(level: float, candidates: list[_Spot]) -> None:
        if candidates:
            best = min(candidates, key=lambda s: s.score)
            chosen.append((level, best))
            boxes.append(best.box)
            placed.append((all_levels.index(level), best.center))

    sizes = {v: _text_size(fmt(v), size, fig, renderer) for v in wanted}
    for v in wanted:  # one label per labelled level first
        k = all_levels.index(v)
        take(v, [s for i, ln in enumerate(lines) if ln.level == k for s in spots(i, *sizes[v], [], 0.0)])
    for v in wanted:  # then one on each further long piece of its line, away from its other labels
        k = all_levels.index(v)
        for i, ln in enumerate(lines):
            mine = [c for lev, c in placed if lev == k]
            if ln.level == k and ln.length > 3 * sizes[v][0] and not any(s.line == i for _, s in chosen):
                take(v, spots(i, *sizes[v], mine, 0.4 * min(fw, fh)))
    added = []
    for v, spot in chosen:
        ink = _darkened(cs.to_rgba(v), STYLE.ink_luminance)
        data = ax.transData.inverted().transform(spot.center)
        (text,) = cs.clabel([v], manual=[tuple(data)], inline=True, inline_spacing=gap, fmt={v: fmt(v)},
                            fontsize=size, colors=[ink])[-1:]
        text.set_gid("contour-label")
        added.append(text)
    return added


@dataclass(frozen=True)
class PointLabel:
    """A text to put beside a point of the plane (a track's start, an epoch, a model's name)."""

    text: str
    xy: tuple[float, float]  # data coordinates
    color: Any = "black"
    radius: float = 2.5  # radius of the point's marker, in points


_ANGLES = np.deg2rad(np.arange(0, 360, 22.5))
_DIRECTIONS = np.column_stack([np.cos(_ANGLES), np.sin(_ANGLES)])  # 16 ways to go from a point
_REACH = (0, 4, 8, 13, 19, 27, 37, 50, 65, 85)  # points beyond the marker; beyond 0 a leader line


def place_labels(ax: Axes, labels: Sequence[PointLabel], renderer: Any = None) -> list[Annotation]:
    """Put each label beside its point where it covers no other text, marker or drawn path and stays
    inside the axes: close to the point when there is room, further out with a leader line when
    not. Labels are placed in order (put the important ones first); returns the annotations.
    `renderer`: as for `label_contours`."""
    if not labels:
        return []
    fig = _root(ax)
    renderer = renderer or _renderer(fig)
    px = fig.dpi / 72
    gap = 1.5 * px
    space = _taken(ax, renderer, gap)
    anchors = ax.transData.transform(np.array([lb.xy for lb in labels], dtype=np.float64))
    units = _DIRECTIONS
    out = []
    for lb, p in zip(labels, anchors):
        w, h = _text_size(lb.text, STYLE.label_size, fig, renderer)
        r0 = (lb.radius + 1.5) * px
        near = anchors[(np.hypot(*(anchors - p).T) < 40 * px)]
        outward = p - near.mean(axis=0)
        outward = outward / np.hypot(*outward) if np.hypot(*outward) > px else None
        taken = np.asarray(space.boxes).reshape(-1, 4)
        options: list[tuple[int, float, np.ndarray, np.ndarray, bool]] = []  # (clashes, score, centre, box, leader)
        for extra in _REACH:
            r = r0 + extra * px
            for u in units:
                side = np.where(np.abs(u) > 0.3, np.sign(u), 0.0)  # which edge of the box faces the point
                c = p + u * r + side * np.array([w / 2, h / 2])
                box = np.array([c[0] - w / 2 - gap / 2, c[1] - h / 2, c[0] + w / 2 + gap / 2, c[1] + h / 2])
                if not _within(box, space.frame):
                    continue
                leader = _polyline(np.array([p + u * (r0 + gap), p + u * r]), 2 * px) if extra else np.zeros((0, 2))
                clashes = (_count(box, taken) + int(_in_box(space.points, box).any())
                           + sum(_count(np.array([q[0], q[1], q[0], q[1]]), taken) for q in leader[::3]))
                turn = 0.0 if outward is None else (1 - float(u @ outward)) / 2
                options.append((clashes, extra + 8 * turn, c, box, bool(extra)))
        if options:
            _, _, c, box, leader = min(options, key=lambda o: (o[0], o[1]))
        else:  # no room at all inside the axes: beside the point, clipped
            c = p + np.array([r0 + w / 2, 0.0])
            box, leader = np.array([p[0] + r0, p[1] - h / 2, p[0] + r0 + w, p[1] + h / 2]), False
        kw: dict[str, Any] = dict(xytext=tuple((c - p) / px), textcoords="offset points", ha="center", va="center",
                                  fontsize=STYLE.label_size, color=lb.color, zorder=6, gid="track-label",
                                  path_effects=[withStroke(linewidth=2.5, foreground="white")])
        if leader:
            kw["arrowprops"] = dict(arrowstyle="-", color=lb.color, lw=0.7, shrinkA=1, shrinkB=lb.radius + 1,
                                    path_effects=[withStroke(linewidth=2.0, foreground="white")])
            space.add_points(_polyline(np.array([p, c]), 2 * px))
        out.append(ax.annotate(lb.text, lb.xy, **kw))
        space.boxes.append(box)
    return out


# ---------------------------------------------------------------- drawing functions (arrays in)


_POINT: dict[str, Any] = dict(mec="white", mew=0.5, ls="none", zorder=5)


def _edges(v: ArrayLike, cells: bool) -> np.ndarray:
    """(n + 1,) boundaries of the cells around n sorted coordinates; `cells` False: the outer ones
    are the first and last coordinate (contours end there), True: half a step beyond (heatmap)."""
    v = np.asarray(v, dtype=np.float64)
    if len(v) < 2:
        return np.array([v[0] - 0.5, v[0] + 0.5]) if cells else np.array([v[0], v[0]])
    mid = (v[1:] + v[:-1]) / 2
    first, last = (v[0] - (v[1] - v[0]) / 2, v[-1] + (v[-1] - v[-2]) / 2) if cells else (v[0], v[-1])
    return np.concatenate([[first], mid, [last]])


def to_scale(x: ArrayLike, y: ArrayLike) -> bool:
    """Whether a plane is drawn with equal aspect: unless one range is more than STYLE.max_aspect
    times the other (a thin strip shows nothing; the figure then says "axes not to scale")."""
    rx, ry = float(np.ptp(np.asarray(x, dtype=np.float64))), float(np.ptp(np.asarray(y, dtype=np.float64)))
    if rx <= 0 or ry <= 0:
        return True
    return 1 / STYLE.max_aspect <= rx / ry <= STYLE.max_aspect


def _frame(ax: Axes, x: ArrayLike, y: ArrayLike, z: np.ma.MaskedArray, best: str | None, cells: bool = False,
           equal: bool | None = None) -> None:
    """The whole grid's extent (computed or not), equal aspect where sensible, star at the best
    computed point, dot at (0, 0)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    xe, ye = _edges(x, cells), _edges(y, cells)
    ax.set_xlim(min(xe[0], xe[-1]), max(xe[0], xe[-1]))
    ax.set_ylim(min(ye[0], ye[-1]), max(ye[0], ye[-1]))
    ax.set_aspect("equal" if (to_scale(x, y) if equal is None else equal) else "auto")
    ax.xaxis.set_major_locator(MaxNLocator(5))
    ax.yaxis.set_major_locator(MaxNLocator(5))
    if best is not None:
        target = z.min() if best == "min" else z.max()
        ties = np.argwhere(~np.ma.getmaskarray(z) & (z.filled(np.nan) == target))  # (k, 2) of [j, i]
        j, i = min(ties, key=lambda ji: x[ji[1]] ** 2 + y[ji[0]] ** 2)  # among equals, the one nearest (0, 0)
        ax.plot(x[i], y[j], marker="*", ms=9, color=STYLE.best_color, gid="best", **_POINT)
    if x.min() <= 0 <= x.max() and y.min() <= 0 <= y.max():
        ax.plot(0, 0, marker="o", ms=3.5, color="black", gid="origin", **_POINT)


def mark_missing(ax: Axes, x: ArrayLike, y: ArrayLike, computed: ArrayLike, finite: ArrayLike | None = None,
                 cells: bool = False) -> list[PolyCollection]:
    """Hatch the cells of points not computed yet (grey) and of computed points whose value is
    inf or NaN (red), so that a blank is never read as data. `cells`: whole heatmap cells, else
    cut at the grid's outer coordinates. Returns the hatched collections (gid "missing", "diverged")."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    computed = np.asarray(computed, dtype=bool)
    finite = np.ones_like(computed) if finite is None else np.asarray(finite, dtype=bool)
    xe, ye = _edges(x, cells), _edges(y, cells)
    out = []
    looks = ((~computed, STYLE.missing_face, STYLE.missing_hatch, STYLE.missing_ink, "missing"),
             (computed & ~finite, STYLE.diverged_face, STYLE.diverged_hatch, STYLE.diverged_ink, "diverged"))
    for mask, face, hatch, ink, gid in looks:
        rects = []
        for j, row in enumerate(mask):
            edges = np.flatnonzero(np.diff(np.concatenate([[0], row.astype(np.int8), [0]])))
            for i0, i1 in zip(edges[::2], edges[1::2]):  # runs [i0, i1) of marked cells
                rects.append([(xe[i0], ye[j]), (xe[i1], ye[j]), (xe[i1], ye[j + 1]), (xe[i0], ye[j + 1])])
        if rects:
            with mpl.rc_context({"hatch.color": ink, "hatch.linewidth": 0.6}):
                coll = PolyCollection(rects, facecolor=face, edgecolor="none", linewidth=0, hatch=hatch, zorder=1.5,
                                      gid=gid)
            ax.add_collection(coll, autolim=False)
            out.append(coll)
    return out


def contour(x: ArrayLike, y: ArrayLike, z: ArrayLike, ax: Axes | None = None, levels: ArrayLike | None = None,
            norm: Normalize | None = None, cmap: str | Colormap | None = None, best: str | None = "min",
            log: bool = False, labels: bool = True) -> QuadContourSet:
    """Contour lines labelled with their values (the paper's 2-D figures); `best`: "min", "max" or None.
    With `log`, z is log10 of the loss and the labels show the loss itself. Lines are drawn with
    the colormap darkened at its light end (legible on white). `labels` False: none yet (call
    `label_contours` once the figure is complete, so that they avoid what is added later)."""
    ax, z = _axes(ax), _masked(z)
    levels = _levels(z) if levels is None else np.asarray(levels, dtype=np.float64)
    cm = mpl.colormaps[cmap or STYLE.cmap] if not isinstance(cmap, Colormap) else cmap
    norm = norm or Normalize(*_spread(float(levels[0]), float(levels[-1])))
    cs = ax.contour(x, y, z, levels=levels, norm=norm, cmap=_line_cmap(cm), linewidths=STYLE.line_width)
    _frame(ax, x, y, z, best)
    if labels:
        label_contours(cs, fmt=_value_formatter(log))
    return cs


def filled(x: ArrayLike, y: ArrayLike, z: ArrayLike, ax: Axes | None = None, levels: ArrayLike | None = None,
           norm: Normalize | None = None, cmap: str | Colormap | None = None, best: str | None = "min",
           extend: str | None = None) -> QuadContourSet:
    """Filled contours; values beyond the levels get the end colors (`extend`, by default from z)."""
    ax, z = _axes(ax), _masked(z)
    lo, hi = _range(z)
    levels = np.asarray(_levels(z) if levels is None else levels, dtype=np.float64)
    if len(levels) < 2:  # contourf needs two boundaries
        levels = np.unique(np.concatenate([levels, _spread(lo, hi)]))
    cs = ax.contourf(x, y, z, levels=levels, norm=norm, cmap=cmap or STYLE.cmap,
                     extend=extend or _extend(levels, lo, hi))
    _frame(ax, x, y, z, best)
    return cs


def heatmap(x: ArrayLike, y: ArrayLike, z: ArrayLike, ax: Axes | None = None, norm: Normalize | None = None,
            cmap: str | Colormap | None = None, best: str | None = "min", levels: ArrayLike | None = None) -> QuadMesh:
    """One colored cell per grid point (no interpolation); returns the QuadMesh. By default the
    colour bands are the contour levels (`levels`, default as for `contour`), so the basin is not
    one colour next to a single high value."""
    ax, z = _axes(ax), _masked(z)
    if norm is None:
        lo, hi = _range(z)
        levels = _levels(z) if levels is None else np.asarray(levels, dtype=np.float64)
        cm = mpl.colormaps[cmap or STYLE.cmap] if not isinstance(cmap, Colormap) else cmap
        norm = (BoundaryNorm(levels, cm.N, extend=_extend(levels, lo, hi)) if 2 <= len(levels) < cm.N
                else Normalize(*_spread(lo, hi)))
    mesh = ax.pcolormesh(x, y, z, shading="nearest", norm=norm, cmap=cmap or STYLE.cmap)
    _frame(ax, x, y, z, best, cells=True)
    return mesh


def _clipped_mesh(x: np.ndarray, y: np.ndarray, z: np.ndarray, cap: float) -> tuple[np.ndarray, np.ndarray]:
    """The grid surface cut by the plane z = cap: parts above it are left out, so the cut is a clean
    edge at exactly the cap (no flat top, no saw teeth along a row of cells). Cells below the cap
    are quadrilaterals; cells the plane cuts are split into two triangles and each is clipped.
    Cells touching a NaN are left out (holes). Returns (k, 4, 3) polygons (a triangle repeats its
    last vertex: matplotlib mishandles polygons of mixed lengths) and their mean heights."""
    X, Y = np.meshgrid(x, y)
    P = np.stack([X, Y, z], axis=-1)  # (ny, nx, 3)
    cells = np.stack([P[:-1, :-1], P[:-1, 1:], P[1:, 1:], P[1:, :-1]], axis=-2).reshape(-1, 4, 3)  # corners
    cells = cells[np.isfinite(cells[:, :, 2]).all(axis=1)]
    whole = (cells[:, :, 2] <= cap).all(axis=1)
    pieces = [cells[whole]]  # cells below the cap stay quadrilaterals, as in plot_surface
    cut = cells[~whole]
    tri = np.concatenate([cut[:, [0, 1, 2]], cut[:, [0, 2, 3]]])  # (t, 3 vertices, xyz)
    above = tri[:, :, 2] > cap
    n = above.sum(axis=1)
    pieces.append(tri[n == 0][:, [0, 1, 2, 2]])
    for count, odd in ((1, True), (2, False)):  # rotate so the odd vertex out is first
        t, up = tri[n == count], above[n == count]
        if not len(t):
            continue
        first = np.argmax(up == odd, axis=1)
        t = t[np.arange(len(t))[:, None], (first[:, None] + np.arange(3)) % 3]
        v0, v1, v2 = t[:, 0], t[:, 1], t[:, 2]
        p01 = v0 + ((cap - v0[:, 2]) / (v1[:, 2] - v0[:, 2]))[:, None] * (v1 - v0)
        p02 = v0 + ((cap - v0[:, 2]) / (v2[:, 2] - v0[:, 2]))[:, None] * (v2 - v0)
        pieces.append(np.stack([p01, v1, v2, p02] if odd else [v0, p01, p02, p02], axis=1))
    polys = np.concatenate(pieces)
    return polys, polys[:, :, 2].mean(axis=1)


def surface3d(x: ArrayLike, y: ArrayLike, z: ArrayLike, ax: Axes | None = None, zmax: float | None = None,
              elev: float | None = None, azim: float | None = None, cmap: str | Colormap | None = None,
              norm: Normalize | None = None) -> Poly3DCollection:
    """3-D surface colored by height, cut at `zmax` (None: automatic, see PlotOptions) by a plane:
    the parts above are left out with a clean edge; viewed from `elev`/`azim` degrees; masked
    points become holes. `ax` must be 3-D. Returns the collection (a ScalarMappable for a colorbar)."""
    ax, z = _axes(ax, STYLE.size_3d, "3d"), _masked(z)
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    lo, _ = _range(z)
    cap = _cap(z, zmax, False)
    norm = norm or Normalize(*_spread(min(lo, cap), cap))
    polys, heights = _clipped_mesh(x, y, z.filled(np.nan), cap)
    cm = mpl.colormaps[cmap or STYLE.cmap] if not isinstance(cmap, Colormap) else cmap
    # edges in the face colour hide the seams between the triangles
    surf = Poly3DCollection(polys, linewidth=0.25, edgecolors=cm(norm(heights)), antialiased=True, gid="surface")
    surf.set_array(heights)
    surf.set_cmap(cm)
    surf.set_norm(norm)
    ax.add_collection3d(surf, autolim=False)  # limits are set below
    ax.set_xlim(x.min(), x.max())
    ax.set_ylim(y.min(), y.max())
    ax.set_zlim(norm.vmin, norm.vmax)
    ax.view_init(STYLE.elev if elev is None else elev, STYLE.azim if azim is None else azim)
    return surf


def line(x: ArrayLike, loss: ArrayLike, acc: ArrayLike | None = None, ax: Axes | None = None, *,
         twin: Axes | None = None, log: bool = False, label: str = "", color: str | None = None,
         loss_label: str = "loss", acc_label: str = "accuracy (%)", legend: bool = True,
         origin: bool = True) -> list[Line2D]:
    """The paper's 1-D plot: loss on the left y-axis, accuracy (dashed) on a twin right axis
    (`twin` reuses one, to overlay several curves). `log` puts the loss axis on a log scale.
    `origin`: a black dot on each curve at x = 0 (the model itself). With `legend`, the legend
    goes below the axes, where it covers no curve."""
    ax = _axes(ax, STYLE.size_line)
    x = np.asarray(x, dtype=np.float64)
    loss = _masked(loss)
    _range(loss)
    prefix = f"{label}: " if label else ""
    marks = {"marker": "o", "ms": 2.5}  # isolated computed points (a partial file) still show
    (ll,) = ax.plot(x, loss, color=color or STYLE.loss_color, lw=1.5 * STYLE.line_width, label=prefix + loss_label,
                    **marks)
    ax.set_ylabel(loss_label, **({} if color else {"color": ll.get_color()}))
    if log:
        ax.set_yscale("log")
    lines = [ll]
    if acc is not None:
        twin = twin or ax.twinx()
        (la,) = twin.plot(x, _masked(acc), color=color or STYLE.acc_color, ls="--", lw=1.5 * STYLE.line_width,
                          label=prefix + acc_label, **marks)
        twin.set_ylabel(acc_label, **({} if color else {"color": la.get_color()}))
        lines.append(la)
    if origin:
        for ln in lines:
            at = _value_at_zero(x, np.ma.masked_invalid(np.ma.asarray(ln.get_ydata(), dtype=np.float64)))
            if at is not None:
                ln.axes.plot(0.0, at, marker="o", ms=4, color="black", gid="origin", **_POINT)
    if legend:
        _legend(lines)
    return lines


def _value_at_zero(x: np.ndarray, v: np.ma.MaskedArray) -> float | None:
    """The curve's value at x = 0: the point itself, or between its two computed neighbours."""
    ok = ~np.ma.getmaskarray(v)
    if not ok.any() or not x[ok].min() <= 0 <= x[ok].max():
        return None
    exact = np.flatnonzero(ok & np.isclose(x, 0.0, atol=1e-12))
    if len(exact):
        return float(v[exact[0]])
    below, above = np.flatnonzero(ok & (x < 0)), np.flatnonzero(ok & (x > 0))
    if not len(below) or not len(above) or above[0] - below[-1] != 1:  # a gap: nothing computed around 0
        return None
    return float(np.interp(0.0, x[[below[-1], above[0]]], v.filled(np.nan)[[below[-1], above[0]]]))


def _legend(lines: Sequence[Any]) -> None:
    """One legend for the curves of both y axes (see `legend_below`)."""
    legend_below(lines[0].axes, lines)


def legend_below(ax: Axes, handles: Sequence[Any]) -> Any:
    """A legend under the axes' x label, where it covers no data, in as many columns as fit the
    figure's width; the figure's constrained layout makes room for it. In a figure without that
    layout: inside the axes, where matplotlib finds it covers least."""
    fig = _root(ax)
    if not isinstance(fig.get_layout_engine(), ConstrainedLayoutEngine):
        return ax.legend(handles=list(handles), loc="best")
    renderer = _renderer(fig)
    for ncols in range(min(len(handles), 4), 0, -1):
        legend = ax.legend(handles=list(handles), loc="upper center", bbox_to_anchor=(0.5, 0.0), ncols=ncols,
                           frameon=False, borderaxespad=0.0, columnspacing=1.2, handlelength=1.8)
        if ncols == 1 or legend.get_window_extent(renderer).width <= 0.96 * fig.bbox.width:
            break
    for _ in range(2):  # the layout moves the axes when it makes room: anchor again
        renderer = _renderer(fig)
        below = ax.xaxis.get_tightbbox(renderer)
        y = ax.transAxes.inverted().transform((0, below.y0))[1] if below is not None else 0.0
        legend.set_bbox_to_anchor((0.5, y - 0.02), transform=ax.transAxes)
    return legend


def mark_missing_1d(ax: Axes, x: ArrayLike, computed: ArrayLike) -> list[Any]:
    """Hatch the stretches of a 1-D grid that are not computed yet."""
    x = np.asarray(x, dtype=np.float64)
    xe = _edges(x, cells=False)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], (~np.asarray(computed, dtype=bool)).astype(np.int8), [0]])))
    spans = []
    with mpl.rc_context({"hatch.color": STYLE.missing_ink, "hatch.linewidth": 0.6}):
        for i0, i1 in zip(edges[::2], edges[1::2]):
            spans.append(ax.axvspan(xe[i0], xe[i1], facecolor=STYLE.missing_face, edgecolor="none", lw=0,
                                    hatch=STYLE.missing_hatch, zorder=0.5, gid="missing"))
    return spans


@dataclass
class TrackDrawing:
    """What `draw_track` drew, and the labels still to place once the figure is complete."""

    artists: list[Any]
    labels: list[PointLabel]
    handles: list[Line2D]  # legend entries: one per run when there are several
    notes: list[str]


def _percent(share: float) -> str:
    return f"{100 * share:.1f}%" if share < 0.095 else f"{100 * share:.0f}%"


def draw_track(ax: Axes, track: Track, name: str = "trajectory", epoch_labels: bool = False) -> TrackDrawing:
    """Draw a track on a 2-D figure, its labels not yet placed (see `place_labels`). "trajectory":
    each run's checkpoints joined in training order, in its own colour, "start"/"end" (and with
    `epoch_labels` every known epoch) to label; checkpoints more than STYLE.off_plane of whose
    displacement lies off the plane (`Track.residual`) are drawn hollow. "models": markers
    labelled with their names."""
    ms = 4.0
    if name == "models":
        drawn = ax.plot(track.x, track.y, marker="o", ls="none", color="black", mfc="white", ms=ms, mew=0.9,
                        gid="models", zorder=4)
        return TrackDrawing(list(drawn), [PointLabel(n, (float(a), float(b)), "black", ms / 2)
                                          for n, a, b in zip(track.names, track.x, track.y)], [], [])
    runs = track.runs()
    drawn: list[Any] = []
    ends: list[PointLabel] = []
    epochs: list[PointLabel] = []
    handles: list[Line2D] = []
    worst = 0.0
    for r, (run_name, idx) in enumerate(runs):
        if not len(idx):
            continue
        color = STYLE.run_colors[r % len(STYLE.run_colors)]
        xs, ys = np.asarray(track.x)[idx], np.asarray(track.y)[idx]
        residual = None if track.residual is None else np.asarray(track.residual, dtype=np.float64)[idx]
        text = run_name or "training path"
        if residual is not None and np.isfinite(residual).any():
            top = float(np.nanmax(residual))
            worst = max(worst, top)
            text += f" (up to {_percent(top)} off the plane)"
        (path,) = ax.plot(xs, ys, color=color, lw=1.2 * STYLE.line_width, marker="o", ms=ms, mfc=color, mec="white",
                          mew=0.6, gid="trajectory", zorder=4, label=text)
        drawn.append(path)
        handles.append(path)
        if residual is not None:
            off = np.nan_to_num(residual, nan=0.0) > STYLE.off_plane
            if off.any():
                drawn += ax.plot(xs[off], ys[off], ls="none", marker="o", ms=ms, mfc="white", mec=color, mew=1.0,
                                 gid="off-plane", zorder=4.5)
        marks = [track.epochs[k] for k in idx]
        for k, (role, at) in enumerate((("start", 0), ("end", len(idx) - 1))):
            if k == 1 and at == 0:
                break
            e = marks[at]
            ends.append(PointLabel(f"{role} ({e})" if epoch_labels and e is not None else role,
                                   (float(xs[at]), float(ys[at])), color, ms / 2))
        if epoch_labels:
            epochs += [PointLabel(str(e), (float(xs[k]), float(ys[k])), color, ms / 2)
                       for k, e in enumerate(marks) if e is not None and 0 < k < len(idx) - 1]
    notes = []
    if worst > STYLE.off_plane:
        notes.append(f"hollow markers: checkpoints more than {_percent(STYLE.off_plane)} off the plane "
                     f"(up to {_percent(worst)})")
    return TrackDrawing(drawn, ends + epochs, handles if len(runs) > 1 else [], notes)


def overlay_track(ax: Axes, track: Track, name: str = "trajectory", epoch_labels: bool = False,
                  vertical: bool = False) -> list[Any]:
    """Draw a track and place its labels now (see `draw_track`); several runs get a legend.
    `vertical`: a 1-D figure, where each point is a labelled vertical mark at its x."""
    drawn: list[Any] = []
    if vertical:
        for x, text in zip(track.x, track.names):
            drawn.append(ax.axvline(x, color="gray", ls=":", lw=STYLE.line_width))
            drawn.append(ax.annotate(text, (x, 1), xycoords=("data", "axes fraction"), xytext=(0, 2),
                                     textcoords="offset points", ha="center", va="bottom", fontsize=STYLE.label_size))
        return drawn
    done = draw_track(ax, track, name, epoch_labels)
    if done.handles:
        ax.legend(handles=done.handles, loc="best")
    return done.artists + place_labels(ax, done.labels)


# ---------------------------------------------------------------- the basins' barcode


def barcode(topology: Any, ax: Axes | None = None, *, label: str = "loss", log: bool = False,
            max_bars: int = STYLE.max_bars, legend: bool = True, top: float | None = None) -> BarContainer:
    """The persistence barcode of a surface's basins (`basins.topology`): one horizontal bar per
    basin from its minimum to the saddle where it merges into a deeper one, deepest at the top;
    a basin that never merges is an arrow to the right edge (at `top`, e.g. the surface's largest
    value, if given). The threshold is a tick on each bar at minimum + threshold: the bars that
    reach past it are the counted basins, drawn in colour, the others grey. Caption: "k basins
    above the threshold; smoothness s". At most `max_bars` bars (the most persistent); the caption
    says how many more there are. `log`: a log x axis. Returns the bars."""
    ax = _axes(ax, STYLE.size_2d)
    basins = list(topology.basins)
    shown = sorted(sorted(basins, key=lambda b: -b.persistence)[:max_bars], key=lambda b: (b.minimum, b.saddle))
    thr = float(topology.threshold)
    lows = [b.minimum for b in shown] or [0.0]
    lo = min(lows)
    highest = max([b.saddle for b in shown if math.isfinite(b.saddle)] + lows + [lo + thr]
                  + ([top] if top is not None and math.isfinite(top) else []))
    log = log and lo > 0 and math.log10(highest) - math.log10(lo) < 100  # a log axis over 100 decades overflows
    if log:
        right = 10 ** min(math.log10(highest) + 0.06 * max(math.log10(highest) - math.log10(lo), 0.3), 307.0)
    else:
        right = highest + 0.06 * max(highest - lo, 1e-12) if highest - lo < 1e307 else highest
    y = np.arange(len(shown))
    counted = [b.persistence > thr for b in shown]
    colors = [STYLE.loss_color if c else "0.78" for c in counted]
    ends = [min(b.saddle, right) for b in shown]
    bars = ax.barh(y, [e - b.minimum for e, b in zip(ends, shown)], left=[b.minimum for b in shown], height=0.62,
                   color=colors, edgecolor=colors, linewidth=0.8, gid="barcode")  # the edge: short bars still show
    for k, b in enumerate(shown):
        if not math.isfinite(b.saddle):  # never merges: an arrow off to the right
            ax.plot(right, k, marker=">", ms=7, color=colors[k], clip_on=False, gid="essential")
    ticks = [(b.minimum + thr, k) for k, b in enumerate(shown) if b.minimum + thr < right]
    if ticks:
        tx, ty = zip(*ticks)
        ax.plot(tx, ty, ls="none", marker="|", ms=8, mew=1.1, color="black", gid="threshold")
    if log:
        ax.set_xscale("log")
    ax.set_xlim(right=right)
    ax.set_ylim(max(len(shown), 3) - 0.5, -0.5)  # bars keep their thickness when there are few
    ax.set_yticks([])
    ax.set_ylabel("basins, deepest first")
    ax.set_xlabel(label)
    ax._landscape_threshold = thr  # type: ignore[attr-defined]  # for the legend of a figure of several
    hidden = len(basins) - len(shown)
    n = int(topology.count)
    caption = (f"{n} basin{'s' if n != 1 else ''} above the threshold; smoothness {topology.smoothness:.2f}"
               + (f"; {hidden} shorter bar{'s' if hidden != 1 else ''} not shown" if hidden > 0 else ""))
    ax.set_title(caption, loc="left", fontsize=STYLE.note_size + 1)
    if legend:
        legend_below(ax, _barcode_handles(ax))
    return bars


def _barcode_handles(ax: Axes) -> list[Any]:
    thr = getattr(ax, "_landscape_threshold", None)
    tick = Line2D([], [], ls="none", marker="|", ms=8, mew=1.1, color="black",
                  label="threshold" if thr is None else f"threshold: minimum + {_fmt_value(thr)}")
    return [Patch(color=STYLE.loss_color, label="counted basin"), Patch(color="0.78", label="below the threshold"), tick]


def spectral_density(grid: ArrayLike, density: ArrayLike, ax: Axes | None = None,
                     eigenvalues: ArrayLike | None = None) -> Line2D:
    """The Hessian's spectral density (`landscape hessian --density`) on a log scale, as PyHessian
    draws it (density + 1e-7, so that empty stretches show as a floor), with the top eigenvalues
    as ticks along the bottom. Returns the density's line."""
    ax = _axes(ax, STYLE.size_line)
    grid, density = np.asarray(grid, dtype=np.float64), np.asarray(density, dtype=np.float64)
    (ln,) = ax.semilogy(grid, density + 1e-7, color=STYLE.loss_color, lw=1.5 * STYLE.line_width, gid="density")
    if eigenvalues is not None and len(np.atleast_1d(eigenvalues)):
        ev = np.atleast_1d(np.asarray(eigenvalues, dtype=np.float64))
        ax.plot(ev, np.full(len(ev), 1e-7), ls="none", marker="|", ms=12, mew=1.2, color=STYLE.best_color,
                clip_on=False, gid="eigenvalues", label=f"top {len(ev)} eigenvalues")
    ax.set_xlabel("eigenvalue")
    ax.set_ylabel("density (log scale)")
    if eigenvalues is not None and len(np.atleast_1d(eigenvalues)):
        legend_below(ax, [ax.get_lines()[-1]])  # after the x label, which it goes under
    return ln


def density_figure(grid: ArrayLike, density: ArrayLike, eigenvalues: ArrayLike | None = None,
                   title: str | None = None) -> Figure:
    """A figure of `spectral_density`."""
    with mpl.rc_context(dict(STYLE.rc)):
        fig = Figure(figsize=STYLE.size_line, layout="constrained")
        spectral_density(grid, density, fig.add_subplot(), eigenvalues)
        if title:
            fig.suptitle(title)
        return fig


def save_figure(fig: Figure, target: str | Path, dpi: int = 150) -> Path:
    """Write a figure atomically (its format from the file's suffix)."""
    target = Path(target)
    fmt = target.suffix.lstrip(".") or "png"
    _choice(Format, fmt, "format")
    return _write(target, lambda f: fig.savefig(f, format=fmt, dpi=dpi))


# ---------------------------------------------------------------- figures of surfaces


def _stem(s: Surface | Path | None) -> str:
    """`store.stem` of a surface's file, or of a path."""
    return store.stem(s.path if isinstance(s, Surface) else s)


def _values(s: Surface, o: PlotOptions) -> tuple[str, np.ma.MaskedArray]:
    """The metric's name and its masked values (log10 if o.log); at least one must be finite."""
    name, v = s.metric(o.metric.value)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = _masked(np.where(drawable(v), np.log10(v), np.nan) if o.log else v)
    if z.count() == 0:
        if o.log and drawable(v).any():
            raise LandscapeError(f"{s.name}: --log needs positive values, and every drawable {o.metric.value} value "
                                 "is ≤ 0; drop --log")
        raise LandscapeError(f"{s.name}: no computed points to plot ({describe(s) or 'every value is inf or NaN'})")
    return name, z


def describe(surface: Surface) -> str:
    """One line on what the figures leave blank; empty if every point is computed and finite."""
    s = surface
    parts = []
    missing = int((~s.computed).sum())
    if missing:
        parts.append(f"{missing} of {s.computed.size} points not computed yet (hatched in the figures)")
    if any(n.endswith("_loss") for n in s.values):
        bad, what = _diverged_words(s.metric("loss")[1], s.computed)
        if bad:
            parts.append(f"{bad} computed points have {what} (hatched red in the figures)")
    return "; ".join(parts)


def _fits(surfaces: Sequence[Surface], metric: Metric = Metric.loss) -> tuple[Kind, ...]:
    two = surfaces[0].is_2d
    fit = (FITS_2D if two else FITS_1D) if len(surfaces) == 1 else (COMPARE_2D if two else COMPARE_1D)
    return tuple(k for k in fit if k is not Kind.barcode or metric is Metric.loss)


GRID_KINDS = (Kind.contour, Kind.filled, Kind.heatmap, Kind.surface, Kind.barcode)  # need 2 points along x and y


def _kinds(surfaces: Sequence[Surface], o: PlotOptions) -> tuple[Kind, ...]:
    """The kinds to write: the defaults, or those asked for with "all" expanded to what fits."""
    if o.kinds is None:
        return DEFAULTS_2D if surfaces[0].is_2d else DEFAULTS_1D
    everything = ALL_2D if surfaces[0].is_2d else ALL_1D
    fit = _fits(surfaces, o.metric)
    if any(s.is_2d and min(s.computed.shape) < 2 for s in surfaces):  # a 1 x N grid: only what needs no area
        fit = tuple(k for k in fit if k not in GRID_KINDS)
    return tuple(dict.fromkeys(k for r in o.kinds for k in ([e for e in everything if e in fit]
                                                              if r is Kind.all else [r])))


def _check_kind(surfaces: Sequence[Surface], kind: Kind, o: PlotOptions = PlotOptions()) -> None:
    if len({s.is_2d for s in surfaces}) > 1:
        raise LandscapeError("cannot compare 1-D and 2-D surfaces in one figure; give files of one kind")
    if kind is Kind.barcode and o.metric is not Metric.loss:
        raise LandscapeError(f"the barcode shows the basins of the loss, not of {o.metric.value}; use --metric loss")
    fit = _fits(surfaces, o.metric)
    if kind not in fit:
        what = ("2-D" if surfaces[0].is_2d else "1-D") + (" surfaces compared" if len(surfaces) > 1 else " surface")
        raise LandscapeError(f"kind {kind.value!r} does not fit a {what}; use one of: {', '.join(k.value for k in fit)}")
    if kind in GRID_KINDS:
        for s in surfaces:
            if min(s.computed.shape) < 2:
                raise LandscapeError(f"{s.name}: a {kind.value} figure needs at least 2 points along x and y, "
                                     f"the grid is {len(s.x)} x {len(s.y)}; use vtk or compute a larger grid")


def _progress_note(ss: Sequence[Surface], hatched: bool) -> list[str]:
    """"23 of 49 points computed (...)" for each incomplete surface; computed points with an inf/NaN loss."""
    notes = []
    for s in ss:
        who = f"{_stem(s)}: " if len(ss) > 1 else ""
        done, total = int(s.computed.sum()), s.computed.size
        if done < total:
            notes.append(f"{who}{done} of {total} points computed" + (" (hatched: not yet)" if hatched else ""))
        if any(n.endswith("_loss") for n in s.values):
            bad, what = _diverged_words(s.metric("loss")[1], s.computed)
            if bad:
                notes.append(f"{who}{bad} computed point{'s have' if bad > 1 else ' has'} {what}"
                             + (" (hatched red)" if hatched else ""))
    return notes


def _note(fig: Figure, ss: Sequence[Surface], extra: Sequence[str] = ()) -> None:
    """Small print below the figure: the files' `note` attributes (e.g. "PCA directions, not
    filter-normalized") and what the figure leaves out or distorts, one line each (wrapped)."""
    notes = list(dict.fromkeys([str(s.attrs["note"]) for s in ss if s.attrs.get("note")] + list(extra)))
    if notes:
        text = fig.supxlabel("\n".join(notes), fontsize=STYLE.note_size, color="dimgray", gid="note")
        text._landscape_notes = notes  # type: ignore[attr-defined]  # re-wrapped by _rewrap
        _rewrap(fig)


def _rewrap(fig: Figure) -> None:
    """Wrap the note to the figure's current width (it may have been trimmed to the axes)."""
    text = getattr(fig, "_supxlabel", None)
    notes = getattr(text, "_landscape_notes", None)
    if notes:
        width = max(24, int(fig.get_figwidth() * 72 * 0.92 / (0.56 * STYLE.note_size)))
        text.set_text("\n".join(textwrap.fill(n, width=width, break_on_hyphens=False) for n in notes))


def draw(surfaces: Surface | Sequence[Surface], kind: Kind | str,
         options: PlotOptions = PlotOptions()) -> Figure:
    """One figure of `kind` (contour, filled, heatmap, surface, line or barcode). Several surfaces
    go side by side in one row on one shared color scale and one colorbar (1-D: one axes)."""
    ss = [surfaces] if isinstance(surfaces, Surface) else list(surfaces)
    kind = _choice(Kind, kind, "plot kind")
    if kind not in FIGURES:
        raise LandscapeError(f"{kind.value} is a file export or a set of kinds, not a figure; use render_file"
                             + (" or write_vtk" if kind is Kind.vtk else ""))
    _check_kind(ss, kind, options)
    with mpl.rc_context(dict(STYLE.rc)):
        if kind is Kind.line:
            return _line_figure(ss, options)
        if kind is Kind.barcode:
            return _barcode_figure(ss, options)
        return _plane_figure(ss, kind, options)


def _plane_figure(ss: list[Surface], kind: Kind, o: PlotOptions) -> Figure:
    n = len(ss)
    named = [_values(s, o) for s in ss]
    everything = np.ma.concatenate([z.ravel() for _, z in named])
    scale = _scale(everything, named[0][0], o)
    if len(scale.levels) == 0 and kind in (Kind.contour, Kind.filled):
        raise LandscapeError(f"no contour level falls inside the data ({scale.lo:.3g} to {scale.hi:.3g}"
                             f"{', log10' if o.log else ''}); widen --vmin/--vmax")
    equal = all(to_scale(s.x, s.y) for s in ss)
    is3d = kind is Kind.surface
    w, h = STYLE.size_3d if is3d else STYLE.size_2d
    if not is3d:  # a wide plane gets a lower figure, not white space
        ratio = max(float(np.ptp(s.y) / np.ptp(s.x)) if np.ptp(s.x) > 0 else 1.0 for s in ss)
        ratio = ratio if equal else min(max(ratio, 1 / 1.8), 1.8)
        h = min(h, max(2.4, (w - 1.2) * ratio + 1.1))
    fig = Figure(figsize=o.size or (w * n, h), dpi=o.dpi, layout="constrained")
    axes = [fig.add_subplot(1, n, k + 1, projection="3d" if is3d else None) for k in range(n)]
    notes = _progress_note(ss, hatched=not is3d)
    if is3d:
        cap = _cap(everything, o.zmax, o.log)
        norm3d: Normalize = (CenteredNorm(0.0, max(abs(scale.lo), abs(cap)) or 1.0) if o.look.diverging
                             else Normalize(*_spread(min(scale.lo, cap), cap)))
        over = int((everything > cap).sum())
        if over:
            shown = scale.fmt(cap)
            notes.append(f"clipped above z = {shown}{' (' + scale.label + ')' if o.log else ''}: {over} of "
                         f"{everything.count()} points ({_percent(over / everything.count())}) left out")
    elif not equal:
        notes.append("axes not to scale")
    if scale.best is not None and any(not s.computed.all() for s in ss) and not is3d:
        notes.append("star: best computed point")
    contour_sets: list[QuadContourSet] = []
    labels: list[tuple[Axes, list[PointLabel]]] = []
    handles: dict[str, Line2D] = {}
    m: Any = None
    for ax, s, (_, z) in zip(axes, ss, named):
        if kind is Kind.contour:
            m = contour(s.x, s.y, z, ax, scale.levels, scale.norm, scale.cmap, scale.best, o.log, labels=False)
            contour_sets.append(m)
        elif kind is Kind.filled:
            m = filled(s.x, s.y, z, ax, scale.levels, scale.norm, scale.cmap, scale.best,
                       scale.extend if len(scale.levels) > 1 else None)
        elif kind is Kind.heatmap:
            m = heatmap(s.x, s.y, z, ax, scale.norm, scale.cmap, scale.best)
        else:
            m = surface3d(s.x, s.y, z, ax, cap, o.elev, o.azim, scale.cmap, norm3d)
            ax.set_zlabel(scale.label)
            if o.log:
                _loss_axis(ax.zaxis, norm3d.vmin, norm3d.vmax)
        if not is3d:
            if not equal:
                ax.set_aspect("auto")
            if not s.computed.all() or not drawable(s.metric(o.metric.value)[1][s.computed]).all():
                mark_missing(ax, s.x, s.y, s.computed, drawable(s.metric(o.metric.value)[1]),
                             cells=kind is Kind.heatmap)
            mine: list[PointLabel] = []
            for tname, track in s.tracks.items():
                done = draw_track(ax, track, tname, o.epoch_labels)
                mine += done.labels
                handles.update((hd.get_label(), hd) for hd in done.handles)
                notes += done.notes
            labels.append((ax, mine))
        xl, yl = (str(s.attrs.get(k) or d) for k, d in (("xlabel", "direction 1"), ("ylabel", "direction 2")))
        if is3d:  # 3-D axis labels run along the box edges: keep them and the ticks few
            xl, yl = textwrap.fill(xl, 24), textwrap.fill(yl, 24)
            ax.xaxis.set_major_locator(MaxNLocator(4))
            ax.yaxis.set_major_locator(MaxNLocator(4))
            ax.set_box_aspect(None, zoom=0.85)
        pad = {"labelpad": 9} if is3d else {}  # 3-D labels clear the tick labels they run beside
        ax.set_xlabel(xl, **pad)
        ax.set_ylabel(yl, **pad)
        if n > 1:
            ax.set_title(str(s.attrs.get("title") or _stem(s)))
    if kind in (Kind.heatmap, Kind.filled) or (kind is Kind.contour and n > 1):
        extend = None if isinstance(scale.norm, BoundaryNorm) or kind is not Kind.heatmap else \
            _extend(np.array([scale.norm.vmin, scale.norm.vmax]), scale.lo, scale.hi)
        cbar = fig.colorbar(m, ax=axes, label=scale.label, spacing="proportional",
                            **({"extend": extend} if extend else {}))
        if o.log:
            _loss_axis(cbar.ax.yaxis, *sorted(cbar.ax.get_ylim()))
    if o.title:
        fig.suptitle(textwrap.fill(o.title, width=int(9 * fig.get_figwidth())))
    _note(fig, ss, notes)
    if o.size is None and not is3d:
        _fit(fig, axes)
    if handles:
        legend_below(axes[0], list(handles.values()))
    _rewrap(fig)
    if is3d:
        for ax in axes:
            _separate_corner_ticks(ax)
    if any(mine for _, mine in labels) or contour_sets:  # the layout is final: place the labels, tracks' first
        renderer = _renderer(fig)
        for ax, mine in labels:
            place_labels(ax, mine, renderer)
        for cs in contour_sets:
            label_contours(cs, fmt=scale.fmt, renderer=renderer)
    return fig


def _separate_corner_ticks(ax: Axes) -> None:
    """Where the x and y axes of a 3-D box meet, their end tick labels can run together
    ("1.0−1.0"): drop the x ticks whose labels touch a y tick label. The boxes are read from
    the ticks the last draw placed (asking the axis for its tick labels would move them back to
    unprojected positions)."""
    renderer = _renderer(ax.get_figure(root=True))

    def drawn(axis: Any) -> list[tuple[float, Any]]:
        locs = axis.get_majorticklocs()
        return [(float(v), t.label1.get_window_extent(renderer)) for v, t in zip(locs, axis.majorTicks)
                if t.label1.get_visible() and t.label1.get_text()]

    ys = [box for _, box in drawn(ax.yaxis)]
    xs = drawn(ax.xaxis)
    keep = [v for v, box in xs if not any(box.padded(2).overlaps(b) for b in ys)]
    if len(xs) > len(keep) >= 2:
        ax.xaxis.set_major_locator(FixedLocator(keep))


def _fit(fig: Figure, axes: Sequence[Axes]) -> None:
    """Trim the figure to its equal-aspect axes: a wide plane gets a lower figure (a tall one a
    narrower), not white space, and the colorbar stays as tall as the axes."""
    tall = any(np.ptp(a.get_ylim()) > 1.05 * np.ptp(a.get_xlim()) for a in axes)
    fig.draw_without_rendering()
    spare_h = min(a.get_position(original=True).height - a.get_position().height for a in axes)
    spare_w = min(a.get_position(original=True).width - a.get_position().width for a in axes)
    w, h = fig.get_size_inches()
    if spare_h * h > 0.03:
        fig.set_figheight(max(1.8, h - 0.97 * spare_h * h))
    elif tall and spare_w * w > 0.03:
        fig.set_figwidth(max(2.0, w - 0.97 * spare_w * w * len(axes)))
        renderer = _renderer(fig)  # but not so narrow that an axis label is cut off
        left = min(a.get_tightbbox(renderer).x0 for a in axes)
        need = max(a.get_position().x0 * fig.bbox.width - left + a.xaxis.label.get_window_extent(renderer).width
                   for a in axes) + 12
        if need > fig.bbox.width:
            fig.set_figwidth(min(w, need / fig.dpi))


def _line_figure(ss: list[Surface], o: PlotOptions) -> Figure:
    fig = Figure(figsize=o.size or STYLE.size_line, dpi=o.dpi, layout="constrained")
    ax = fig.add_subplot()
    handles: list[Line2D] = []
    twin = None
    for k, s in enumerate(ss):
        name, loss = s.metric("loss")
        acc_name = next((n for n in s.values if n.endswith("_acc")), None)
        lines = line(s.x, loss, s.values[acc_name] if acc_name else None, ax, twin=twin, log=o.log,
                     label="" if len(ss) == 1 else _stem(s), color=None if len(ss) == 1 else f"C{k}",
                     loss_label=_metric_label(name), acc_label=_metric_label(acc_name or "_acc"), legend=False)
        twin = lines[-1].axes if len(lines) > 1 else twin
        handles += lines
        if not s.computed.all():
            mark_missing_1d(ax, s.x, s.computed)
        for track in s.tracks.values():
            overlay_track(ax, track, vertical=True)
    lo = min(float(np.min(s.x)) for s in ss)
    hi = max(float(np.max(s.x)) for s in ss)
    pad = 0.02 * (hi - lo or 1.0)
    ax.set_xlim(lo - pad, hi + pad)  # the whole grid, computed or not
    if o.vmin is not None or o.vmax is not None:
        ax.set_ylim(o.vmin, o.vmax)
    ax.set_xlabel(str(ss[0].attrs.get("xlabel") or "x"))
    _note(fig, ss, _progress_note(ss, hatched=True))
    if o.title:
        ax.set_title(o.title)
    _legend(handles)
    return fig


def _barcode_figure(ss: list[Surface], o: PlotOptions) -> Figure:
    from landscape import basins

    tops = []
    for s in ss:
        name, v = s.metric("loss")
        z = np.where(s.computed & drawable(v), v, np.nan)  # as the other figures: huge values count as diverged
        if not np.isfinite(z).any():
            raise LandscapeError(f"{s.name}: no computed points to plot ({describe(s) or 'every value is inf or NaN'})")
        tops.append((name, basins.topology(z, o.threshold), float(np.nanmax(z))))
    bars = max(min(len(t.basins), STYLE.max_bars) for _, t, _ in tops)
    n = len(ss)
    fig = Figure(figsize=o.size or (STYLE.size_2d[0] * n, min(4.8, max(2.2, 1.5 + 0.14 * bars))), dpi=o.dpi,
                 layout="constrained")
    axes = fig.subplots(1, n, sharex=True, squeeze=False)[0]
    for ax, s, (name, topo, top) in zip(axes, ss, tops):
        barcode(topo, ax, label=_metric_label(name), log=o.log, legend=False, top=max(t for _, _, t in tops))
        if n > 1:
            ax.set_title(f"{_stem(s)}\n{ax.get_title(loc='left')}", loc="left", fontsize=STYLE.note_size + 1)
    if o.title:
        fig.suptitle(textwrap.fill(o.title, width=int(9 * fig.get_figwidth())))
    notes = _progress_note(ss, hatched=False)
    if notes:
        notes.append("basins of the computed points only")
    _note(fig, ss, notes)
    legend_below(axes[0], _barcode_handles(axes[0]))
    return fig


def write_vtk(path: str | Path, surface: Surface, options: PlotOptions = PlotOptions()) -> None:
    """Legacy ASCII VTK STRUCTURED_GRID for ParaView: points (x, y, z) with z = the metric (log10
    with `log`) clipped at zmax (see PlotOptions), and point data: the metric itself and `computed`
    (1/0). Not every reader accepts NaN, so missing or non-finite points get z = the clip height and
    the largest finite value as data; hide them in ParaView with a threshold on `computed`."""
    s = surface
    if not s.is_2d:
        raise LandscapeError(f"{s.name}: vtk export needs a 2-D surface")
    name, z = _values(s, options)
    cap = _cap(z, options.zmax, options.log)
    raw = _masked(s.metric(options.metric.value)[1])
    X, Y = np.meshgrid(s.x, s.y)
    n = z.size
    rows = ["# vtk DataFile Version 3.0", f"landscape {_stem(s)} {name}", "ASCII",
            "DATASET STRUCTURED_GRID", f"DIMENSIONS {len(s.x)} {len(s.y)} 1", f"POINTS {n} double"]
    heights = np.ma.minimum(z, cap).filled(cap)
    rows += [f"{a:.9g} {b:.9g} {c:.9g}" for a, b, c in zip(X.ravel(), Y.ravel(), heights.ravel())]
    rows += [f"POINT_DATA {n}", f"SCALARS {name} double 1", "LOOKUP_TABLE default"]
    rows += [f"{v:.9g}" for v in raw.filled(raw.max()).ravel()]
    rows += ["SCALARS computed int 1", "LOOKUP_TABLE default", *(str(int(v)) for v in ~np.ma.getmaskarray(raw).ravel())]
    Path(path).write_text("\n".join(rows) + "\n")


def clip_height(surface: Surface, options: PlotOptions = PlotOptions()) -> float | None:
    """Where the 3-D surface and the exported meshes are cut, in the metric's units (a loss even
    with `log`); None when nothing is above it (or `zmax` is inf)."""
    if options.zmax == np.inf:
        return None
    _, z = _values(surface, options)
    cap = _cap(z, options.zmax, options.log)
    if cap >= float(z.max()):
        return None
    return float(10.0 ** cap) if options.log else cap


# ---------------------------------------------------------------- files


class Outputs(list[Path]):
    """The files a render wrote, in order (a plain list of Paths), and `replaced`: those among
    them that existed before and were overwritten, for the caller to report ("replaced ...")."""

    def __init__(self, written: Iterable[Path] = (), replaced: Iterable[Path] = ()):
        super().__init__(written)
        self.replaced: list[Path] = list(replaced)


def compare_stem(surfaces: Sequence[Surface]) -> str:
    """The file stem of a comparison: the inputs' stems joined by "+" (the first one and a count
    when that is long), then 6 hex digits of a hash of the inputs' resolved paths in order, so that
    different inputs never share a name: "small-batch+large-batch.3f9a2c"."""
    stems = [_stem(s) for s in surfaces]
    joined = "+".join(stems)
    if len(joined) > 48:
        joined = f"{stems[0][:32]}+{len(stems) - 1}-more"
    key = "\n".join(str(s.path.resolve()) if s.path is not None else s.name for s in surfaces)
    return f"{joined}.{hashlib.sha1(key.encode()).hexdigest()[:6]}"


def output_name(stem: str, kind: Kind, fmt: Format = Format.png) -> str:
    """`<stem>.<kind>.<format>` for a figure, `<stem>.<kind>` (vtk, html, obj, ply) for an export."""
    return f"{stem}.{kind.value}" if kind not in FIGURES else f"{stem}.{kind.value}.{fmt.value}"


def _out_dir(out_dir: str | Path | None, default: Path | None) -> Path:
    if out_dir is None and default is None:
        raise LandscapeError("a surface computed in memory has no folder; give out_dir")
    out = Path(out_dir) if out_dir is not None else default
    assert out is not None
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise LandscapeError(f"cannot create output folder {str(out)!r}: {e.strerror or e}; "
                             "choose another --out") from None
    return out


def _write(target: Path, write: Callable[[Any], object]) -> Path:
    """Write through `files.replacing` (a temporary file renamed over the target), so a failure
    never leaves a half-written file; `write` gets the open binary file."""
    try:
        with files.replacing(target) as f:
            write(f)
    except OSError as e:
        raise LandscapeError(f"cannot write {str(target)!r}: {e.strerror or e}; choose another --out") from None
    return target


def _by_path(write_path: Callable[[Path], object]) -> Callable[[Any], None]:
    """Adapt a writer that takes a path (the exports) to `_write`'s open file: it writes into a
    private temporary folder, whose file is then copied into the file being replaced."""
    def write(f: Any) -> None:
        with tempfile.TemporaryDirectory(prefix="landscape-") as folder:
            tmp = Path(folder) / "export"
            write_path(tmp)
            with open(tmp, "rb") as src:
                while chunk := src.read(1 << 20):
                    f.write(chunk)
    return write


def _exporter(kind: Kind, s: Surface, o: PlotOptions) -> Callable[[Path], object]:
    if kind is Kind.vtk:
        return lambda p: write_vtk(p, s, o)
    from landscape import export  # the html export needs plotly, an optional dependency

    zmax = clip_height(s, o)
    metric = o.metric.value
    if kind is Kind.html:
        return lambda p: export.write_html(p, s, metric=metric, log=o.log, zmax=zmax, title=o.title)
    if kind is Kind.obj:
        return lambda p: export.write_obj(p, s, metric, o.log, zmax)
    if kind is Kind.ply:
        return lambda p: export.write_ply(p, s, metric, o.log, zmax)
    raise AssertionError(f"no exporter for {kind}")


def _render(ss: list[Surface], o: PlotOptions, out: Path, stem: str, overwrite: bool) -> Outputs:
    kinds = _kinds(ss, o)
    for kind in kinds:
        _check_kind(ss, kind, o)
    for s in ss:  # a metric the file lacks is an error before anything is written
        s.metric(o.metric.value)
    targets = [(kind, fmt, out / output_name(stem, kind, fmt))
               for kind in kinds for fmt in (o.formats if kind in FIGURES else (None,))]
    existing = [p for _, _, p in targets if p.exists()]
    if existing and not overwrite:
        more = f" and {len(existing) - 1} more" if len(existing) > 1 else ""
        raise LandscapeError(f"{str(existing[0])!r}{more} already exist{'s' if not more else ''}; "
                             "allow replacing them (--overwrite) or choose another --out")
    written = []
    with mpl.rc_context(dict(STYLE.rc)):
        for kind in kinds:
            if kind not in FIGURES:
                written.append(_write(out / output_name(stem, kind), _by_path(_exporter(kind, ss[0], o))))
                continue
            fig = draw(ss, kind, o)
            for fmt in o.formats:
                written.append(_write(out / output_name(stem, kind, fmt),
                                      lambda f, fmt=fmt: fig.savefig(f, format=fmt.value, dpi=o.dpi)))
    return Outputs(written, [p for p in written if p in set(existing)])


def render_file(path: str | Path | Surface, options: PlotOptions = PlotOptions(),
                out_dir: str | Path | None = None, *, overwrite: bool = True) -> Outputs:
    """Write each kind of `options` for one surface (a file, or a `Surface` in memory with
    `out_dir`) as `<stem>.<kind>.<fmt>` (exports: `<stem>.<kind>`) next to it or under `out_dir`;
    stem: the file name without `.h5` and a trailing `.surface`. Default kinds: contour, filled,
    surface (2-D) or line (1-D). Returns the paths written; `.replaced` lists those that existed.
    `overwrite` False: raise LandscapeError, before writing anything, if any output exists."""
    s = path if isinstance(path, Surface) else store.read_surface(path)
    return _render([s], options, _out_dir(out_dir, None if s.path is None else s.path.parent), _stem(s), overwrite)


def render_compare(paths: Sequence[str | Path], options: PlotOptions = PlotOptions(),
                   out_dir: str | Path | None = None, *, overwrite: bool = True) -> Outputs:
    """Several surfaces side by side on one shared color scale (1-D: overlaid lines), written to
    `<compare_stem>.<kind>.<fmt>` (e.g. `a+b.3f9a2c.filled.png`) in `out_dir` (default: the
    first file's folder). Returns the paths written, with `.replaced` as in `render_file`."""
    if len(paths) < 2:
        raise LandscapeError("compare needs at least two surface files")
    ss = [store.read_surface(p) for p in paths]
    return _render(ss, options, _out_dir(out_dir, ss[0].path.parent if ss[0].path else None), compare_stem(ss),
                   overwrite)
