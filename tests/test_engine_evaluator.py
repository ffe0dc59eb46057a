"""engine/evaluator.py: the loops over points and batches equal a naive per-point loop (any grid
shape, launch, chunking, streamed data), and the out-of-memory back-off."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import evaluate_grid, make_evaluator, naive_loop
from landscape.plane.directions import DirectionSpec, DirType, random_directions
from landscape.engine import Compile, Launch
from landscape.plane.grid import Grid
from landscape.inputs.objective import mse
from test_engine_pointmodel import COORDS, _engine

RTOL = 1e-5


def _check(model, data, dirs, grid, **settings):
    loss, acc = evaluate_grid(model, data, dirs, grid, **settings)
    ref_loss, ref_acc = naive_loop(model, data, dirs, grid.coords(np.arange(grid.size)))
    assert loss.shape == grid.shape
    np.testing.assert_allclose(loss.ravel(), ref_loss, rtol=RTOL)
    np.testing.assert_allclose(acc.ravel(), ref_acc, atol=1e-9)
    return loss


@pytest.mark.parametrize("launch", [Launch.point, Launch.vmap])
def test_non_square_grid_matches_naive_loop(model, data, launch):
    grid = Grid.linspace((-1, 1, 7), (-0.5, 1, 5))  # 7 x 5: a transposed layout cannot pass
    dirs = random_directions(model, DirectionSpec(seed=1))
    loss = _check(model, data, dirs, grid, launch=launch, batch_size=40, points_per_launch=3)
    assert loss.shape == (5, 7)
    # value [j, i] is the point (x[i], y[j]): check one off-diagonal point directly
    dirs1 = random_directions(model, DirectionSpec(seed=1))
    ev = make_evaluator(model, data, dirs1)
    l, _ = ev.evaluate(np.array([[grid.x[5], grid.y[1]]]))
    np.testing.assert_allclose(loss[1, 5], l[0], rtol=RTOL)


def test_states_direction_moves_running_statistics(model, data):
    dirs = random_directions(model, DirectionSpec(dir_type=DirType.states, ignore_biasbn=False, seed=2))
    assert dirs.x["bn1.running_mean"].abs().sum() > 0
    loss = _check(model, data, dirs, Grid.linspace((-0.5, 0.5, 3), (-0.5, 0.5, 4)), launch=Launch.point)
    weights_only = random_directions(model, DirectionSpec(dir_type=DirType.weights, ignore_biasbn=False, seed=2))
    other, _ = evaluate_grid(model, data, weights_only, Grid.linspace((-0.5, 0.5, 3), (-0.5, 0.5, 4)))
    assert not np.allclose(loss, other)


def test_one_dimensional_run(model, data):
    dirs = random_directions(model, DirectionSpec(seed=3), two=False)
    loss = _check(model, data, dirs, Grid.linspace((-1, 1, 9)), launch=Launch.point, batch_size=17)
    assert loss.shape == (9,)


def test_vmap_states_and_launch_rule(model, data):
    dirs = random_directions(model, DirectionSpec(dir_type=DirType.states, ignore_biasbn=False, seed=4))
    grid = Grid.linspace((-1, 1, 6), (-1, 1, 7))
    _check(model, data, dirs, grid, launch=Launch.vmap, points_per_launch=4)
    ev = make_evaluator(model, data, dirs, points=grid.size)
    assert ev.plan.launch == Launch.point  # a rule, never a race between two timings
    coords = grid.coords(np.arange(grid.size))
    got = np.concatenate([loss for _, _, loss, _ in ev.stream(coords)])
    ref, _ = naive_loop(model, data, dirs, coords)
    np.testing.assert_allclose(got, ref, rtol=RTOL)


def test_mse_and_torchscript(model, data):
    dirs = random_directions(model, DirectionSpec(seed=6))
    grid = Grid.linspace((-1, 1, 3), (-1, 1, 2))
    coords = grid.coords(np.arange(grid.size))
    got, _ = evaluate_grid(model, data, dirs, grid, loss=mse)
    ref, _ = naive_loop(model, data, dirs, coords, loss=mse)
    np.testing.assert_allclose(got.ravel(), ref, rtol=RTOL)
    scripted = torch.jit.script(model)
    got_s, _ = evaluate_grid(scripted, data, dirs, grid)
    ref_s, _ = naive_loop(model, data, dirs, coords)
    np.testing.assert_allclose(got_s.ravel(), ref_s, rtol=RTOL)


def test_out_of_memory_backs_off(model, data, monkeypatch):
    dirs = random_directions(model, DirectionSpec(seed=8))
    notes = []
    ev = make_evaluator(model, data, dirs, notes=notes, batch_size=96, launch=Launch.point)
    ev.prepare()
    real = ev.pm.forward

    def forward(tensors, xb, *args):
        if len(xb) > 30:
            raise torch.OutOfMemoryError("injected")
        return real(tensors, xb, *args)

    monkeypatch.setattr(ev.pm, "forward", forward)
    coords = np.array([[0.1, 0.2], [-0.3, 0.4]])
    got, _ = ev.evaluate(coords)
    assert ev.batch_size == 24 and any("batch size 48" in n for n in notes)
    assert ev.plan_now().batch_size == 24 and ev.plan.batch_size == 96  # the caller records the change
    np.testing.assert_allclose(got, naive_loop(model, data, dirs, coords)[0], rtol=RTOL)


def test_out_of_memory_rebuilds_what_depends_on_the_batch_size(model, data, monkeypatch):
    dirs = random_directions(model, DirectionSpec(seed=8))
    notes = []
    ev = make_evaluator(model, data, dirs, notes=notes, batch_size=96, launch=Launch.point, first_layer=True)
    ev.prepare()
    built = ev.pm
    assert built.first is not None

    def forward(*args):
        raise torch.OutOfMemoryError("injected")

    monkeypatch.setattr(built, "forward", forward)
    coords = np.array([[0.1, 0.2], [-0.3, 0.4]])
    got, _ = ev.evaluate(coords)
    assert ev.batch_size == 48 and ev.pm is not built and ev.pm.first is not None
    np.testing.assert_allclose(got, naive_loop(model, data, dirs, coords)[0], rtol=RTOL)


def test_chunking_gives_identical_values(model, data):
    dirs = random_directions(model, DirectionSpec(seed=9))
    grid = Grid.linspace((-1, 1, 5), (-1, 1, 4))
    coords = grid.coords(np.arange(grid.size))
    ev = make_evaluator(model, data, dirs, launch=Launch.point)
    whole, _ = ev.evaluate(coords)
    for seconds in (0.0, 1e9):
        parts = np.concatenate([l for _, _, l, _ in ev.stream(coords, seconds=seconds, max_chunk=7)])
        np.testing.assert_array_equal(parts, whole)


def test_streamed_data_equals_resident(model, data):
    """The GPU's streaming path (data too big for the device), run on the CPU."""
    dirs = random_directions(model, DirectionSpec(seed=6))
    resident = _engine(model, data, dirs, batch_size=40)
    ev = make_evaluator(model, data, dirs, batch_size=40, launch=Launch.point, compile=Compile.off, stream_data=True)
    np.testing.assert_array_equal(ev.evaluate(COORDS)[0], resident)
    assert ev.streaming
