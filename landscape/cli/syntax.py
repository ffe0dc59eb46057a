"""Command-line syntax turned into values: `MIN:MAX:NUM` axes, `auto[:NUM]` ranges, `W,H`
sizes and comma-separated lists. Each mistake names its flag and shows a right example; only
the grid module is imported, so a mistake here answers before PyTorch loads."""

from __future__ import annotations

from typing import TYPE_CHECKING

from landscape.errors import LandscapeError

if TYPE_CHECKING:
    from landscape.plane.grid import AutoRange, Grid

AUTO_POINTS = 51  # `auto` alone: points per axis


def parse_axis(text: str, name: str) -> tuple[float, ...]:
    """'min:max:num' → num evenly spaced coordinates (one point needs min = max)."""
    from landscape.plane.grid import Grid, check_axis

    parts = text.split(":")
    if len(parts) != 3:
        raise LandscapeError(f"--{name} {text!r} must be min:max:num, for example -1:1:51")
    try:
        lo, hi, num = float(parts[0]), float(parts[1]), int(parts[2])
    except ValueError:
        raise LandscapeError(f"--{name} {text!r} must be min:max:num with numbers, for example -1:1:51") from None
    check_axis(lo, hi, num, name)
    return Grid.linspace((lo, hi, num)).x


def auto_points(text: str, name: str, default: int = AUTO_POINTS) -> int | None:
    """`auto` or `auto:NUM` → NUM (default `default`); None if `text` is not auto."""
    if not text.startswith("auto"):
        return None
    head, sep, num = text.partition(":")
    try:
        if head != "auto" or (sep and not num):
            raise ValueError
        points = int(num) if sep else default
    except ValueError:
        raise LandscapeError(f"--{name} {text!r}: write auto or auto:NUM, for example auto:51") from None
    if points < 2:
        raise LandscapeError(f"--{name} {text!r}: an automatic range needs at least 2 points, for example auto:51")
    return points


def grid(x: str, y: str | None, rise: float) -> Grid | AutoRange:
    """The grid of `compute`: two `MIN:MAX:NUM` axes (or one, for 1-D), or `auto` ranges that
    the library fits where the loss rises `rise` times."""
    from landscape.plane.grid import AutoRange, Grid

    nx = auto_points(x, "x")
    ny = auto_points(y, "y") if y is not None else None
    if nx is not None or ny is not None:
        if (nx is None) != (ny is None) and y is not None:
            raise LandscapeError("--x auto and --y auto go together: give both as auto, or both as min:max:num")
        return AutoRange(rise, nx if nx is not None else AUTO_POINTS, ny)
    return Grid(parse_axis(x, "x"), parse_axis(y, "y") if y is not None else None)


def fitted_axis(text: str | None, name: str) -> tuple[float, ...] | None:
    """`MIN:MAX:NUM`, or None for `auto` or no value: the library fits the axis."""
    return None if text is None or text == "auto" else parse_axis(text, name)


def names(text: str | None) -> tuple[str, ...] | None:
    """'a, b,c' → ('a', 'b', 'c'); None stays None (the default applies)."""
    return None if text is None else tuple(t.strip() for t in text.split(",") if t.strip())


def size(text: str | None) -> tuple[float, ...] | None:
    """'W,H' → (W, H) in inches (the library checks there are two, in range)."""
    if not text:
        return None
    try:
        return tuple(float(v) for v in names(text) or ())
    except ValueError:
        raise LandscapeError(f"--size {text!r} must be two numbers W,H in inches, like 6,5") from None
