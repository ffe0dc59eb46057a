"""What every output draws of a surface's values, and where it cuts them.

- `drawable`: values that can be drawn at all (finite, within ±MAX_DRAWN); the rest are
  "diverged" in the figures and holes in the exports.
- `scaled`: the values as heights (log10 with `log`), masked where they cannot be drawn.
- `cap` / `clip_height`: the one clip height of the 3-D surface, the VTK grid, the meshes and
  the page's 3-D view (never a 2-D map): `zmax` if given, else q95 + (q95 - q5) of the values
  when the values above reach a decade beyond the bulk (single huge outliers are cut; an
  ordinary bowl, however steep, is not); inf: no clip.
- `clipped_mesh`: the surface's cells cut by the plane z = cap with a clean edge, as the 3-D
  figure, the meshes and the page draw it.
- `heights`: the metric of a surface as the meshes and the page draw it, NaN where left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from landscape.errors import LandscapeError, arg
from landscape.store import Surface, metric_label

MAX_DRAWN = 1e100  # values beyond ±this are drawn as diverged, like inf: no axis or colour scale spans them


def drawable(v: ArrayLike) -> np.ndarray:
    """Where values can be drawn: finite and within ±MAX_DRAWN."""
    a = np.asarray(v, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.isfinite(a) & (np.abs(a) <= MAX_DRAWN)


def masked(z: ArrayLike) -> np.ma.MaskedArray:
    """z as float64, masked where it cannot be drawn (also where it was masked already)."""
    a = np.ma.asarray(z, dtype=np.float64)
    return np.ma.masked_where(~drawable(a.filled(np.nan)), a)


def scaled(v: ArrayLike, log: bool) -> np.ma.MaskedArray:
    """The values as heights: log10 with `log` (of the drawable values; a loss <= 0 has none),
    masked where they cannot be drawn."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return masked(np.where(drawable(v), np.log10(v), np.nan) if log else v)


SPAN = 10.0  # the automatic clip cuts only values reaching this many times the bulk's height (a decade)


def auto_zmax(z: np.ma.MaskedArray, log: bool = False) -> float:
    """The default clip height of heights z (log10 with `log`): q95 + (q95 - q5), but only when
    the values above it reach a decade beyond the bulk (highest - lowest at least SPAN times the
    cut's height above the lowest; with `log`, a whole decade above the cut). Otherwise the
    maximum: an ordinary bowl, however steep, is never notched."""
    v = z.compressed()
    q5, q95 = np.percentile(v, [5, 95])
    top, lo = float(v.max()), float(v.min())
    cut = float(q95 + (q95 - q5))
    spans = top >= cut + 1.0 if log else top - lo >= SPAN * (cut - lo)
    return min(top, cut) if spans else top


def cap(z: np.ma.MaskedArray, zmax: float | None, log: bool) -> float:
    """The clip height in the units of heights z (log10 with `log`): zmax (in the metric's
    units), or automatic (`auto_zmax`) when None; never above the highest value."""
    hi = float(z.max())
    return min(hi, auto_zmax(z, log) if zmax is None else float(np.log10(zmax) if log else zmax))


def clip_height(z: np.ma.MaskedArray, zmax: float | None, log: bool) -> float | None:
    """Where heights z are cut, in the metric's units (a loss even with `log`): `cap`, or None
    when nothing lies above it or `zmax` is inf."""
    if zmax == np.inf:
        return None
    top = cap(z, zmax, log)
    if top >= float(z.max()):
        return None
    return float(10.0 ** top) if log else top


# ---------------------------------------------------------------- heights of the exports


@dataclass(frozen=True)
class Heights:
    """What a writer draws: the metric's raw values and its heights (log10 with `log`), NaN
    where a point is left out (not computed, non-finite, or clipped)."""

    name: str  # the value's name in the file, e.g. "train_loss"
    raw: np.ndarray  # the metric as stored (NaN where not computed), grid shape
    z: np.ndarray  # heights, grid shape; NaN: left out
    log: bool
    zmax: float | None  # the clip in the metric's units; None: no clip

    @property
    def label(self) -> str:
        return ("log10 " if self.log else "") + metric_label(self.name)

    @property
    def clip_text(self) -> str:
        if self.zmax is None:
            return "none"
        return f"values above {self.zmax:g} left out"


def is_loss(name: str) -> bool:
    """Whether the value `name` is a loss ("loss", "train_loss"): the only one with a log scale."""
    return name == "loss" or name.endswith("_loss")


def check(name: str, log: bool, zmax: float | None) -> None:
    """Raise LandscapeError if `log` or the clip height `zmax` cannot apply to the value `name`."""
    if log and not is_loss(name):
        raise LandscapeError(f"{arg('log', True)} applies to the loss only, not {name}; drop {arg('log', True)} or "
                             f"use {arg('metric', 'loss')}", field="log")
    if zmax is not None and (np.isnan(zmax) or zmax == -np.inf):
        raise LandscapeError(f"{arg('zmax')} must be a number, got {zmax}", field="zmax")
    if log and zmax is not None and zmax <= 0:
        raise LandscapeError(f"{arg('zmax')} must be > 0 with {arg('log', True)} (it is a loss), got {zmax}",
                             field="zmax")


def heights(surface: Surface, metric: str = "loss", log: bool = False, zmax: float | None = None) -> Heights:
    """The metric of `surface` as heights, cut above `zmax` (the metric's units; None or inf: no
    cut); raises LandscapeError if nothing is left to draw."""
    name, raw = surface.metric(metric)
    check(name, log, zmax)
    if zmax == np.inf:
        zmax = None
    raw = np.where(surface.computed, np.asarray(raw, dtype=np.float64), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.log10(raw) if log else raw.copy()
        keep = np.isfinite(z) & (raw <= zmax if zmax is not None else True)
    z[~keep] = np.nan
    if not keep.any():
        done = int(surface.computed.sum())
        why = ("no point is computed yet" if done == 0 else
               f"of {done} computed points none is finite{' and at most ' + arg('zmax') if zmax is not None else ''}")
        raise LandscapeError(f"{surface.name}: nothing to export: {why}",
                             field="zmax" if done and zmax is not None else None)
    return Heights(name, raw, z, log, None if zmax is None else float(zmax))


def clipped_mesh(x: np.ndarray, y: np.ndarray, z: np.ndarray, cap: float) -> tuple[np.ndarray, np.ndarray]:
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
