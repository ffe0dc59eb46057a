"""The grid of (x, y) coordinates and the order its points are evaluated in."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import LandscapeError


def parse_axis(text: str, name: str = "--x") -> np.ndarray:
    """Parse 'min:max:num' into `num` evenly spaced coordinates (num=1 gives [min])."""
    parts = text.split(":")
    if len(parts) != 3:
        raise LandscapeError(f"{name} {text!r} must be min:max:num, for example -1:1:51")
    try:
        lo, hi = float(parts[0]), float(parts[1])
        num = int(parts[2])
    except ValueError:
        raise LandscapeError(f"{name} {text!r} must be min:max:num with numbers, for example -1:1:51") from None
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise LandscapeError(f"{name} {text!r}: min and max must be finite numbers")
    if num < 1:
        raise LandscapeError(f"{name} {text!r}: the number of points must be at least 1")
    if lo > hi:
        raise LandscapeError(f"{name} {text!r}: min {lo:g} is larger than max {hi:g}")
    if num > 1 and lo == hi:
        raise LandscapeError(f"{name} {text!r}: {num} points need min < max")
    return np.linspace(lo, hi, num)


@dataclass(frozen=True)
class Grid:
    """Coordinates along the first direction (x) and, for a 2-D surface, the second (y).

    Points are enumerated row by row: point k is (x[k % nx], y[k // nx]), the order of
    `np.meshgrid(x, y)` raveled, which is also the [row = y, column = x] layout of the file.
    """

    x: tuple[float, ...]
    y: tuple[float, ...] | None = None

    @classmethod
    def parse(cls, x: str, y: str | None = None) -> "Grid":
        return cls(tuple(parse_axis(x, "--x").tolist()), None if y is None else tuple(parse_axis(y, "--y").tolist()))

    @property
    def is_2d(self) -> bool:
        return self.y is not None

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of a value array: (ny, nx) for 2-D, (nx,) for 1-D."""
        return (len(self.y), len(self.x)) if self.y is not None else (len(self.x),)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def coords(self, flat: np.ndarray) -> np.ndarray:
        """(P, 2) array of (x, y) for flat point indices (y = 0 on a 1-D grid)."""
        flat = np.asarray(flat, dtype=np.int64)
        xs = np.asarray(self.x)
        nx = len(xs)
        if self.y is None:
            return np.stack([xs[flat], np.zeros(len(flat))], axis=1)
        return np.stack([xs[flat % nx], np.asarray(self.y)[flat // nx]], axis=1)
