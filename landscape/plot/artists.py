"""Axes-level drawing of arrays: each function draws into the `ax` it is given (or a new
figure's when None) and returns what it drew; none touches pyplot.

- planes: `contour` (labelled lines), `filled`, `heatmap` (one cell per point), `surface3d`
  (cut cleanly at the clip height), `mark_missing` (hatching of points not computed or diverged);
- curves: `line` (the paper's 1-D loss and accuracy), `mark_missing_1d`, `spectral_density`;
- the basins' persistence `barcode`.

Arrays follow the store's orientation: z has shape (len(y), len(x)), z[j, i] at (x[i], y[j]).
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PolyCollection, QuadMesh
from matplotlib.colors import BoundaryNorm, Colormap, Normalize
from matplotlib.container import BarContainer
from matplotlib.contour import QuadContourSet
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter
from mpl_toolkits.mplot3d.art3d import Poly3DCollection
from numpy.typing import ArrayLike

from landscape.export import clip
from landscape.export.clip import clipped_mesh, masked
from landscape.plot.labels import label_contours, legend_below
from landscape.plot.scales import contour_levels, extend_for, fmt_value, spread, value_formatter, value_range
from landscape.plot.style import POINT, STYLE, line_cmap


def _axes(ax: Axes | None, size: tuple[float, float] = STYLE.size_2d, projection: str | None = None) -> Axes:
    return ax if ax is not None else Figure(figsize=size, layout="constrained").add_subplot(projection=projection)


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
        ax.plot(x[i], y[j], marker="*", ms=STYLE.star_size, color=STYLE.best_color, gid="best", clip_on=False,
                **(POINT | {"zorder": 5.5, "mec": STYLE.paper}))  # over the dot: the dot never hides the star
    if x.min() <= 0 <= x.max() and y.min() <= 0 <= y.max():
        ax.plot(0, 0, marker="o", ms=STYLE.origin_size, color=STYLE.ink, gid="origin", **(POINT | {"mec": STYLE.paper}))


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
    ax, z = _axes(ax), masked(z)
    levels = contour_levels(z) if levels is None else np.asarray(levels, dtype=np.float64)
    cm = mpl.colormaps[cmap or STYLE.cmap] if not isinstance(cmap, Colormap) else cmap
    norm = norm or Normalize(*spread(float(levels[0]), float(levels[-1])))
    cs = ax.contour(x, y, z, levels=levels, norm=norm, cmap=line_cmap(cm), linewidths=STYLE.line_width)
    _frame(ax, x, y, z, best)
    if labels:
        label_contours(cs, fmt=value_formatter(log))
    return cs


def filled(x: ArrayLike, y: ArrayLike, z: ArrayLike, ax: Axes | None = None, levels: ArrayLike | None = None,
           norm: Normalize | None = None, cmap: str | Colormap | None = None, best: str | None = "min",
           extend: str | None = None) -> QuadContourSet:
    """Filled contours; values beyond the levels get the end colors (`extend`, by default from z)."""
    ax, z = _axes(ax), masked(z)
    lo, hi = value_range(z)
    levels = np.asarray(contour_levels(z) if levels is None else levels, dtype=np.float64)
    if len(levels) < 2:  # contourf needs two boundaries
        levels = np.unique(np.concatenate([levels, spread(lo, hi)]))
    cs = ax.contourf(x, y, z, levels=levels, norm=norm, cmap=cmap or STYLE.cmap,
                     extend=extend or extend_for(levels, lo, hi))
    cs.set_rasterized(True)  # a vector file gets one image of the bands: no seams between them, text stays text
    _frame(ax, x, y, z, best)
    return cs


def heatmap(x: ArrayLike, y: ArrayLike, z: ArrayLike, ax: Axes | None = None, norm: Normalize | None = None,
            cmap: str | Colormap | None = None, best: str | None = "min", levels: ArrayLike | None = None) -> QuadMesh:
    """One colored cell per grid point (no interpolation); returns the QuadMesh. By default the
    colour bands are the contour levels (`levels`, default as for `contour`), so the basin is not
    one colour next to a single high value."""
    ax, z = _axes(ax), masked(z)
    if norm is None:
        lo, hi = value_range(z)
        levels = contour_levels(z) if levels is None else np.asarray(levels, dtype=np.float64)
        cm = mpl.colormaps[cmap or STYLE.cmap] if not isinstance(cmap, Colormap) else cmap
        norm = (BoundaryNorm(levels, cm.N, extend=extend_for(levels, lo, hi)) if 2 <= len(levels) < cm.N
                else Normalize(*spread(lo, hi)))
    mesh = ax.pcolormesh(x, y, z, shading="nearest", norm=norm, cmap=cmap or STYLE.cmap,
                         rasterized=True)  # no hairline seams between cells in a PDF; a small SVG
    _frame(ax, x, y, z, best, cells=True)
    return mesh


MAX_SMOOTH_POINTS = 1_000_000  # a smooth mesh of at most this many points (a 201 x 201 grid: 4 x 4 per cell)


def resampled(x: np.ndarray, y: np.ndarray, z: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The grid refined k times along each axis (fewer if the mesh would pass MAX_SMOOTH_POINTS)
    by a cubic spline through every point, each new value kept within its cell's four corners
    (no ringing: a spike stays a spike, a bowl's floor never dips below its points); unchanged
    when a point is missing (NaN) or a side has fewer than 4 points."""
    k = min(k, int(np.sqrt(MAX_SMOOTH_POINTS / (len(x) * len(y)))))
    if not np.isfinite(z).all() or min(len(x), len(y)) < 4 or k < 2:
        return x, y, z
    from scipy.interpolate import RectBivariateSpline

    xo, yo = np.argsort(x), np.argsort(y)
    xs, ys, zs = x[xo], y[yo], z[np.ix_(yo, xo)]
    fx = np.linspace(xs[0], xs[-1], (len(x) - 1) * k + 1)
    fy = np.linspace(ys[0], ys[-1], (len(y) - 1) * k + 1)
    fz = RectBivariateSpline(ys, xs, zs, kx=3, ky=3, s=0)(fy, fx)
    corners = np.stack([zs[:-1, :-1], zs[:-1, 1:], zs[1:, :-1], zs[1:, 1:]])  # (4, ny - 1, nx - 1)
    cj = np.minimum(np.searchsorted(ys, fy, side="right") - 1, len(ys) - 2).clip(0)
    ci = np.minimum(np.searchsorted(xs, fx, side="right") - 1, len(xs) - 2).clip(0)
    lo, hi = corners.min(axis=0)[np.ix_(cj, ci)], corners.max(axis=0)[np.ix_(cj, ci)]
    return fx, fy, np.clip(fz, lo, hi)


def lit(polys: np.ndarray, rgba: np.ndarray, elev: float, azim: float, ranges: tuple[float, float, float]) -> np.ndarray:
    """Face colours shaded by a light from above the viewer's left shoulder (as the paper's
    rendered surfaces): each polygon's normal, in the box's proportions, against the light;
    ambient 0.45 so that no face goes black. polys (k, 4, 3), rgba (k, 4)."""
    v = polys / np.asarray(ranges, dtype=np.float64)
    n = np.cross(v[:, 2] - v[:, 0], v[:, 3] - v[:, 1])  # the diagonals: quads and triangles (last vertex repeated)
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    n *= np.where(n[:, 2:3] < 0, -1.0, 1.0)  # normals point up
    az, alt = np.deg2rad(azim + 60.0), np.deg2rad(min(80.0, elev + 25.0))
    light = np.array([np.cos(alt) * np.cos(az), np.cos(alt) * np.sin(az), np.sin(alt)])
    shade = 0.45 + 0.55 * np.clip(n @ light, 0.0, 1.0)
    out = rgba.copy()
    out[:, :3] *= shade[:, None]
    return out


def surface3d(x: ArrayLike, y: ArrayLike, z: ArrayLike, ax: Axes | None = None, zmax: float | None = None,
              elev: float | None = None, azim: float | None = None, cmap: str | Colormap | None = None,
              norm: Normalize | None = None, smooth: int | None = None) -> Poly3DCollection:
    """3-D surface coloured by height and lit (a light above the viewer's left shoulder), cut at
    `zmax` (None: automatic, see `export.clip`) by a plane: the parts above are left out with a
    clean edge; viewed from `elev`/`azim` degrees; masked points become holes. `smooth`: each
    cell resampled into smooth x smooth by a cubic spline through the points (a smooth render;
    the points themselves unchanged). Rasterized inside vector files (no facets or seams). `ax`
    must be 3-D. Returns the collection (a ScalarMappable for a colorbar)."""
    ax, z = _axes(ax, STYLE.size_3d, "3d"), masked(z)
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    lo, _ = value_range(z)
    cap = clip.cap(z, zmax, False)
    norm = norm or Normalize(*spread(min(lo, cap), cap))
    elev = STYLE.elev if elev is None else elev
    azim = STYLE.azim if azim is None else azim
    fx, fy, fz = resampled(x, y, z.filled(np.nan), smooth or 1)
    polys, heights = clipped_mesh(fx, fy, fz, cap)
    cm = mpl.colormaps[cmap or STYLE.cmap] if not isinstance(cmap, Colormap) else cmap
    ranges = (float(np.ptp(x)) or 1.0, float(np.ptp(y)) or 1.0, float(norm.vmax - norm.vmin) or 1.0)
    faces = lit(polys, cm(norm(heights)), elev, azim, ranges)
    # edges in the face colour hide the seams between the facets
    surf = Poly3DCollection(polys, facecolors=faces, edgecolors=faces, linewidth=0.2, antialiased=True,
                            gid="surface", rasterized=True)
    surf.set_cmap(cm)  # the scale the faces were coloured on (no array: the faces keep their lit colours)
    surf.set_norm(norm)
    ax.add_collection3d(surf, autolim=False)  # limits are set below
    ax.set_xlim(x.min(), x.max())
    ax.set_ylim(y.min(), y.max())
    ax.set_zlim(norm.vmin, norm.vmax)
    ax.view_init(elev, azim)
    round_ticks = dict(steps=[1, 2, 5, 10])
    for axis, n in ((ax.xaxis, 4), (ax.yaxis, 4), (ax.zaxis, z_ticks(elev))):
        axis.set_major_locator(MaxNLocator(n, **round_ticks))
        axis.set_major_formatter(FuncFormatter(lambda v, _: minus(fmt_value(round(v, 12)))))  # 1, 0.5
    return surf


def minus(text: str) -> str:
    """A number's text with the typographic minus, as matplotlib writes ticks (unless the font lacks it)."""
    return text.replace("-", "\u2212") if mpl.rcParams["axes.unicode_minus"] else text


def z_ticks(elev: float) -> int:
    """How many z ticks a 3-D box has room for: the z axis shortens as the view rises."""
    return 5 if abs(elev) < 40 else 3 if abs(elev) < 55 else 2


def line(x: ArrayLike, loss: ArrayLike, acc: ArrayLike | None = None, ax: Axes | None = None, *,
         twin: Axes | None = None, log: bool = False, label: str = "", color: str | None = None,
         loss_label: str = "loss", acc_label: str = "accuracy (%)", legend: bool = True,
         origin: bool = True, ls: str = "-", acc_color: str | None = None, entries: tuple[str, str] | None = None
         ) -> list[Line2D]:
    """The paper's 1-D plot: loss (blue) on the left y-axis, accuracy (red) on a twin right axis
    (`twin` reuses one, to overlay several curves: the paper draws one line style `ls` per split).
    The accuracy breaks where the loss cannot be drawn (a diverged point is no accuracy).
    `log` puts the loss axis on a log scale, ticks written as values (0.01). Markers only on
    isolated points (a partial file) and on short curves (up to 25 points). `origin`: a dot on
    each curve at x = 0 (the model itself). `entries`: the legend's texts of the two curves
    (default: `label`: loss_label). With `legend`, the legend goes below the axes."""
    ax = _axes(ax, STYLE.size_line)
    x = np.asarray(x, dtype=np.float64)
    loss = masked(loss)
    value_range(loss)
    prefix = f"{label}: " if label else ""
    entries = entries or (prefix + loss_label, prefix + acc_label)
    ok = ~np.ma.getmaskarray(loss)
    lc, ac = color or STYLE.loss_color, acc_color or color or STYLE.acc_color
    (ll,) = ax.plot(x, loss, color=lc, ls=ls, lw=1.5 * STYLE.line_width, label=entries[0], **_marks(ok))
    ax.set_ylabel(loss_label, color=lc if color is None or acc_color is not None else STYLE.ink)
    if log:
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt_value(v)))
        ax.yaxis.set_minor_formatter(NullFormatter())
    lines = [ll]
    if acc is not None:
        twin = twin or ax.twinx()
        a = np.ma.masked_where(~ok, masked(acc))
        (la,) = twin.plot(x, a, color=ac, ls=ls, lw=1.5 * STYLE.line_width, label=entries[1],
                          **_marks(~np.ma.getmaskarray(a)))
        twin.set_ylabel(acc_label, color=ac if color is None or acc_color is not None else STYLE.ink)
        lines.append(la)
    if origin:
        for ln in lines:
            at = _value_at_zero(x, np.ma.masked_invalid(np.ma.asarray(ln.get_ydata(), dtype=np.float64)))
            if at is not None:
                ln.axes.plot(0.0, at, marker="o", ms=STYLE.track_size, color=STYLE.ink, gid="origin",
                             **(POINT | {"mec": STYLE.paper}))
    if legend:
        line_legend(lines)
    return lines


def _marks(ok: np.ndarray) -> dict[str, Any]:
    """Markers of a curve whose drawable points are `ok`: every point of a short curve, else only
    the isolated ones (no neighbour to join), which a line alone would not show."""
    if len(ok) <= 25:
        return {"marker": "o", "ms": STYLE.point_size}
    left = np.concatenate([[False], ok[:-1]])
    right = np.concatenate([ok[1:], [False]])
    alone = np.flatnonzero(ok & ~left & ~right)
    return {"marker": "o", "ms": STYLE.point_size, "markevery": alone.tolist()} if len(alone) else {}


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


def line_legend(lines: Sequence[Any]) -> Any:
    """One legend for the curves of both y axes (see `legend_below`); returns it."""
    return legend_below(lines[0].axes, lines)


def mark_missing_1d(ax: Axes, x: ArrayLike, computed: ArrayLike, finite: ArrayLike | None = None) -> list[Any]:
    """Hatch the stretches of a 1-D grid that are not computed yet (grey, gid "missing") and the
    computed points whose loss is inf, NaN or huge (red, gid "diverged"): each point's cell,
    half-way to its neighbours."""
    x = np.asarray(x, dtype=np.float64)
    computed = np.asarray(computed, dtype=bool)
    finite = np.ones_like(computed) if finite is None else np.asarray(finite, dtype=bool)
    xe = _edges(x, cells=False)
    spans = []
    looks = ((~computed, STYLE.missing_face, STYLE.missing_hatch, STYLE.missing_ink, "missing"),
             (computed & ~finite, STYLE.diverged_face, STYLE.diverged_hatch, STYLE.diverged_ink, "diverged"))
    for mask, face, hatch, ink, gid in looks:
        edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
        with mpl.rc_context({"hatch.color": ink, "hatch.linewidth": 0.6}):
            for i0, i1 in zip(edges[::2], edges[1::2]):
                spans.append(ax.axvspan(xe[i0], xe[i1], facecolor=face, edgecolor="none", lw=0, hatch=hatch,
                                        zorder=0.5, gid=gid))
    return spans


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
    if ticks:  # as tall as a bar, in data units: many rows never stack them into one black line
        ax.add_collection(LineCollection([[(t, k - 0.36), (t, k + 0.36)] for t, k in ticks], colors=STYLE.ink,
                                         linewidths=1.1 * STYLE.scale, gid="threshold", zorder=3), autolim=False)
    if log:
        ax.set_xscale("log")
    ax.set_xlim(right=right)
    ax.set_ylim(max(len(shown), 1) - 0.4, -0.6)  # no empty rows: the figure is as tall as its bars
    ax.set_yticks([])
    ax.set_ylabel("basins, deepest first")
    ax.set_xlabel(label)
    hidden = len(basins) - len(shown)
    n = int(topology.count)
    caption = (f"{n} basin{'s' if n != 1 else ''} above the threshold; smoothness {topology.smoothness:.2f} "
               "(1:\u00a0a\u00a0plane,\u00a00:\u00a0noise)"  # the definition wraps as a whole
               + (f"; {hidden} shorter bar{'s' if hidden != 1 else ''} not shown" if hidden > 0 else ""))
    size = STYLE.note_size + STYLE.scale
    width = max(20, int(ax.figure.get_figwidth() / max(1, len(ax.figure.axes)) * 0.9 * 72 / (0.55 * size)))
    ax.set_title(textwrap.fill(caption, width=width), loc="left", fontsize=size)  # wrapped: never off the edge
    if legend:
        legend_below(ax, barcode_handles(thr, [topology], max_bars))
    return bars


def barcode_handles(threshold: float | None, topologies: Sequence[Any] = (), max_bars: int = STYLE.max_bars
                    ) -> list[Any]:
    """The barcode's legend: counted and uncounted basins, and the threshold tick; given the
    `topologies` drawn, only the entries that have bars (a lone counted basin: no grey entry)."""
    tick = Line2D([], [], ls="none", marker="|", ms=8 * STYLE.scale, mew=1.1, color=STYLE.ink,
                  label="threshold" if threshold is None else f"threshold: minimum + {fmt_value(threshold)}")
    counted = Patch(color=STYLE.loss_color, label="counted basin")
    grey = Patch(color="0.78", label="below the threshold")
    if not topologies:
        return [counted, grey, tick]
    shown = [b for t in topologies for b in sorted(t.basins, key=lambda b: -b.persistence)[:max_bars]]
    thr = [float(t.threshold) for t in topologies]
    has_counted = any(b.persistence > min(thr) for b in shown)
    has_grey = any(b.persistence <= max(thr) for b in shown)
    return [h for h, keep in ((counted, has_counted), (grey, has_grey), (tick, True)) if keep]


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
