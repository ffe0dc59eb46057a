"""engine/firstlayer.py: the first-layer maps equal the plain forward, and are left out where
there is no single input layer or where they would cost more than the layer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from conftest import make_evaluator, naive_loop, tiny_model
from landscape.plane.directions import DirectionSpec, Norm, random_directions
from landscape.engine import Compile, Launch
from test_engine_pointmodel import COORDS, _randomize_bn


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.bn, self.fc2 = nn.Linear(64, 32), nn.BatchNorm1d(32), nn.Linear(32, 10)

    def forward(self, x):
        return self.fc2(torch.relu(self.bn(self.fc1(x.flatten(1)))))


class SkipFromInput(nn.Module):
    """The input is used twice: no first-layer trick."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 64)
        self.out = nn.Linear(64, 10)

    def forward(self, x):
        x = x.flatten(1)
        return self.out(self.fc(x) + x)


@pytest.mark.parametrize("launch", [Launch.point, Launch.vmap])
def test_first_layer_maps_equal_plain_forward(data, launch):
    mlp = _randomize_bn(MLP())
    for model, first in ((mlp, None), (tiny_model(), True)):
        for spec in (DirectionSpec(seed=2), DirectionSpec(seed=2, norm=Norm.layer)):
            dirs = random_directions(model, spec)
            ref, _ = naive_loop(model, data, dirs, COORDS)
            ev = make_evaluator(model, data, dirs, launch=launch, compile=Compile.off, first_layer=first, batch_size=40)
            np.testing.assert_allclose(ev.evaluate(COORDS)[0], ref, rtol=1e-5)
            assert ev.pm.first is not None  # the trick was really used
    ev = make_evaluator(SkipFromInput().eval(), data, random_directions(SkipFromInput()), first_layer=True)
    ev.prepare()
    assert ev.pm.first is None  # no single input layer: nothing to precompute
    # the rule leaves the digits CNN's 1-channel conv alone: the maps would cost more than the layer
    ev = make_evaluator(tiny_model(), data, random_directions(tiny_model()))
    ev.prepare()
    assert ev.pm.first is None and not ev.plan.first_layer
