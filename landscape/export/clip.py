"""What every output draws of a surface's values, and where it cuts them.

- `drawable`: values that can be drawn at all (finite, within ±MAX_DRAWN); the rest are
  "diverged" in the figures and holes in the exports.
- `scaled`: the values as heights (log10 with `log`), masked where they cannot be drawn.
- `cap` / `clip_height`: the one clip height of the 3-D surface, the VTK grid, the meshes and
  the page: `zmax` if given, else q95 + (q95 - q5) of the values (no effect on an ordinary bowl,
  cuts single huge outliers); inf: no clip.
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


def auto_zmax(z: np.ma.MaskedArray) -> float:
    """The default clip height of heights z: q95 + (q95 - q5), or the maximum if that is lower."""
    q5, q95 = np.percentile(z.compressed(), [5, 95])
    return float(min(z.max(), q95 + (q95 - q5)))


def cap(z: np.ma.MaskedArray, zmax: float | None, log: bool) -> float:
    """The clip height in the units of heights z (log10 with `log`): zmax (in the metric's
    units), or automatic (`auto_zmax`) when None; never above the highest value."""
    hi = float(z.max())
    return min(hi, auto_zmax(z) if zmax is None else float(np.log10(zmax) if log else zmax))


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
