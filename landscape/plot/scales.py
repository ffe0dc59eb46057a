"""The colour scale of a figure and how its values read: contour levels (the paper's, round
ones, or round losses with `log`), the norm every panel shares, the 3-D clip height, ticks at
round losses on a log10 axis, and values written as people write them.

With `log`, positions are log10 of the loss; everything shown to the reader (levels, colorbar
ticks, contour labels, the 3-D z axis) is in the metric's units.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.colors import BoundaryNorm, CenteredNorm, Colormap, Normalize
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator
from numpy.typing import ArrayLike

from landscape import store
from landscape.errors import LandscapeError, arg
from landscape.export import clip, levels
from landscape.export.levels import fmt_value
from landscape.export.clip import masked
from landscape.plot.options import Metric, PlotOptions
from landscape.plot.style import STYLE


def value_range(z: np.ma.MaskedArray) -> tuple[float, float]:
    """(lowest, highest) drawable value; LandscapeError when there is none."""
    if z.count() == 0:
        raise LandscapeError("no computed points to plot; compute some points first")
    return float(z.min()), float(z.max())


def spread(lo: float, hi: float) -> tuple[float, float]:
    """An interval of non-zero width around a flat range (a constant surface)."""
    if hi - lo > 1e-12 * max(1.0, abs(lo)):
        return lo, hi
    d = 0.05 * abs(lo) or 0.05
    return lo - d, hi + d


def scaled_limit(v: float | None, log: bool) -> float | None:
    """A limit in the metric's units (vmin, vmax) on the scale's axis: log10 with `log`."""
    return None if v is None else (float(np.log10(v)) if log else float(v))


def geometric(z: ArrayLike, o: PlotOptions, tracked: bool) -> bool:
    """Whether a plane's loss gets log-spaced levels by default: it carries a training path or
    marked models (`tracked`: they sit low, where even levels leave the final descent in one
    band), no levels or limits are asked for, and the loss is positive and spans a decade."""
    if not tracked or o.metric is not Metric.loss or o.log or any(
            v is not None for v in (o.levels, o.vlevel, o.vmin, o.vmax)):
        return False
    lo, hi = value_range(masked(z))
    return lo > 0 and hi / lo >= 10


def contour_levels(z: ArrayLike, o: PlotOptions = PlotOptions(), tracked: bool = False) -> np.ndarray:
    """Contour levels for the (already log10-scaled if o.log) values z; see PlotOptions. On a
    plane with a path or models (`tracked`, see `geometric`): round log-spaced losses (1-2-5 x
    10^k, at least STYLE.min_levels) from the lowest value up, as the paper's trajectory plots."""
    if geometric(z, o, tracked):
        lo, hi = value_range(masked(z))
        return np.round(10.0 ** log_levels(math.log10(lo), math.log10(hi)), 12)
    dlo, dhi = spread(*value_range(masked(z)))
    lo = scaled_limit(o.vmin, o.log) if o.vmin is not None else dlo
    hi = scaled_limit(o.vmax, o.log) if o.vmax is not None else dhi
    if o.levels is not None:
        return np.linspace(lo, hi, o.levels + 2)[1:-1]
    if o.log and o.vlevel is None:
        return log_levels(max(lo, dlo), min(hi, dhi))
    plain = o.metric is Metric.loss and not o.log
    step = o.vlevel or (STYLE.paper_levels[2] if plain else None)
    if step is not None:
        anchor = lo if o.vmin is not None else (STYLE.paper_levels[0] if plain else 0.0)
        top = min(hi, STYLE.paper_levels[1]) if plain and o.vmax is None else hi
        k0, k1 = np.ceil((max(lo, dlo) - anchor) / step - 1e-9), np.floor((min(top, dhi) - anchor) / step + 1e-9)
        if k1 - k0 > STYLE.max_levels and o.vlevel is not None:
            raise LandscapeError(f"{arg('vlevel', float(step))} gives {k1 - k0:.3g} levels over the data (at most "
                                 f"{STYLE.max_levels}); use a larger step", field="vlevel")
        levels = (np.round(anchor + step * np.arange(k0, k1 + 1), 12) if k0 <= k1 <= k0 + STYLE.max_levels
                  else np.empty(0))  # none, or far too many of the paper's: nice levels below
        if (o.vlevel is not None and len(levels)) or len(levels) >= STYLE.min_levels:
            return levels
    levels = MaxNLocator(STYLE.nice_levels).tick_values(lo, hi)
    return levels[(levels >= lo - 1e-12 * abs(lo)) & (levels <= hi + 1e-12 * abs(hi))]


def log_levels(lo: float, hi: float) -> np.ndarray:
    """Levels (log10 units) at round losses within [lo, hi], at least STYLE.min_levels (`export.levels`)."""
    return levels.log_levels(lo, hi, STYLE.min_levels, STYLE.nice_levels)


def extend_for(levels: np.ndarray, lo: float, hi: float) -> str:
    """Which ends of a colorbar over `levels` the data [lo, hi] runs past ("both", "min", ...)."""
    below, above = lo < levels[0], hi > levels[-1]
    return "both" if below and above else "min" if below else "max" if above else "neither"


def value_formatter(log: bool) -> Callable[[float], str]:
    """Labels in the metric's units: with `log`, positions are log10 of the loss."""
    return (lambda v: fmt_value(10.0 ** v)) if log else fmt_value


def percent(share: float) -> str:
    """A share as a percentage: "2.0%" below 9.5%, "15%" above."""
    return f"{100 * share:.1f}%" if share < 0.095 else f"{100 * share:.0f}%"


def log_ticks(lo: float, hi: float) -> np.ndarray:
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


def loss_axis(axis: Any, lo: float, hi: float) -> None:
    """Put an axis in log10 units into loss units: ticks at round losses, labelled as losses."""
    axis.set_major_locator(FixedLocator(log_ticks(lo, hi)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: fmt_value(10.0 ** v)))
    axis.set_minor_locator(FixedLocator([]))


def value_label(name: str, log: bool = False) -> str:
    """"train_loss" -> "train loss", "test_acc" -> "test accuracy (%)", "eig_min" -> "smallest Hessian eigenvalue"."""
    return store.metric_label(name) + (" (log scale)" if log else "")


@dataclass(frozen=True)
class Scale:
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
    cap: float  # where the 3-D surface is cut (`export.clip.cap`)
    norm3d: Normalize  # the 3-D surface's colours and z range, up to the cap
    spacing: str = "proportional"  # the colorbar's: "uniform" for log-spaced levels (each band as tall)

    @property
    def fmt(self) -> Callable[[float], str]:
        return value_formatter(self.log)


def scale_of(everything: np.ma.MaskedArray, name: str, o: PlotOptions, tracked: bool = False) -> Scale:
    """The one colour scale of a figure over `everything` (every panel's values, log10 with o.log);
    `tracked`: a plane with a path or models (log-spaced levels by default, see `contour_levels`)."""
    lo, hi = value_range(everything)
    levels = contour_levels(everything, o, tracked)
    cmap = mpl.colormaps[o.cmap or o.look.cmap]
    extend = extend_for(levels, lo, hi) if len(levels) else "neither"
    vmin, vmax = scaled_limit(o.vmin, o.log), scaled_limit(o.vmax, o.log)
    if o.look.diverging:
        half = max(abs(v) for v in (vmin if vmin is not None else lo, vmax if vmax is not None else hi))
        norm: Normalize = CenteredNorm(0.0, half or 1.0)
    elif len(levels) >= 2 and o.vmin is None and o.vmax is None and len(levels) < cmap.N:
        norm = BoundaryNorm(levels, cmap.N, extend=extend)  # the heatmap's bands are the contour levels
    else:
        low = vmin if vmin is not None else float(levels[0]) if len(levels) else lo
        high = vmax if vmax is not None else float(levels[-1]) if len(levels) else hi
        norm = Normalize(*spread(low, high))
    cap = clip.cap(everything, o.zmax, o.log)
    norm3d: Normalize = (CenteredNorm(0.0, max(abs(lo), abs(cap)) or 1.0) if o.look.diverging
                         else Normalize(*spread(min(lo, cap), cap)))
    return Scale(value_label(name, o.log), levels, norm, cmap, lo, hi, extend, o.look.best, o.log, cap, norm3d,
                 "uniform" if geometric(everything, o, tracked) else "proportional")
