"""Topology of a 2-D loss surface: its basins (0-dimensional persistence of sublevel sets) and a
smoothness score, the two things the paper reads off its contour plots by eye (Li et al.,
arXiv:1712.09913, Sec. 5-6: how many basins, how chaotic the surface is).

A surface `z` has shape (ny, nx) and is indexed [row = y, column = x] (see `store`). Cells whose
value is not finite (not computed, or a diverged loss) are holes: they belong to no basin and
connect nothing.

Persistence: the finite cells are added in order of increasing value, ties broken by flat index,
and joined to their already-added neighbours with a union-find. A cell with no lower neighbour
starts a basin at its value (the basin's minimum); when a cell joins components, every one
but the one with the lowest minimum (the elder rule) dies there, and the cell's value is that
basin's saddle. The deepest basin of each connected component never dies (saddle = inf).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from landscape.errors import LandscapeError

DEFAULT_FRACTION = 0.05
"""Default basin threshold: this fraction of the range (max - min) of the finite values."""

_OFFSETS = {
    4: ((-1, 0), (1, 0), (0, -1), (0, 1)),
    8: ((-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1)),
}


@dataclass(frozen=True)
class Basin:
    """A basin of the surface: born at its minimum, merged into a deeper one at its saddle."""

    minimum: float  # lowest value of the basin
    saddle: float  # value where it merges into a deeper basin; math.inf for the deepest of a component
    index: tuple[int, int]  # [j, i] grid index of its minimum

    @property
    def persistence(self) -> float:
        """Depth below the pass that leads to a deeper basin; inf for an essential basin."""
        return self.saddle - self.minimum

    @property
    def essential(self) -> bool:
        """The deepest basin of its connected component: it never merges."""
        return math.isinf(self.saddle)


@dataclass(frozen=True)
class Topology:
    """The basins of a surface, how many stand out, and how smooth it is."""

    basins: tuple[Basin, ...]  # every basin of positive persistence, deepest (lowest minimum) first
    threshold: float  # a basin counts when its persistence exceeds this
    count: int  # basins with persistence > threshold; essential ones always count
    smoothness: float  # in [0, 1], see `smoothness`

    @property
    def counted(self) -> tuple[Basin, ...]:
        """The basins that make up `count`, deepest first."""
        return tuple(b for b in self.basins if b.persistence > self.threshold)


def _check_surface(z: np.ndarray) -> np.ndarray:
    """`z` as a float array, or a LandscapeError naming what is wrong with it."""
    z = np.asarray(z, dtype=float)
    if z.ndim != 2:
        raise LandscapeError(f"basins need a 2-D surface of shape (ny, nx), got {z.ndim}-D shape {z.shape}: use a 2-D surface file")
    if z.shape[0] < 2 or z.shape[1] < 2:
        raise LandscapeError(f"basins need at least 2 points along each axis, got shape {z.shape}: compute a larger grid")
    if not np.isfinite(z).any():
        raise LandscapeError("the surface has no finite value: compute some points (or check for a diverged loss) first")
    return z


def _check_connectivity(connectivity: int) -> tuple[tuple[int, int], ...]:
    if connectivity not in _OFFSETS:
        raise LandscapeError(f"connectivity must be 4 (edges) or 8 (edges and corners), got {connectivity!r}")
    return _OFFSETS[connectivity]


def _neighbours(shape: tuple[int, int], offsets: tuple[tuple[int, int], ...]) -> np.ndarray:
    """(ny*nx, k) flat indices of each cell's neighbours, -1 where the neighbour is off the grid."""
    ny, nx = shape
    jj, ii = np.indices(shape)  # (ny, nx) each
    out = np.full((ny * nx, len(offsets)), -1, dtype=np.int64)
    for k, (dj, di) in enumerate(offsets):
        j, i = jj + dj, ii + di
        inside = (j >= 0) & (j < ny) & (i >= 0) & (i < nx)
        out[:, k] = np.where(inside, j * nx + i, -1).ravel()
    return out


def persistence(z: np.ndarray, connectivity: int = 8) -> list[Basin]:
    """Every basin of positive persistence of the sublevel sets of `z` (ny, nx), deepest first.

    Basins of zero persistence are left out: they only arise when the tie-breaking order splits
    a plateau of equal values, which merges again at that same value. Non-finite cells are holes.
    """
    z = _check_surface(z)
    offsets = _check_connectivity(connectivity)
    flat = z.ravel()
    n = flat.size
    finite = np.isfinite(flat)
    order = np.flatnonzero(finite)
    order = order[np.argsort(flat[order], kind="stable")]  # by (value, flat index)
    rank = np.full(n, n, dtype=np.int64)  # holes rank after every finite cell, so never "earlier"
    rank[order] = np.arange(order.size)

    nb = _neighbours(z.shape, offsets)  # (n, k)
    nb_rank = np.where(nb >= 0, rank[np.maximum(nb, 0)], n)
    earlier = np.where(nb_rank < rank[:, None], nb, -1)[order].tolist()  # already-added neighbours

    values = flat.tolist()
    ranks = rank.tolist()
    parent = list(range(n))  # a root is the minimum cell of its component
    deaths: list[tuple[int, float]] = []  # (minimum cell, saddle value)
    for c, nbrs in zip(order.tolist(), earlier):
        roots = set()
        for r in nbrs:
            if r < 0:
                continue
            while parent[r] != r:  # find, with path halving
                parent[r] = parent[parent[r]]
                r = parent[r]
            roots.add(r)
        if not roots:
            continue  # a new basin, rooted at c
        elder = min(roots, key=ranks.__getitem__)
        for r in roots:
            if r != elder:
                parent[r] = elder
                deaths.append((r, values[c]))
        parent[c] = elder

    nx = z.shape[1]
    basins = [Basin(values[m], s, divmod(m, nx)) for m, s in deaths if s > values[m]]
    basins += [Basin(values[m], math.inf, divmod(m, nx)) for m in order.tolist() if parent[m] == m]
    basins.sort(key=lambda b: (b.minimum, b.index))
    return basins


def smoothness(z: np.ndarray) -> float:
    """1 for a plane, about 0 for white noise: clip(1 - rho/sqrt(3), 0, 1).

    rho = rms(second differences of z) / rms(first differences of z), the differences taken
    along x and along y wherever every point they involve is finite. Second differences vanish
    on a plane; for i.i.d. noise of variance s^2 a second difference has variance 6 s^2 and a
    first one 2 s^2, so rho ~ sqrt(3) on any grid size (root mean squares, not sums, so a small
    grid's fewer second differences do not bias it). A constant surface scores 1.
    """
    z = _check_surface(z)
    d1 = np.concatenate([np.diff(z, 1, axis=a).ravel() for a in (0, 1)])
    d2 = np.concatenate([np.diff(z, 2, axis=a).ravel() for a in (0, 1)])  # NaN where a point involved is not finite
    d1, d2 = d1[np.isfinite(d1)], d2[np.isfinite(d2)]
    first, second = _rms(d1), _rms(d2)
    if first == 0.0:
        return 1.0
    return float(np.clip(1.0 - second / first / math.sqrt(3.0), 0.0, 1.0))


def _rms(v: np.ndarray) -> float:
    """Root mean square, scaled first so that values near 1e300 do not overflow when squared."""
    m = float(np.abs(v).max()) if len(v) else 0.0
    return m * math.sqrt(float(np.mean((v / m) ** 2))) if m > 0 and np.isfinite(m) else m


def default_threshold(z: np.ndarray) -> float:
    """DEFAULT_FRACTION (5%) of the range of the finite values of `z`."""
    finite = z[np.isfinite(z)]
    return DEFAULT_FRACTION * float(finite.max() - finite.min())


def topology(z: np.ndarray, threshold: float | None = None, connectivity: int = 8) -> Topology:
    """Basins, basin count and smoothness of `z` (ny, nx).

    A basin counts when its persistence exceeds `threshold` (an absolute loss difference);
    None means 5% of the range of the finite values. Essential basins always count.
    """
    z = _check_surface(z)
    if threshold is None:
        threshold = default_threshold(z)
    elif not (math.isfinite(threshold) and threshold >= 0):
        raise LandscapeError(f"the basin threshold must be a finite number >= 0, got {threshold}: give a loss difference")
    basins = persistence(z, connectivity)
    count = sum(1 for b in basins if b.persistence > threshold)
    return Topology(tuple(basins), float(threshold), count, smoothness(z))


def summary(topo: Topology, x: np.ndarray, y: np.ndarray, others: int = 3) -> str:
    """One line for `landscape info`: the basin count, the deepest basin and where it is, up to
    `others` further counted basins, and the smoothness. `x` (nx,) and `y` (ny,) are the grid's
    coordinates."""
    x, y = np.asarray(x), np.asarray(y)

    def at(b: Basin) -> str:
        j, i = b.index
        if j >= len(y) or i >= len(x):
            raise LandscapeError(f"basin at index [{j}, {i}] lies outside the coordinates ({len(y)} y, {len(x)} x): pass the surface's own x and y")
        return f"{b.minimum:.4g} at ({x[i]:g}, {y[j]:g})"

    counted = topo.counted
    text = f"basins    {topo.count} (persistence > {topo.threshold:.3g}); deepest {at(counted[0])}"
    if len(counted) > 1:
        rest = ", ".join(at(b) for b in counted[1 : 1 + others])
        more = f" and {len(counted) - 1 - others} more" if len(counted) - 1 > others else ""
        text += f"; others {rest}{more}"
    return text + f"; smoothness {topo.smoothness:.2f}"
