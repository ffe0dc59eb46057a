"""Figures of loss surfaces as in Li et al. 2018 (arXiv:1712.09913): contour lines, filled
contours, heatmaps, 3-D surfaces, the 1-D loss/accuracy plot, and a VTK export for ParaView.

The only module that imports matplotlib. It never touches pyplot's global state: figures are
`matplotlib.figure.Figure` objects, so rendering works headless and in notebooks.
Arrays follow the store's orientation: a 2-D z has shape (len(y), len(x)) and z[j, i] belongs
to the point (x[i], y[j]); x runs along the horizontal axis.

Missing, NaN and inf points are masked and left blank. An array with no finite value raises
LandscapeError ("no computed points to plot") instead of drawing an empty frame.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import QuadMesh
from matplotlib.colors import Normalize
from matplotlib.contour import QuadContourSet
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patheffects import withStroke
from matplotlib.ticker import MaxNLocator
from mpl_toolkits.mplot3d.art3d import Poly3DCollection
from numpy.typing import ArrayLike

from . import store
from .errors import LandscapeError
from .store import Surface, Track


@dataclass(frozen=True)
class Style:
    """Every look-and-feel constant of the figures, in one place."""

    rc: tuple[tuple[str, Any], ...] = (("font.size", 9), ("axes.titlesize", 9), ("legend.fontsize", 7),
                                       ("pdf.fonttype", 42))  # 42: text stays editable in the PDF
    label_size: float = 7.0  # contour labels, track labels
    note_size: float = 6.5
    cmap: str = "viridis"
    line_width: float = 0.8
    loss_color: str = "tab:blue"
    acc_color: str = "tab:red"
    best_color: str = "red"  # star at the minimum loss (maximum accuracy)
    track_color: str = "black"
    size_2d: tuple[float, float] = (4.2, 3.6)  # inches, one panel
    size_3d: tuple[float, float] = (5.0, 4.0)
    size_line: tuple[float, float] = (5.0, 3.2)
    paper_levels: tuple[float, float, float] = (0.1, 10.0, 0.5)  # vmin, vmax, step of the paper's contours
    min_levels: int = 6  # fewer paper levels than this inside the data: use nice levels instead
    nice_levels: int = 10  # about this many levels when not the paper's
    max_levels: int = 500
    elev: float = 35.0
    azim: float = -55.0


STYLE = Style()
KINDS = ("contour", "filled", "heatmap", "surface", "line", "vtk")
FORMATS = ("png", "pdf", "svg")
METRICS = ("loss", "acc")
FITS_2D = ("contour", "filled", "heatmap", "surface", "vtk")
FITS_1D = ("line",)
DEFAULTS_2D = ("contour", "filled", "surface")


@dataclass(frozen=True)
class PlotOptions:
    """What to draw and how. Validated when built: a bad value raises LandscapeError.

    vmin, vmax and zmax are in the metric's units even with `log` (then they must be > 0);
    with `log`, levels are evenly spaced in log10 and `vlevel` is a step in decades.
    Contour levels by default: the paper's 0.1 to 10 every 0.5 for loss (those inside the data),
    or about ten nice levels when fewer than six of those fall inside the data, or for accuracy/log.
    `zmax` clips the 3-D surface and the VTK heights; None caps automatically at
    q95 + (q95 - q5) of the values (no effect on an ordinary bowl, cuts single huge outliers);
    inf turns clipping off. `size` is the whole figure in inches; None: per kind, one panel per file.
    """

    kinds: tuple[str, ...] | None = None  # None: contour, filled, surface (2-D) / line (1-D); "all": all that fit
    metric: str = "loss"  # "loss" or "acc"
    log: bool = False
    vmin: float | None = None
    vmax: float | None = None
    levels: int | None = None  # number of contour lines, evenly spaced strictly inside [vmin, vmax]
    vlevel: float | None = None  # step between contour lines
    cmap: str | None = None
    formats: tuple[str, ...] = ("png",)
    dpi: int = 150
    title: str | None = None
    elev: float | None = None  # None: STYLE.elev
    azim: float | None = None  # None: STYLE.azim
    zmax: float | None = None
    epoch_labels: bool = False
    size: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        """Accept what a CLI hands over: lists, one string, Enum members (stored as their values)."""
        def plain(v: Any) -> Any:
            return getattr(v, "value", v)

        for name in ("kinds", "formats", "size"):
            value = getattr(self, name)
            if value is not None:
                items = (value,) if isinstance(value, str) else tuple(value)
                object.__setattr__(self, name, tuple(plain(v) for v in items))
        object.__setattr__(self, "metric", plain(self.metric))
        self.validate()

    def validate(self) -> None:
        """Raise LandscapeError naming the first bad value and what to give instead."""
        kinds = ", ".join((*KINDS, "all"))
        numbers = {k: getattr(self, k) for k in ("vmin", "vmax", "vlevel", "zmax", "elev", "azim")}
        limits = [k for k in ("vmin", "vmax", "zmax") if numbers[k] is not None and numbers[k] <= 0]
        checks = [
            (self.kinds == (), f"no plot kind given; use one of: {kinds}"),
            *((k not in (*KINDS, "all"), f"unknown plot kind {k!r}; use one of: {kinds}") for k in self.kinds or ()),
            (self.metric not in METRICS, f"unknown metric {self.metric!r}; use loss or acc"),
            (not self.formats, "no output format given; use png, pdf or svg"),
            *((f not in FORMATS, f"unknown format {f!r}; use png, pdf or svg") for f in self.formats),
            *((v is not None and not (np.isfinite(v) or (k == "zmax" and v == np.inf)),
               f"--{k} must be a finite number, got {v}") for k, v in numbers.items()),
            (None not in (self.vmin, self.vmax) and self.vmin >= self.vmax,  # type: ignore[operator]
             f"--vmin {self.vmin} must be smaller than --vmax {self.vmax}"),
            (self.levels is not None and self.levels < 1, f"--levels must be at least 1, got {self.levels}"),
            (self.vlevel is not None and self.vlevel <= 0, f"--vlevel must be positive, got {self.vlevel}"),
            (None not in (self.levels, self.vlevel), "give --levels (a count) or --vlevel (a step), not both"),
            (self.log and self.metric != "loss", "--log applies to the loss only; drop --log or use --metric loss"),
            (self.log and bool(limits), f"--{limits[0] if limits else ''} must be > 0 with --log (limits are losses)"),
            (not 10 <= self.dpi <= 2400, f"--dpi must be between 10 and 2400, got {self.dpi}"),
            (self.size is not None and (len(self.size) != 2 or not all(0 < v <= 100 for v in self.size)),
             f"--size must be two numbers of inches in (0, 100], got {self.size}"),
            (self.cmap is not None and self.cmap not in mpl.colormaps,
             f"unknown colormap {self.cmap!r}; try viridis, magma, cividis or coolwarm"),
        ]
        for bad, message in checks:
            if bad:
                raise LandscapeError(message)


# ---------------------------------------------------------------- drawing functions (arrays in)


def _axes(ax: Axes | None, size: tuple[float, float] = STYLE.size_2d, projection: str | None = None) -> Axes:
    return ax if ax is not None else Figure(figsize=size, layout="constrained").add_subplot(projection=projection)


def _masked(z: ArrayLike) -> np.ma.MaskedArray:
    return np.ma.masked_invalid(np.ma.asarray(z, dtype=np.float64))


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
    plain = o.metric == "loss" and not o.log
    step = o.vlevel or (STYLE.paper_levels[2] if plain else None)
    if step is not None:
        anchor = lo if o.vmin is not None else (STYLE.paper_levels[0] if plain else 0.0)
        top = min(hi, STYLE.paper_levels[1]) if plain and o.vmax is None else hi
        k0, k1 = np.ceil((max(lo, dlo) - anchor) / step - 1e-9), np.floor((min(top, dhi) - anchor) / step + 1e-9)
        if k1 - k0 > STYLE.max_levels:
            raise LandscapeError(f"--vlevel {step:g} gives {k1 - k0:.0f} levels over the data; use a larger step")
        levels = np.round(anchor + step * np.arange(k0, k1 + 1), 12)
        if (o.vlevel is not None and len(levels)) or len(levels) >= STYLE.min_levels:
            return levels
    levels = MaxNLocator(STYLE.nice_levels).tick_values(lo, hi)
    return levels[(levels >= lo - 1e-12 * abs(lo)) & (levels <= hi + 1e-12 * abs(hi))]


def _extend(levels: np.ndarray, lo: float, hi: float) -> str:
    below, above = lo < levels[0], hi > levels[-1]
    return "both" if below and above else "min" if below else "max" if above else "neither"


_POINT: dict[str, Any] = dict(mec="white", mew=0.5, ls="none", zorder=5)


def _frame(ax: Axes, x: ArrayLike, y: ArrayLike, z: np.ma.MaskedArray, best: str | None) -> None:
    """Freeze the limits to what was drawn, equal aspect, star at the best point, dot at (0, 0)."""
    ax.autoscale_view()
    ax.set_xlim(ax.get_xlim())
    ax.set_ylim(ax.get_ylim())
    ax.set_aspect("equal")
    ax.xaxis.set_major_locator(MaxNLocator(5))
    ax.yaxis.set_major_locator(MaxNLocator(5))
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if best is not None:
        target = z.min() if best == "min" else z.max()
        ties = np.argwhere(~np.ma.getmaskarray(z) & (z.filled(np.nan) == target))  # (k, 2) of [j, i]
        j, i = min(ties, key=lambda ji: x[ji[1]] ** 2 + y[ji[0]] ** 2)  # among equals, the one nearest (0, 0)
        ax.plot(x[i], y[j], marker="*", ms=9, color=STYLE.best_color, gid="best", **_POINT)
    if x.min() <= 0 <= x.max() and y.min() <= 0 <= y.max():
        ax.plot(0, 0, marker="o", ms=3.5, color="black", gid="origin", **_POINT)


def contour(x: ArrayLike, y: ArrayLike, z: ArrayLike, ax: Axes | None = None, levels: ArrayLike | None = None,
            norm: Normalize | None = None, cmap: str | None = None, best: str | None = "min",
            log: bool = False) -> QuadContourSet:
    """Contour lines labelled with their values (the paper's 2-D figures); `best`: "min", "max" or None.
    With `log`, z is log10 of the loss and the labels show the loss itself."""
    ax, z = _axes(ax), _masked(z)
    cs = ax.contour(x, y, z, levels=_levels(z) if levels is None else levels, norm=norm,
                    cmap=cmap or STYLE.cmap, linewidths=STYLE.line_width)
    labelled = cs.levels[::2] if len(cs.levels) > 12 else cs.levels  # every other one when crowded
    ax.clabel(cs, labelled, fontsize=STYLE.label_size, fmt=(lambda v: f"{10 ** v:.2g}") if log else "%g")
    _frame(ax, x, y, z, best)
    return cs


def filled(x: ArrayLike, y: ArrayLike, z: ArrayLike, ax: Axes | None = None, levels: ArrayLike | None = None,
           norm: Normalize | None = None, cmap: str | None = None, best: str | None = "min",
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
            cmap: str | None = None, best: str | None = "min") -> QuadMesh:
    """One colored cell per grid point (no interpolation); returns the QuadMesh."""
    ax, z = _axes(ax), _masked(z)
    mesh = ax.pcolormesh(x, y, z, shading="nearest", norm=norm or Normalize(*_spread(*_range(z))),
                         cmap=cmap or STYLE.cmap)
    _frame(ax, x, y, z, best)
    return mesh


def _auto_zmax(z: np.ma.MaskedArray) -> float:
    """The default clip height: q95 + (q95 - q5), or the maximum if that is lower."""
    q5, q95 = np.percentile(z.compressed(), [5, 95])
    return float(min(z.max(), q95 + (q95 - q5)))


def surface3d(x: ArrayLike, y: ArrayLike, z: ArrayLike, ax: Axes | None = None, zmax: float | None = None,
              elev: float | None = None, azim: float | None = None, cmap: str | None = None,
              norm: Normalize | None = None) -> Poly3DCollection:
    """Smooth-shaded 3-D surface colored by height, clipped at `zmax` (None: automatic, see
    PlotOptions), viewed from `elev`/`azim` degrees; masked points become holes. `ax` must be 3-D."""
    ax, z = _axes(ax, STYLE.size_3d, "3d"), _masked(z)
    lo, hi = _range(z)
    cap = min(hi, _auto_zmax(z) if zmax is None else zmax)
    norm = norm or Normalize(*_spread(min(lo, cap), cap))
    X, Y = np.meshgrid(x, y)
    surf = ax.plot_surface(X, Y, np.ma.minimum(z, cap).filled(np.nan), cmap=cmap or STYLE.cmap, norm=norm,
                           rstride=1, cstride=1, linewidth=0, antialiased=True)
    ax.set_zlim(norm.vmin, norm.vmax)
    ax.view_init(STYLE.elev if elev is None else elev, STYLE.azim if azim is None else azim)
    return surf


def line(x: ArrayLike, loss: ArrayLike, acc: ArrayLike | None = None, ax: Axes | None = None, *,
         twin: Axes | None = None, log: bool = False, label: str = "", color: str | None = None,
         loss_label: str = "loss", acc_label: str = "accuracy (%)", legend: bool = True) -> list[Line2D]:
    """The paper's 1-D plot: loss on the left y-axis, accuracy (dashed) on a twin right axis
    (`twin` reuses one, to overlay several curves). `log` puts the loss axis on a log scale."""
    ax = _axes(ax, STYLE.size_line)
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
    if legend:
        _legend(lines)
    return lines


def _legend(lines: list[Line2D]) -> None:
    """A legend where it covers the fewest curve points (loc="best" sees one axes only)."""
    for ln in lines:
        ln.axes.get_xlim(), ln.axes.get_ylim()  # settle autoscaling before reading the transforms
    xy = np.concatenate([(ln.axes.transData - ln.axes.transAxes).transform(
        np.ma.filled(np.ma.column_stack(ln.get_data()).astype(float), np.nan)) for ln in lines])
    bands = {"upper": (0.72, 1), "lower": (0, 0.28), "left": (0, 0.4), "right": (0.6, 1), "center": (0.3, 0.7)}

    def covered(loc: str) -> int:
        (ylo, yhi), (xlo, xhi) = (bands[w] for w in loc.split())
        return int(((xy[:, 0] >= xlo) & (xy[:, 0] <= xhi) & (xy[:, 1] >= ylo) & (xy[:, 1] <= yhi)).sum())

    locs = ("upper right", "upper left", "lower left", "lower right", "center right", "center left",
            "upper center", "lower center")
    lines[-1].axes.legend(handles=lines, loc=min(locs, key=covered))


def overlay_track(ax: Axes, track: Track, name: str = "trajectory", epoch_labels: bool = False,
                  vertical: bool = False) -> list[Any]:
    """Draw a track on a 2-D figure: "trajectory" as markers joined in training order with
    "start"/"end" (and epochs) labelled, "models" as markers labelled with their names.
    `vertical`: a 1-D figure, where each point is a labelled vertical mark at its x."""
    drawn: list[Any] = []
    if vertical:
        for x, text in zip(track.x, track.names):
            drawn.append(ax.axvline(x, color="gray", ls=":", lw=STYLE.line_width))
            drawn.append(ax.annotate(text, (x, 1), xycoords=("data", "axes fraction"), xytext=(0, 2),
                                     textcoords="offset points", ha="center", va="bottom", fontsize=STYLE.label_size))
        return drawn
    style = dict(color=STYLE.track_color, mfc="white", ms=3.5, lw=STYLE.line_width, zorder=4)
    if name == "trajectory":
        drawn += ax.plot(track.x, track.y, marker="o", gid="trajectory", **style)
        texts = [("start", 0, (4, 4)), ("end", len(track.x) - 1, (-4, -10))]
        if epoch_labels:  # skip a label that would sit on the previous one
            span = max(np.ptp(track.x), np.ptp(track.y), 1e-12)
            last = None
            for k, e in enumerate(track.epochs):
                here = np.array([track.x[k], track.y[k]])
                if e is not None and (last is None or np.abs(here - last).max() > 0.04 * span):
                    texts.append((str(e), k, (4, -8)))
                    last = here
    else:
        drawn += ax.plot(track.x, track.y, marker="o", ls="none", gid="models", **style)
        texts = [(text, k, (4, 4)) for k, text in enumerate(track.names)]
    for text, k, offset in texts:
        drawn.append(ax.annotate(text, (track.x[k], track.y[k]), xytext=offset, textcoords="offset points",
                                 fontsize=STYLE.label_size, zorder=6, ha="right" if offset[0] < 0 else "left",
                                 path_effects=[withStroke(linewidth=2.5, foreground="white")]))  # legible on dark fills
    return drawn


# ---------------------------------------------------------------- figures of surface files


def _stem(path: Path) -> str:
    return path.name.removesuffix(".h5").removesuffix(".hdf5").removesuffix(".surface")


def _metric_label(name: str, log: bool) -> str:
    split, _, kind = name.rpartition("_")
    text = f"{split} accuracy (%)" if kind == "acc" else f"{split} loss"
    return ("log10 " if log else "") + text.strip()


def _values(s: Surface, o: PlotOptions) -> tuple[str, np.ma.MaskedArray]:
    """The metric's name and its masked values (log10 if o.log); at least one must be finite."""
    name, v = s.metric(o.metric)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = _masked(np.log10(v) if o.log else v)
    if z.count() == 0:
        raise LandscapeError(f"{s.path}: no computed points to plot ({describe(s) or 'every value is inf or NaN'})")
    return name, z


def describe(surface: Surface) -> str:
    """One line on what the figures leave blank; empty if every point is computed and finite."""
    s = surface
    parts = []
    missing = int((~s.computed).sum())
    if missing:
        parts.append(f"{missing} of {s.computed.size} points not computed yet (shown blank)")
    if any(n.endswith("_loss") for n in s.values):
        bad = int((s.computed & ~np.isfinite(s.metric("loss")[1])).sum())
        if bad:
            parts.append(f"{bad} computed points have an inf or NaN loss (shown blank)")
    return "; ".join(parts)


def _fits(surfaces: Sequence[Surface]) -> tuple[str, ...]:
    fit = FITS_2D if surfaces[0].is_2d else FITS_1D
    return fit if len(surfaces) == 1 else tuple(k for k in fit if k != "vtk")


def _check_kind(surfaces: Sequence[Surface], kind: str) -> None:
    if len({s.is_2d for s in surfaces}) > 1:
        raise LandscapeError("cannot compare 1-D and 2-D surfaces in one figure; give files of one kind")
    fit = _fits(surfaces)
    if kind not in fit:
        what = ("2-D" if surfaces[0].is_2d else "1-D") + (" surfaces compared" if len(surfaces) > 1 else " surface")
        raise LandscapeError(f"kind {kind!r} does not fit a {what}; use one of: {', '.join(fit)}")
    if kind in ("contour", "filled", "heatmap", "surface"):
        for s in surfaces:
            if min(s.computed.shape) < 2:
                raise LandscapeError(f"{s.path}: a {kind} figure needs at least 2 points along x and y, "
                                     f"the grid is {len(s.x)} x {len(s.y)}; use vtk or compute a larger grid")


def _note(fig: Figure, ss: Sequence[Surface]) -> None:
    """The files' `note` attributes (e.g. "PCA directions, not filter-normalized") in small print below."""
    notes = dict.fromkeys(str(s.attrs["note"]) for s in ss if s.attrs.get("note"))
    if notes:
        text = textwrap.fill("; ".join(notes), width=int(17 * fig.get_figwidth()))
        fig.supxlabel(text, fontsize=STYLE.note_size, color="dimgray")


def draw(surfaces: Surface | Sequence[Surface], kind: str, options: PlotOptions = PlotOptions()) -> Figure:
    """One figure of `kind` ("contour", "filled", "heatmap", "surface", "line"). Several surfaces
    go side by side in one row on one shared color scale and one colorbar (1-D: one axes)."""
    ss = [surfaces] if isinstance(surfaces, Surface) else list(surfaces)
    if kind == "vtk":
        raise LandscapeError("vtk is a file export, not a figure; use render_file or write_vtk")
    _check_kind(ss, kind)
    o, n = options, len(ss)
    with mpl.rc_context(dict(STYLE.rc)):
        if kind == "line":
            return _line_figure(ss, o)
        w, h = STYLE.size_3d if kind == "surface" else STYLE.size_2d
        if kind != "surface":  # equal aspect: a wide plane gets a lower figure, not white space
            h = min(h, max(2.4, (w - 1.2) * max(np.ptp(s.y) / np.ptp(s.x) for s in ss) + 1.1))
        fig = Figure(figsize=o.size or (w * n, h), layout="constrained")
        axes = [fig.add_subplot(1, n, k + 1, projection="3d" if kind == "surface" else None) for k in range(n)]
        named = [_values(s, o) for s in ss]
        everything = np.ma.concatenate([z.ravel() for _, z in named])
        lo, hi = _range(everything)
        label = _metric_label(named[0][0], o.log)
        best = "max" if o.metric == "acc" else "min"
        levels = _levels(everything, o)
        if len(levels) == 0 and kind in ("contour", "filled"):
            raise LandscapeError(f"no contour level falls inside the data ({lo:.3g} to {hi:.3g}"
                                 f"{', log10' if o.log else ''}); widen --vmin/--vmax")
        extend = _extend(levels, lo, hi) if len(levels) > 1 else None
        vmin, vmax = _scaled(o.vmin, o.log), _scaled(o.vmax, o.log)
        if kind == "surface":
            cap = min(hi, _auto_zmax(everything) if o.zmax is None else _scaled(o.zmax, o.log))
            norm = Normalize(*_spread(min(lo, cap), cap))
        elif kind == "heatmap":  # colors over the data, not the contour levels
            norm = Normalize(*_spread(lo if vmin is None else vmin, hi if vmax is None else vmax))
        else:
            norm = Normalize(*_spread(levels[0] if vmin is None else vmin, levels[-1] if vmax is None else vmax))
        for ax, s, (_, z) in zip(axes, ss, named):
            if kind == "contour":
                m = contour(s.x, s.y, z, ax, levels, norm, o.cmap, best, o.log)
            elif kind == "filled":
                m = filled(s.x, s.y, z, ax, levels, norm, o.cmap, best, extend)
            elif kind == "heatmap":
                m = heatmap(s.x, s.y, z, ax, norm, o.cmap, best)
            else:
                m = surface3d(s.x, s.y, z, ax, norm.vmax, o.elev, o.azim, o.cmap, norm)
                ax.set_zlabel(label)
            xl, yl = (str(s.attrs.get(k) or d) for k, d in (("xlabel", "direction 1"), ("ylabel", "direction 2")))
            if kind == "surface":  # 3-D axis labels run along the box edges: keep them and the ticks few
                xl, yl = textwrap.fill(xl, 24), textwrap.fill(yl, 24)
                ax.xaxis.set_major_locator(MaxNLocator(5))
                ax.yaxis.set_major_locator(MaxNLocator(5))
                ax.set_box_aspect(None, zoom=0.88)
            ax.set_xlabel(xl)
            ax.set_ylabel(yl)
            if kind != "surface":
                for tname, track in s.tracks.items():
                    overlay_track(ax, track, tname, o.epoch_labels)
            if n > 1:
                ax.set_title(str(s.attrs.get("title") or _stem(s.path)))
        if kind == "heatmap":
            fig.colorbar(m, ax=axes, label=label, extend=_extend(np.array([norm.vmin, norm.vmax]), lo, hi))
        elif kind == "filled" or (kind == "contour" and n > 1):
            fig.colorbar(m, ax=axes, label=label)
        if o.title:
            fig.suptitle(textwrap.fill(o.title, width=int(9 * fig.get_figwidth())))
        _note(fig, ss)
        return fig


def _line_figure(ss: list[Surface], o: PlotOptions) -> Figure:
    fig = Figure(figsize=o.size or STYLE.size_line, layout="constrained")
    ax = fig.add_subplot()
    handles: list[Line2D] = []
    twin = None
    for k, s in enumerate(ss):
        name, loss = s.metric("loss")
        acc_name = next((n for n in s.values if n.endswith("_acc")), None)
        lines = line(s.x, loss, s.values[acc_name] if acc_name else None, ax, twin=twin, log=o.log,
                     label="" if len(ss) == 1 else _stem(s.path), color=None if len(ss) == 1 else f"C{k}",
                     loss_label=_metric_label(name, False), acc_label=_metric_label(acc_name or "_acc", False),
                     legend=False)
        twin = lines[-1].axes if len(lines) > 1 else twin
        handles += lines
        for track in s.tracks.values():
            overlay_track(ax, track, vertical=True)
    _legend(handles)
    if o.vmin is not None or o.vmax is not None:
        ax.set_ylim(o.vmin, o.vmax)
    ax.set_xlabel(str(ss[0].attrs.get("xlabel") or "x"))
    _note(fig, ss)
    if o.title:
        ax.set_title(o.title)
    return fig


def write_vtk(path: str | Path, surface: Surface, options: PlotOptions = PlotOptions()) -> None:
    """Legacy ASCII VTK STRUCTURED_GRID for ParaView: points (x, y, z) with z = the metric (log10
    with `log`) clipped at zmax (see PlotOptions), and point data: the metric itself and `computed`
    (1/0). Not every reader accepts NaN, so missing or non-finite points get z = the clip height and
    the largest finite value as data; hide them in ParaView with a threshold on `computed`."""
    s = surface
    if not s.is_2d:
        raise LandscapeError(f"{s.path}: vtk export needs a 2-D surface")
    name, z = _values(s, options)
    cap = min(float(z.max()), _auto_zmax(z) if options.zmax is None else _scaled(options.zmax, options.log))
    raw = _masked(s.metric(options.metric)[1])
    X, Y = np.meshgrid(s.x, s.y)
    n = z.size
    rows = ["# vtk DataFile Version 3.0", f"landscape {_stem(s.path)} {name}", "ASCII",
            "DATASET STRUCTURED_GRID", f"DIMENSIONS {len(s.x)} {len(s.y)} 1", f"POINTS {n} double"]
    heights = np.ma.minimum(z, cap).filled(cap)
    rows += [f"{a:.9g} {b:.9g} {c:.9g}" for a, b, c in zip(X.ravel(), Y.ravel(), heights.ravel())]
    rows += [f"POINT_DATA {n}", f"SCALARS {name} double 1", "LOOKUP_TABLE default"]
    rows += [f"{v:.9g}" for v in raw.filled(raw.max()).ravel()]
    rows += ["SCALARS computed int 1", "LOOKUP_TABLE default", *(str(int(v)) for v in ~np.ma.getmaskarray(raw).ravel())]
    Path(path).write_text("\n".join(rows) + "\n")


# ---------------------------------------------------------------- files


def _out_dir(out_dir: str | Path | None, default: Path) -> Path:
    out = Path(out_dir) if out_dir is not None else default
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise LandscapeError(f"cannot create output folder {str(out)!r}: {e.strerror or e}; "
                             "choose another --out") from None
    return out


def _atomic(target: Path, write: Callable[..., object], **kwargs: Any) -> Path:
    """Write through a temporary name and rename, so a failure never leaves a half-written file."""
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        write(tmp, **kwargs)
        os.replace(tmp, target)
    except OSError as e:
        raise LandscapeError(f"cannot write {str(target)!r}: {e.strerror or e}; choose another --out") from None
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _render(ss: list[Surface], o: PlotOptions, out: Path, stem: str) -> list[Path]:
    if o.kinds is None:
        kinds = DEFAULTS_2D if ss[0].is_2d else FITS_1D
    else:
        kinds = tuple(dict.fromkeys(k for r in o.kinds for k in (_fits(ss) if r == "all" else (r,))))
    for kind in kinds:
        _check_kind(ss, kind)
    written = []
    with mpl.rc_context(dict(STYLE.rc)):
        for kind in kinds:
            if kind == "vtk":
                written.append(_atomic(out / f"{stem}.vtk", write_vtk, surface=ss[0], options=o))
                continue
            fig = draw(ss, kind, o)
            for fmt in o.formats:
                written.append(_atomic(out / f"{stem}.{kind}.{fmt}", fig.savefig, format=fmt, dpi=o.dpi))
    return written


def render_file(path: str | Path, options: PlotOptions = PlotOptions(),
                out_dir: str | Path | None = None) -> list[Path]:
    """Draw each kind of `options` for one surface file into `<stem>.<kind>.<fmt>` (`<stem>.vtk`)
    next to it or under `out_dir`; stem: the file name without `.h5` and a trailing `.surface`.
    Default kinds: contour, filled, surface (2-D) or line (1-D). Returns the paths written."""
    s = store.read_surface(path)
    return _render([s], options, _out_dir(out_dir, s.path.parent), _stem(s.path))


def render_compare(paths: Sequence[str | Path], options: PlotOptions = PlotOptions(),
                   out_dir: str | Path | None = None) -> list[Path]:
    """Several surfaces side by side on one shared color scale (1-D: overlaid lines), written to
    `compare.<kind>.<fmt>` in `out_dir` (default: the first file's folder)."""
    if len(paths) < 2:
        raise LandscapeError("compare needs at least two surface files")
    ss = [store.read_surface(p) for p in paths]
    return _render(ss, options, _out_dir(out_dir, ss[0].path.parent), "compare")
