"""engine/lean.py: a lean point (each point's weights made as operations read them) gives the
whole point's values wherever a weight is read, and holds no copy of the weights."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from conftest import make_evaluator, tiny_data, tiny_model
from landscape.inputs.data import TensorData
from landscape.engine import lean
from landscape.plane.directions import DirectionSpec, DirType, random_directions


class ReadsAChild(nn.Module):
    """Reads a child's weight in its own forward (a tied output head written by hand), and a
    buffer that moves with --dir-type states."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(12, 6)
        self.mix = nn.Linear(6, 6)
        self.register_buffer("shift", torch.full((6,), 0.3))

    def forward(self, x):
        h = torch.tanh(self.mix(self.emb(x).mean(1)) + self.shift)
        return h @ self.emb.weight.T + 0.1 * F.linear(h, self.emb.weight.data)  # properties are values too


def test_every_read_of_a_weight_sees_the_point():
    torch.manual_seed(0)
    model = ReadsAChild()
    data = TensorData(torch.randint(0, 12, (40, 5)), torch.randint(0, 12, (40,)), "train")
    for dir_type in (DirType.weights, DirType.states):
        d = random_directions(model, DirectionSpec(dir_type=dir_type, ignore_biasbn=False))
        coords = np.array([[0.0, 0.0], [0.5, -0.25], [-1.0, 1.0]])
        whole = make_evaluator(model, data, d, lean=False).evaluate(coords)[0]
        made = make_evaluator(model, data, d, lean=True).evaluate(coords)[0]
        np.testing.assert_array_equal(made, whole)  # the same sums in the same order: bit for bit
        assert made[1] != made[0]


def test_a_cnn_gives_the_same_losses_and_the_model_is_not_touched():
    model, data = tiny_model(), tiny_data(64)
    before = {n: t.clone() for n, t in model.state_dict().items()}
    model.train()
    d = random_directions(model, DirectionSpec())
    coords = np.array([[0.3, 0.1], [-0.6, 0.9]])
    plain = make_evaluator(model, data, d, lean=False, fold_bn=False).evaluate(coords)[0]
    np.testing.assert_allclose(make_evaluator(model, data, d, lean=True).evaluate(coords)[0], plain, rtol=1e-6)
    assert model.training and all(torch.equal(before[n], t) for n, t in model.state_dict().items())


def test_shared_copy_shares_the_tensors_and_keeps_ties():
    model = ReadsAChild()
    net = lean.shared_copy(model, torch.device("cpu"))
    assert net is not model and net.emb.weight is model.emb.weight and net.shift is model.shift
    tied = nn.Sequential(nn.Embedding(4, 3), nn.Linear(3, 4, bias=False))
    tied[1].weight = tied[0].weight
    assert list(lean.named_tensors(tied)) == ["0.weight"]
    moved = lean.shared_copy(tied.to(torch.float64), torch.device("meta"))
    assert moved[0].weight is moved[1].weight and moved[0].weight.device.type == "meta"
    assert tied[0].weight.device.type == "cpu"  # the caller's model stays where it was
    rnn = nn.LSTM(4, 6)
    moved = lean.shared_copy(rnn, torch.device("meta"))
    assert all(t.device.type == "meta" for t in moved._flat_weights)  # an RNN's flat weights follow its own
    assert all(t.device.type == "cpu" for t in rnn._flat_weights)
