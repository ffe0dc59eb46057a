"""engine/pointmodel.py: the fast paths (torch.compile, and each fallback where a model defeats a
path) against the plain forward and the naive per-point loop, on the CPU; the user's model is
left untouched. The helpers here (`_randomize_bn`, `_engine`, `COORDS`) serve the other engine tests."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from conftest import evaluate_grid, make_evaluator, naive_loop, tiny_data, tiny_model
from landscape.plane.directions import DirectionSpec, random_directions
from landscape.engine import Compile, Launch
from landscape.plane.grid import Grid

GRID = Grid.linspace((-1, 1, 4), (-0.5, 1, 3))
COORDS = GRID.coords(np.arange(GRID.size))


def _randomize_bn(model: nn.Module) -> nn.Module:
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=g) - 0.5)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.rand(m.bias.shape, generator=g) - 0.5)
    return model.eval()


def _engine(model, data, dirs, **kw):
    settings = dict(launch=Launch.point, compile=Compile.off)
    settings.update(kw)
    return make_evaluator(model, data, dirs, **settings).evaluate(COORDS)[0]


def test_compiled_path_equals_eager_and_compiles_once():
    torch._dynamo.reset()
    model, data = tiny_model(), tiny_data(n=50)
    dirs = random_directions(model, DirectionSpec(seed=4))
    eager = _engine(model, data, dirs, batch_size=32)
    before = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    # batch 32 over 50 samples: the last batch is padded, so one graph serves every batch
    compiled = _engine(model, data, dirs, batch_size=32, compile=Compile.default)
    np.testing.assert_allclose(compiled, eager, rtol=1e-5)
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] - before == 1


class TiedConvBN(nn.Module):
    """conv1's weight is read again outside the module: folding it would change that use too."""

    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4)
        self.head = nn.Linear(4 * 64, 10)

    def forward(self, x):
        h = torch.relu(self.bn1(self.conv1(x)))
        h = h + nn.functional.conv2d(x, self.conv1.weight, padding=1)
        return self.head(h.flatten(1))


class SequenceLinearBN(nn.Module):
    """Linear on (N, T, F) followed by BatchNorm1d over T: not a per-output-feature fold."""

    def __init__(self):
        super().__init__()
        self.lin, self.bn, self.head = nn.Linear(8, 8), nn.BatchNorm1d(8), nn.Linear(64, 10)

    def forward(self, x):
        return self.head(self.bn(self.lin(x.view(len(x), 8, 8))).flatten(1))


class TiedAutoencoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc, self.out = nn.Linear(64, 16), nn.Linear(64, 10)

    def forward(self, x):
        h = torch.relu(self.enc(x.flatten(1)))
        return self.out(nn.functional.linear(h, self.enc.weight.t()))


class ReflectStem(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 8, 9, padding=4, padding_mode="reflect")
        self.head = nn.Linear(8 * 64, 10)

    def forward(self, x):
        return self.head(torch.relu(self.stem(x)).flatten(1))


@pytest.mark.parametrize("factory", [TiedConvBN, SequenceLinearBN, TiedAutoencoder, ReflectStem])
def test_fast_paths_fall_back_where_a_model_defeats_them(factory, data):
    torch.manual_seed(0)
    model = _randomize_bn(factory())
    dirs = random_directions(model, DirectionSpec(seed=5, ignore_biasbn=False))
    ref, _ = naive_loop(model, data, dirs, COORDS)
    notes = []
    ev = make_evaluator(model, data, dirs, notes=notes, launch=Launch.point, compile=Compile.off, first_layer=True,
                        fold_bn=True)
    np.testing.assert_allclose(ev.evaluate(COORDS)[0], ref, rtol=1e-5)


def test_model_and_directions_left_untouched(model, data):
    before = {k: v.clone() for k, v in model.state_dict().items()}
    dirs = random_directions(model, DirectionSpec(seed=5))
    d_before = {k: v.clone() for k, v in dirs.x.items()}
    evaluate_grid(model, data, dirs, Grid.linspace((-1, 1, 3), (-1, 1, 3)))
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    for k, v in dirs.x.items():
        assert torch.equal(v, d_before[k])
    assert not model.training
