"""The grid: one stated orientation, and errors that name the Python argument (`x`), which the
command line shows as its flag (`--x`)."""

from __future__ import annotations

import numpy as np
import pytest

import landscape as ls
from landscape.errors import LandscapeError, for_cli
from landscape.cli import parse_axis
from landscape.plane.grid import Grid


@pytest.mark.parametrize("x,y,field,words", [
    ((1, -1, 5), None, "x", "min 1 is larger than max -1"),
    ((-1, 1, 5), (0, 0, 3), "y", "3 points need min < max"),
    ((-1, 1, 0), None, "x", "the number of points must be at least 1"),
])
def test_a_notebook_reads_argument_names(x, y, field, words):
    with pytest.raises(LandscapeError) as e:
        ls.Grid.linspace(x, y)
    assert str(e.value) == f"{field}: {words}" and e.value.field == field
    assert for_cli(e.value.message) == f"--{field}: {words}"


def test_points_are_enumerated_row_by_row():
    g = Grid.linspace((-1, 1, 3), (0, 1, 2))
    assert g.shape == (2, 3) and g.size == 6
    np.testing.assert_array_equal(g.coords(np.arange(6)),
                                  [[-1, 0], [0, 0], [1, 0], [-1, 1], [0, 1], [1, 1]])


@pytest.mark.parametrize("text,match", [
    ("-1:1", "min:max:num"), ("a:b:c", "numbers"), ("-1:1:0", "at least 1"), ("1:-1:5", "larger than max"),
    ("0:0:3", "min < max"), ("-1:1:1", "one point cannot span"), ("1e308:1.7e308:3", "within"),
])
def test_bad_grid(text, match):
    with pytest.raises(LandscapeError, match=match):
        parse_axis(text, "x")


def test_grid_order_is_rows_of_y():
    g = Grid.linspace((0, 2, 3), (10, 11, 2))
    assert g.shape == (2, 3)
    np.testing.assert_array_equal(g.coords(np.arange(6)), [[0, 10], [1, 10], [2, 10], [0, 11], [1, 11], [2, 11]])
    X, Y = np.meshgrid(g.x, g.y)
    np.testing.assert_array_equal(g.coords(np.arange(6)), np.stack([X.ravel(), Y.ravel()], 1))
