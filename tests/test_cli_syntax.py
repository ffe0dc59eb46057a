"""Command-line syntax → values (landscape/cli/syntax.py): each mistake names its flag."""

from __future__ import annotations

import pytest

from landscape.cli import parse_axis, syntax
from landscape.errors import LandscapeError


def test_axes():
    assert parse_axis("-1:1:3", "x") == (-1.0, 0.0, 1.0)
    assert parse_axis("0:0:1", "y") == (0.0,)
    with pytest.raises(LandscapeError, match=r"^--y '1:2' must be min:max:num"):
        parse_axis("1:2", "y")
    with pytest.raises(LandscapeError, match="with numbers"):
        parse_axis("a:b:3", "x")


@pytest.mark.parametrize("text,points", [("auto", 51), ("auto:7", 7), ("-1:1:3", None)])
def test_auto_points(text, points):
    assert syntax.auto_points(text, "x") == points


@pytest.mark.parametrize("text,message", [("autox", "write auto or auto:NUM"), ("auto:", "write auto or auto:NUM"),
                                          ("auto:1", "at least 2 points"), ("auto:z", "write auto")])
def test_bad_auto(text, message):
    with pytest.raises(LandscapeError, match=f"^--x {text!r}: .*{message}"):
        syntax.auto_points(text, "x")


def test_grid():
    from landscape.plane.grid import AutoRange, Grid

    assert syntax.grid("-1:1:3", "0:1:2", 10.0) == Grid((-1.0, 0.0, 1.0), (0.0, 1.0))
    assert syntax.grid("-1:1:3", None, 10.0) == Grid((-1.0, 0.0, 1.0))
    assert syntax.grid("auto:5", "auto:4", 3.0) == AutoRange(3.0, 5, 4)
    assert syntax.grid("auto", None, 10.0) == AutoRange(10.0, 51, None)  # 1-D
    with pytest.raises(LandscapeError, match="go together"):
        syntax.grid("auto", "-1:1:3", 10.0)


def test_fitted_axes_lists_and_sizes():
    assert syntax.fitted_axis(None, "x") is None and syntax.fitted_axis("auto", "y") is None
    assert syntax.fitted_axis("0:1:2", "x") == (0.0, 1.0)
    assert syntax.names(None) is None and syntax.names(" contour, ,heatmap") == ("contour", "heatmap")
    assert syntax.size(None) is None and syntax.size("") is None and syntax.size("6,5") == (6.0, 5.0)
    with pytest.raises(LandscapeError, match=r"^--size 'a,b' must be two numbers W,H in inches"):
        syntax.size("a,b")
