"""inputs/objective.py: what is measured at a point: the built-in losses, named losses, and
`call_with`, which leaves the net as it was."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from landscape.errors import LandscapeError, for_cli
from landscape.inputs.objective import Loss, Objective, batch_loss, call_with, correct_count, cross_entropy, mse


def test_mse_with_labels_is_the_papers_softmax_against_one_hot():
    out = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    labels = torch.tensor([0, 2])
    want = ((F.softmax(out, 1) - torch.tensor([[1.0, 0, 0], [0, 0, 1.0]])) ** 2).mean()
    torch.testing.assert_close(mse(out, labels), want)
    targets = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])  # float targets: plain MSE
    torch.testing.assert_close(mse(out, targets), F.mse_loss(out, targets))
    torch.testing.assert_close(cross_entropy(out, labels), F.cross_entropy(out, labels))
    assert int(correct_count(out, torch.tensor([0, 0]))) == 1


def test_named_losses():
    assert Loss().function() is cross_entropy and Loss("mse").function() is mse
    assert Loss("mse").label == "mse" and Loss(eval="pkg.mod:fn").label == "--eval pkg.mod:fn"
    with pytest.raises(LandscapeError, match="^unknown loss 'hinge'") as e:
        Loss("hinge").function()
    assert for_cli(e.value.message).startswith("unknown --loss 'hinge'")
    assert Loss("mse").objective() == Objective(loss=mse)
    with pytest.raises(ValueError, match="either a loss or an eval function"):
        Objective()
    with pytest.raises(ValueError, match="either a loss or an eval function"):
        Objective(loss=mse, eval_fn=lambda m, b: (0.0, 1))


def test_call_with_replaces_tensors_for_one_call_only():
    net = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        net.weight.fill_(1.0)
    x, y = torch.ones(3, 2), torch.zeros(3)
    fn = batch_loss(lambda out, t: ((out.squeeze(1) - t) ** 2).mean())
    with torch.no_grad():
        loss, n, correct = call_with(net, {"weight": torch.full((1, 2), 2.0)}, fn, (x, y))
        assert float(loss) == pytest.approx(3 * 16.0) and n == 3 and correct is None
        assert torch.equal(net.weight, torch.ones(1, 2))  # the net keeps its own weights
        assert float(call_with(net, {}, fn, (x, y))[0]) == pytest.approx(3 * 4.0)
