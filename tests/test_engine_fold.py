"""engine/fold.py: BatchNorm folding equals the unfolded network and the naive per-point loop;
a model torch.fx cannot trace is evaluated unfolded."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from conftest import make_evaluator, naive_loop, tiny_model
from landscape.plane.directions import DirectionSpec, DirType, random_directions
from landscape.engine import Compile, Launch
from landscape.engine.fold import find_pairs, folded_model
from landscape.models import resnet20, resnet20_noshort, vgg9
from test_engine_pointmodel import COORDS, _engine, _randomize_bn


@pytest.mark.parametrize("factory,pairs", [(resnet20, 21), (resnet20_noshort, 19), (vgg9, 8)])
def test_folded_model_equals_unfolded(factory, pairs):
    model = _randomize_bn(factory())
    found = find_pairs(model)
    assert len(found) == pairs
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        np.testing.assert_allclose(folded_model(model, found)(x), model(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("spec", [
    DirectionSpec(seed=1),  # folding is linear: θ, d1, d2 folded once
    DirectionSpec(seed=1, ignore_biasbn=False),  # γ, β move: folded per point
    DirectionSpec(DirType.states, ignore_biasbn=False, seed=1),  # μ, σ² move too
])
@pytest.mark.parametrize("launch", [Launch.point, Launch.vmap])
def test_folding_matches_naive_loop(model, data, spec, launch):
    dirs = random_directions(model, spec)
    ref, _ = naive_loop(model, data, dirs, COORDS)
    for fold_bn in (True, False):
        np.testing.assert_allclose(_engine(model, data, dirs, fold_bn=fold_bn, launch=launch), ref, rtol=1e-5)


def test_untraceable_model_is_not_folded(data):
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = tiny_model()

        def forward(self, x):
            if x.sum() > -1e9:  # data-dependent control flow: fx cannot trace it
                return self.inner(x)
            return self.inner(-x)

    model = Branchy().eval()
    dirs = random_directions(model, DirectionSpec(seed=3))
    ev = make_evaluator(model, data, dirs, compile=Compile.off)
    ref, _ = naive_loop(model, data, dirs, COORDS)
    np.testing.assert_allclose(ev.evaluate(COORDS)[0], ref, rtol=1e-5)
    assert "BatchNorm folding" not in ev.pm.applied
