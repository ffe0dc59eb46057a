"""run/autorange.py: the automatic range along each direction where the loss rises `rise` times
from the centre, on a model whose loss is known in closed form; and the check of the centre."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from landscape.engine import EvalSettings, Evaluator, plan_for
from landscape.errors import LandscapeError
from landscape.inputs.data import TensorData
from landscape.inputs.objective import Objective, mse
from landscape.plane.directions import Directions, DirType
from landscape.plane.grid import AutoRange
from landscape.run.autorange import auto_grid, check_centre

CPU = torch.device("cpu")


def one_weight(w: float) -> nn.Module:
    """f(x) = w·x on x = 1 against y = 0: along direction d the loss is (w + a·d)²."""
    model = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(w)
    return model.eval()


DATA = TensorData(torch.ones(4, 1), torch.zeros(4))


def _auto(model, auto, y=None, notes=None):
    plane = Directions({"weight": torch.ones(1, 1)}, None if y is None else {"weight": torch.full((1, 1), y)},
                       DirType.weights, "random")
    return auto_grid(auto, model, DATA, plane, Objective(loss=mse), EvalSettings(device="cpu"), CPU,
                     (notes if notes is not None else []).append)


def test_the_range_reaches_the_rise_on_both_sides():
    notes = []
    grid = _auto(one_weight(1.0), AutoRange(rise=4.0, nx=5, ny=None), notes=notes)
    # (1 + a)² reaches 4 at a = 1, (1 − a)² at a = 3: the symmetric range must hold both ends
    assert grid.y is None and len(grid.x) == 5
    assert grid.x[-1] == pytest.approx(3.0, abs=0.01) and grid.x[0] == -grid.x[-1]
    assert notes == ["‹x› auto: the loss rises 4× from 1 within ±3 along direction 1"]


def test_each_axis_has_its_own_range_and_a_cap():
    grid = _auto(one_weight(1.0), AutoRange(rise=4.0, nx=3, ny=4), y=0.5)  # d2 half as long: twice the range
    assert len(grid.x) == 3 and len(grid.y) == 4
    assert grid.y[-1] == pytest.approx(2 * grid.x[-1], rel=0.01)
    notes = []
    capped = _auto(one_weight(1.0), AutoRange(rise=1e6, nx=3, ny=None, max_radius=2.0), notes=notes)
    assert capped.x[-1] == 2.0 and "does not rise 1e+06× from 1 within ±2" in notes[0]


def test_the_centre_must_be_finite_and_positive():
    with pytest.raises(LandscapeError, match="needs a positive loss at the centre to rise from, and it is 0") as e:
        _auto(one_weight(0.0), AutoRange(rise=4.0, nx=3, ny=None))
    assert e.value.field == "x"
    model = one_weight(float("nan"))
    plan, objective = plan_for(model, DATA, Objective(loss=mse), EvalSettings(device="cpu"), CPU, 1)
    ev = Evaluator(model, DATA, Directions({"weight": torch.ones(1, 1)}, None, DirType.weights, "random"),
                   objective, plan, CPU, print)
    with pytest.raises(LandscapeError, match="the loss at the model's own weights \\(the centre of the plane\\) is nan"):
        check_centre(ev)
    assert check_centre(Evaluator(one_weight(2.0), DATA, ev.directions, objective, plan, CPU, print)) == 4.0
