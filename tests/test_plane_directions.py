"""plane/directions.py: each normalization of a random direction against a direct per-filter
computation (not the library's normalize_tensor), and a target direction that reaches the other model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

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
