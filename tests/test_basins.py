"""Basins and smoothness of a surface, checked against closed forms and an independent
minimax-path search (Dijkstra on the highest value along a path), on non-square grids."""

from __future__ import annotations

import heapq
import math

import numpy as np
import pytest

from landscape.basins import Basin, Topology, persistence, smoothness, summary, topology
from landscape.errors import LandscapeError

OFFSETS = {
    4: [(-1, 0), (1, 0), (0, -1), (0, 1)],
    8: [(dj, di) for dj in (-1, 0, 1) for di in (-1, 0, 1) if (dj, di) != (0, 0)],
}


def lowest_pass(z: np.ndarray, start: tuple[int, int], is_target, connectivity: int = 8) -> float:
    """The least, over paths of finite cells from `start` to a cell where `is_target(j, i)`, of the
    highest value on the path; inf if no target is reachable."""
    ny, nx = z.shape
    done = np.zeros(z.shape, bool)
    heap = [(float(z[start]), start)]
    while heap:
        h, (j, i) = heapq.heappop(heap)
        if done[j, i]:
            continue
        if is_target(j, i):
            return h
        done[j, i] = True
        for dj, di in OFFSETS[connectivity]:
            a, b = j + dj, i + di
            if 0 <= a < ny and 0 <= b < nx and not done[a, b] and np.isfinite(z[a, b]):
                heapq.heappush(heap, (max(h, float(z[a, b])), (a, b)))
    return math.inf


def strict_minima(z: np.ndarray, connectivity: int) -> set[tuple[int, int]]:
    """Finite cells lower than every finite neighbour (holes and the border count as +inf)."""
    p = np.pad(np.where(np.isfinite(z), z, np.inf), 1, constant_values=np.inf)
    ny, nx = z.shape
    lower = np.isfinite(z)
    for dj, di in OFFSETS[connectivity]:
        lower &= z < p[1 + dj : 1 + dj + ny, 1 + di : 1 + di + nx]
    return {(int(j), int(i)) for j, i in zip(*np.nonzero(lower))}


def wells(ny: int = 57, nx: int = 83) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Three Gaussian wells of depths 1.0, 0.7, 0.45 on a gentle bowl, over x in [-2, 2], y in [-1.4, 1.4]."""
    x, y = np.linspace(-2, 2, nx), np.linspace(-1.4, 1.4, ny)
    X, Y = np.meshgrid(x, y)  # (ny, nx)
    centres = [(-1.0, -0.4), (1.1, -0.3), (0.1, 0.7)]
    depths = [1.0, 0.7, 0.45]
    z = 0.05 * (X**2 + Y**2)
    for (cx, cy), d in zip(centres, depths):
        z = z - d * np.exp(-((X - cx) ** 2 + (Y - cy) ** 2) / (2 * 0.3**2))
    return z, centres


def test_gaussian_wells_saddles_are_the_lowest_passes():
    z, centres = wells()
    ny, nx = z.shape
    x, y = np.linspace(-2, 2, nx), np.linspace(-1.4, 1.4, ny)
    topo = topology(z)
    assert topo.count == 3
    assert len(topo.basins) == 3
    # each well's grid minimum: the lowest cell near its centre
    expected = []
    for cx, cy in centres:
        near = (np.abs(x[None, :] - cx) < 0.3) & (np.abs(y[:, None] - cy) < 0.3)
        flat = np.where(near, z, np.inf).argmin()
        expected.append(tuple(int(v) for v in np.unravel_index(flat, z.shape)))
    assert [b.index for b in topo.basins] == expected  # depths 1.0, 0.7, 0.45: deepest first
    assert [b.minimum for b in topo.basins] == [z[e] for e in expected]
    assert math.isinf(topo.basins[0].saddle)
    for b in topo.basins[1:]:
        deeper = {e for e in expected if z[e] < b.minimum}
        assert b.saddle == lowest_pass(z, b.index, lambda j, i: (j, i) in deeper)
        assert b.persistence > topo.threshold


@pytest.mark.parametrize("connectivity", [4, 8])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_grid_matches_minimax_reference(seed: int, connectivity: int):
    """Distinct values: basins are exactly the strict local minima, and each dies at the lowest pass
    to any lower cell (the elder rule), with NaN holes that connect nothing."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((13, 17))
    z[rng.random(z.shape) < 0.15] = np.nan
    basins = persistence(z, connectivity)
    assert {b.index for b in basins} == strict_minima(z, connectivity)
    for b in basins:
        assert b.minimum == z[b.index]
        assert b.saddle == lowest_pass(z, b.index, lambda j, i: z[j, i] < b.minimum, connectivity)
    assert [b.minimum for b in basins] == sorted(b.minimum for b in basins)


def test_plane_and_bowl_are_one_basin():
    x, y = np.linspace(-1, 1, 31), np.linspace(-1, 1, 23)
    X, Y = np.meshgrid(x, y)
    plane = 0.3 * X - 0.7 * Y + 2.0
    assert persistence(plane) == [Basin(float(plane[-1, 0]), math.inf, (22, 0))]
    bowl = (X - 0.2) ** 2 + 2 * Y**2
    (b,) = persistence(bowl)
    assert b.index == np.unravel_index(bowl.argmin(), bowl.shape) and b.essential
    assert topology(bowl, threshold=0.0).count == 1


@pytest.mark.parametrize("connectivity", [4, 8])
def test_plateaus_make_no_extra_basins(connectivity: int):
    """A constant surface, and a flat annular moat around a raised centre (whose arms the
    row-major tie order reaches separately), are each one basin, even at threshold 0."""
    assert persistence(np.full((5, 7), 3.0), connectivity) == [Basin(3.0, math.inf, (0, 0))]
    X, Y = np.meshgrid(np.linspace(-1, 1, 41), np.linspace(-1, 1, 37))
    moat = np.maximum((np.hypot(X, Y) - 0.6) ** 2, 0.02)
    assert (moat == 0.02).sum() > 100
    (b,) = persistence(moat, connectivity)
    assert b.index == tuple(np.argwhere(moat == 0.02)[0])  # ties go by flat index: the first moat cell
    assert topology(moat, threshold=0.0, connectivity=connectivity).count == 1


@pytest.mark.parametrize("connectivity", [4, 8])
def test_nan_wall_gives_two_essential_basins(connectivity: int):
    X, Y = np.meshgrid(np.linspace(-1, 1, 21), np.linspace(-1, 1, 15))
    z = X**2 + Y**2 + 0.1 * X
    z[:, 10] = np.nan
    basins = persistence(z, connectivity)
    assert len(basins) == 2 and all(b.essential for b in basins)
    assert {b.index[1] < 10 for b in basins} == {True, False}
    assert topology(z, threshold=100.0, connectivity=connectivity).count == 2


def test_diagonal_pass_depends_on_connectivity():
    z = np.full((4, 5), 5.0)
    z[1, 1], z[2, 2] = 0.0, 1.0
    z[1, 2] = z[2, 1] = 3.0
    assert persistence(z, 8) == [Basin(0.0, math.inf, (1, 1))]
    assert persistence(z, 4) == [Basin(0.0, math.inf, (1, 1)), Basin(1.0, 3.0, (2, 2))]
    assert topology(z, connectivity=4).count == 2  # persistence 2 > 5% of the range 5
    assert topology(z, connectivity=8).count == 1


def test_default_threshold_is_five_percent_of_the_range():
    z = np.zeros((3, 4))
    z[0, 0], z[2, 3], z[1, 1] = -1.0, 3.0, np.nan
    assert topology(z).threshold == pytest.approx(0.05 * 4.0)


def test_count_uses_the_threshold():
    z = np.full((3, 7), 10.0)
    z[1, 1], z[1, 5] = 0.0, 4.0  # a second well of persistence 6
    assert topology(z, threshold=5.9).count == 2
    assert topology(z, threshold=6.0).count == 1
    assert len(topology(z, threshold=6.0).basins) == 2


def test_smoothness_closed_forms():
    X, Y = np.meshgrid(np.linspace(-1, 1, 101), np.linspace(-1, 1, 81))
    plane = 2.0 * X - 0.5 * Y + 1.0
    assert smoothness(plane) == pytest.approx(1.0, abs=1e-9)
    holed = plane.copy()
    holed[10:20, 30:50] = np.nan
    assert smoothness(holed) == pytest.approx(1.0, abs=1e-9)
    assert smoothness(np.full((4, 6), 7.0)) == 1.0
    noise = np.random.default_rng(0).standard_normal((101, 101))
    assert smoothness(noise) < 0.1
    assert smoothness(X**2 + Y**2) > 0.9
    # alternating along x: |d1| = 2, |d2| = 4, rho = 2 sqrt((nx-2)/(nx-1)) > sqrt(3): clipped to 0
    assert smoothness(np.tile((-1.0) ** np.arange(9), (5, 1))) == 0.0


def test_smoothness_formula_on_a_small_grid():
    """rho = rms(d2) / rms(d1) over the differences whose points are all finite."""
    z = np.array([[0.0, 1.0, 4.0], [1.0, np.nan, 0.0]])
    # d1 along x: 1, 3 (row 0), row 1 none; along y: 1, -4 (column 1 has NaN). d2 along x: 2.
    rho = 2.0 / math.sqrt((1 + 9 + 1 + 16) / 4)
    assert smoothness(z) == pytest.approx(1 - rho / math.sqrt(3))


def test_summary_reads_the_deepest_basin_with_its_coordinates():
    z = np.full((3, 7), 10.0)
    z[1, 1], z[1, 5] = 0.5, 4.0
    x, y = np.linspace(-3, 3, 7), np.array([-1.0, 0.0, 1.0])
    topo = topology(z, threshold=1.0)
    assert isinstance(topo, Topology)
    text = summary(topo, x, y)
    assert text.startswith("basins    2 (persistence > 1); deepest 0.5 at (-2, 0); others 4 at (2, 0); smoothness ")
    assert text.endswith(f"smoothness {topo.smoothness:.2f}")
    with pytest.raises(LandscapeError, match="outside the coordinates"):
        summary(topo, x[:3], y)


@pytest.mark.parametrize(
    "z, kwargs, message",
    [
        (np.zeros(5), {}, "2-D"),
        (np.zeros((2, 3, 4)), {}, "2-D"),
        (np.zeros((1, 5)), {}, "at least 2 points"),
        (np.zeros((5, 1)), {}, "at least 2 points"),
        (np.full((3, 3), np.nan), {}, "no finite value"),
        (np.full((3, 3), np.inf), {}, "no finite value"),
        (np.zeros((3, 3)), {"threshold": -0.1}, "threshold"),
        (np.zeros((3, 3)), {"threshold": math.nan}, "threshold"),
        (np.zeros((3, 3)), {"connectivity": 6}, "connectivity"),
    ],
)
def test_bad_input_raises(z, kwargs, message):
    with pytest.raises(LandscapeError, match=message):
        topology(z, **kwargs)


def test_bad_input_raises_in_each_entry_point():
    with pytest.raises(LandscapeError, match="2-D"):
        persistence(np.zeros(4))
    with pytest.raises(LandscapeError, match="connectivity"):
        persistence(np.zeros((3, 3)), connectivity=2)
    with pytest.raises(LandscapeError, match="no finite value"):
        smoothness(np.full((2, 2), np.nan))
