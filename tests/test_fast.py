"""The fast paths (BatchNorm folding, first-layer maps, torch.compile, channels-last) against
the plain forward and the naive per-point loop, on the CPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from conftest import make_evaluator, naive_loop, tiny_data, tiny_model
from landscape.plane.directions import DirectionSpec, DirType, Norm, random_directions
from landscape.engine import Compile, Launch
from landscape.engine.fold import find_pairs, folded_model
from landscape.plane.grid import Grid
from landscape.models import resnet20, resnet20_noshort, vgg9

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


@pytest.mark.parametrize("factory,pairs", [(resnet20, 21), (resnet20_noshort, 19), (vgg9, 8)])
def test_folded_model_equals_unfolded(factory, pairs):
    model = _randomize_bn(factory())
    found = find_pairs(model)
    assert len(found) == pairs
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        np.testing.assert_allclose(folded_model(model, found)(x), model(x), rtol=1e-5, atol=1e-5)


def _engine(model, data, dirs, **kw):
    settings = dict(launch=Launch.point, compile=Compile.off)
    settings.update(kw)
    return make_evaluator(model, data, dirs, **settings).evaluate(COORDS)[0]


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


def test_streamed_data_equals_resident(model, data):
    """The GPU's streaming path (data too big for the device), run on the CPU."""
    dirs = random_directions(model, DirectionSpec(seed=6))
    resident = _engine(model, data, dirs, batch_size=40)
    ev = make_evaluator(model, data, dirs, batch_size=40, launch=Launch.point, compile=Compile.off, stream_data=True)
    np.testing.assert_array_equal(ev.evaluate(COORDS)[0], resident)
    assert ev.streaming


