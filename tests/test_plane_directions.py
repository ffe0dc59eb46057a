"""plane/directions.py: each normalization of a random direction against a direct per-filter
computation (not the library's normalize_), and a target direction that reaches the other model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from conftest import evaluate_grid, naive_loop, tiny_model
from landscape.plane.directions import DirectionSpec, DirType, Norm, random_directions, target_direction, base_tensors
from landscape.plane.grid import Grid
from landscape.models import resnet20

RTOL = 1e-5


def expected_direction(model: torch.nn.Module, norm: Norm, seed: int) -> dict[str, np.ndarray]:
    """The paper's recipe written out: a standard Gaussian per tensor, in parameter order from one
    generator; 1-D tensors zero (biases and BatchNorm ignored); each 2+-D tensor normalized filter
    by filter (slices along dim 0) or as a whole, in float64."""
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for name, w in model.named_parameters():
        d = torch.randn(w.shape, generator=gen, dtype=torch.float32).double().numpy()
        w = w.detach().double().numpy()
        if w.ndim <= 1:
            out[name] = np.zeros_like(w)
            continue
        if norm == Norm.filter:
            for f in range(w.shape[0]):
                d[f] = d[f] * np.sqrt((w[f] ** 2).sum()) / (np.sqrt((d[f] ** 2).sum()) + 1e-10)
        elif norm == Norm.dfilter:
            for f in range(w.shape[0]):
                d[f] = d[f] / (np.sqrt((d[f] ** 2).sum()) + 1e-10)
        elif norm == Norm.layer:
            d = d * np.sqrt((w**2).sum()) / np.sqrt((d**2).sum())
        elif norm == Norm.dlayer:
            d = d / np.sqrt((d**2).sum())
        elif norm == Norm.weight:
            d = d * w
        out[name] = d
    return out


@pytest.mark.parametrize("norm", [Norm.filter, Norm.layer, Norm.weight, Norm.dfilter, Norm.dlayer, Norm.none])
@pytest.mark.parametrize("factory", [tiny_model, resnet20])
def test_each_normalization_against_a_direct_computation(norm, factory):
    model = factory().eval()
    dirs = random_directions(model, DirectionSpec(DirType.weights, norm, seed=5))
    want = expected_direction(model, norm, seed=5)
    for name, d in dirs.x.items():
        np.testing.assert_allclose(d.double().numpy(), want[name], rtol=1e-5, atol=1e-7, err_msg=name)
    if norm == Norm.filter:  # the property the method rests on: every filter has its weight filter's norm
        for name, w in model.named_parameters():
            if w.dim() > 1:
                ratio = dirs.x[name].flatten(1).norm(dim=1) / w.detach().flatten(1).norm(dim=1)
                np.testing.assert_allclose(ratio.numpy(), 1.0, rtol=1e-5)


def test_target_direction_reaches_other_model(model, data):
    other = tiny_model(seed=7)
    dx = target_direction(base_tensors(model, DirType.states), other.state_dict())
    from landscape.plane.directions import Directions
    dirs = Directions(dx, None, DirType.states, "target")
    loss, _ = evaluate_grid(model, data, dirs, Grid.linspace((0, 1, 2)))
    own = naive_loop(other, data, random_directions(other, DirectionSpec(), two=False), [(0.0, 0.0)])[0]
    start = naive_loop(model, data, dirs, [(0.0, 0.0)])[0]
    np.testing.assert_allclose(loss, [start[0], own[0]], rtol=RTOL)


class HFConv1D(nn.Module):
    """The layout of Hugging Face's Conv1D (GPT-2): weight (in, out), `nf` output features."""

    def __init__(self, nf: int, nx: int):
        super().__init__()
        self.nf = nf
        self.weight = nn.Parameter(torch.randn(nx, nf))
        self.bias = nn.Parameter(torch.zeros(nf))

    def forward(self, x):
        return x @ self.weight + self.bias


HFConv1D.__name__ = "Conv1D"


def test_a_filter_is_an_output_unit_for_every_layer_type():
    """Filter normalization by hand: each output unit of the direction gets the norm of the
    weight's same unit: rows of Linear (out, in) and Conv (out, in, k), columns of Hugging Face's
    Conv1D (in, out) and ConvTranspose (in, out, k)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 4), HFConv1D(6, 4), nn.ConvTranspose1d(6, 3, 2), nn.Conv1d(3, 2, 2))
    from landscape.plane.directions import filter_axes

    assert filter_axes(model) == {"1.weight": 1, "2.weight": 1}
    dirs = random_directions(model, DirectionSpec(seed=3))
    weights = dict(model.named_parameters())
    for name, axis in (("0.weight", 0), ("1.weight", 1), ("2.weight", 1), ("3.weight", 0)):
        d, w = dirs.x[name], weights[name].detach()
        for k in range(w.shape[axis]):
            unit_d, unit_w = d.select(axis, k), w.select(axis, k)
            assert float(unit_d.norm()) == pytest.approx(float(unit_w.norm()), rel=1e-5), (name, k)
    assert "dim 1 of 2 transposed weights" in dirs.extra["filters"] and "1.weight" in dirs.extra["filters"]
    assert "filters" not in random_directions(nn.Linear(3, 2), DirectionSpec()).extra  # nothing to say
