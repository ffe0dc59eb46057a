"""The method's own formulas under an independent check: each normalization of a random
direction against a direct per-filter computation (not the library's normalize_tensor), and the
reduced-precision paths against exact fp32 within stated tolerances."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import evaluate_grid, tiny_data, tiny_model
from landscape.plane.directions import DirectionSpec, DirType, Norm, random_directions
from landscape.engine import Precision
from landscape.plane.grid import Grid
from landscape.models import resnet20


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


# Stated tolerances: the largest relative loss difference from exact fp32 that each precision may show.
# tf32 is exact on a CPU (no TF32 units); on an H100 it measured 5e-4, bf16 3e-3 (benchmarks/RESULTS.md).
TOLERANCE = {Precision.tf32: 1e-6, Precision.bf16: 2e-2, Precision.fp16: 2e-2}


@pytest.mark.parametrize("precision", [Precision.tf32, Precision.bf16, Precision.fp16])
def test_reduced_precision_against_fp32(precision):
    model, data = tiny_model(), tiny_data(n=64)
    dirs = random_directions(model, DirectionSpec(seed=6))
    grid = Grid.linspace((-0.5, 0.5, 3), (-0.5, 0.5, 3))
    exact, _ = evaluate_grid(model, data, dirs, grid, precision=Precision.fp32)
    low, _ = evaluate_grid(model, data, dirs, grid, precision=precision)
    rel = np.abs(low - exact) / np.abs(exact)
    assert rel.max() <= TOLERANCE[precision], rel.max()
    if precision != Precision.tf32:
        assert rel.max() > 0  # really evaluated in the lower precision
