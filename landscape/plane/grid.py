"""The grid of (x, y) coordinates and the order its points are evaluated in."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from landscape.errors import LandscapeError, arg

MAX_COORDINATE = 1e38  # beyond float32's range (3.4e38) a weight x·d cannot be represented at all
MAX_POINTS = 25_000_000  # 5000 × 5000; the arrays of the file take 17 bytes a point


@dataclass(frozen=True)
class Grid:
    """Coordinates along the first direction (x) and, for a 2-D surface, the second (y).

    Points are enumerated row by row: point k is (x[k % nx], y[k // nx]), the order of
    `np.meshgrid(x, y)` raveled, which is also the [row = y, column = x] layout of the file.
    """

    x: tuple[float, ...]
    y: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "x", tuple(float(v) for v in self.x))
        if self.y is not None:
            object.__setattr__(self, "y", tuple(float(v) for v in self.y))
        for name, axis in (("x", self.x), ("y", self.y)):
            if axis is None:
                continue
            if len(axis) == 0:
                raise LandscapeError(f"the {name} axis of the grid has no points", field=name)
            a = np.asarray(axis)
            if not np.isfinite(a).all() or np.abs(a).max() > MAX_COORDINATE:
                raise LandscapeError(f"{arg(name)} coordinates must be finite numbers within ±{MAX_COORDINATE:g} "
                                     "(the range of float32 weights)", field=name)
        if self.size > MAX_POINTS:
            dims = " × ".join(f"{n:,}" for n in reversed(self.shape))
            raise LandscapeError(
                f"a {dims} grid has {self.size:,} points; its arrays would take {17 * self.size / 1e9:,.1f} GB and "
                f"the limit is {MAX_POINTS:,} points: use fewer points per axis (the paper's figures use 51 × 51)"
            )

    @classmethod
    def linspace(cls, x: tuple[float, float, int], y: tuple[float, float, int] | None = None) -> "Grid":
        """`Grid.linspace((-1, 1, 51), (-1, 1, 51))`: evenly spaced points from min to max along each axis."""
        axes = []
        for name, spec in (("x", x), ("y", y)):
            if spec is None:
                axes.append(None)
                continue
            lo, hi, num = spec
            check_axis(float(lo), float(hi), int(num), name)
            axes.append(tuple(np.linspace(float(lo), float(hi), int(num)).tolist()))
        return cls(axes[0], axes[1])

    @property
    def is_2d(self) -> bool:
        return self.y is not None

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of a value array: (ny, nx) for 2-D, (nx,) for 1-D."""
        return (len(self.y), len(self.x)) if self.y is not None else (len(self.x),)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def coords(self, flat: np.ndarray) -> np.ndarray:
        """(P, 2) array of (x, y) for flat point indices (y = 0 on a 1-D grid)."""
        flat = np.asarray(flat, dtype=np.int64)
        xs = np.asarray(self.x)
        nx = len(xs)
        if self.y is None:
            return np.stack([xs[flat], np.zeros(len(flat))], axis=1)
        return np.stack([xs[flat % nx], np.asarray(self.y)[flat // nx]], axis=1)


def check_axis(lo: float, hi: float, num: int, name: str = "x") -> None:
    """A user error unless min ≤ max and the number of points fits them (its `field` is `name`)."""
    problem = _axis_problem(lo, hi, num, name)
    if problem is not None:
        raise LandscapeError(problem, field=name)


def _axis_problem(lo: float, hi: float, num: int, name: str) -> str | None:
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return f"{arg(name)}: min and max must be finite numbers"
    if num < 1:
        return f"{arg(name)}: the number of points must be at least 1"
    if num > MAX_POINTS:
        return f"{arg(name)}: {num:,} points on one axis; the limit for the whole grid is {MAX_POINTS:,}"
    if lo > hi:
        return f"{arg(name)}: min {lo:g} is larger than max {hi:g}"
    if num > 1 and lo == hi:
        return f"{arg(name)}: {num} points need min < max"
    if num == 1 and lo != hi:
        return f"{arg(name)}: one point cannot span {lo:g} to {hi:g}; give min = max (e.g. 0:0:1) or more points"
    return None


@dataclass(frozen=True)
class AutoRange:
    """`--x auto`: the range along each direction where the loss rises by `rise`× from the
    centre, found by a short 1-D search before the grid (recorded in the file)."""

    rise: float = 10.0
    nx: int = 51
    ny: int | None = 51  # None: a 1-D surface
    max_radius: float = 100.0

    def __post_init__(self) -> None:
        if not (self.rise > 1.0 and np.isfinite(self.rise)):
            raise LandscapeError(f"{arg('rise')} must be larger than 1 (a factor over the centre's loss), got {self.rise}")
        if self.nx < 2 or (self.ny is not None and self.ny < 2):
            raise LandscapeError("an automatic range needs at least 2 points per axis")
        if self.nx * (self.ny or 1) > MAX_POINTS:
            raise LandscapeError(f"an automatic range of {self.nx:,} × {self.ny or 1:,} points is over the limit of "
                                 f"{MAX_POINTS:,} points: use fewer points per axis (the paper's figures use 51 × 51)")
