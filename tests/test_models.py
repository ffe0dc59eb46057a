"""models.py: every network of the paper and of the demo builds and gives one logit per class
on a tiny input; the "noshort" ResNets have no shortcut connections."""

from __future__ import annotations

import pytest
import torch

from landscape import models


@pytest.mark.parametrize("factory,shape", [
    (models.digits_cnn, (2, 1, 8, 8)),
    (models.resnet20, (2, 3, 8, 8)),  # global average pooling: any size
    (models.resnet56, (2, 3, 8, 8)),
    (models.resnet110, (2, 3, 8, 8)),
    (models.resnet20_noshort, (2, 3, 8, 8)),
    (models.resnet56_noshort, (2, 3, 8, 8)),
    (models.resnet110_noshort, (2, 3, 8, 8)),
    (models.vgg9, (2, 3, 32, 32)),
])
def test_each_network_gives_logits_of_the_right_shape(factory, shape):
    torch.manual_seed(0)
    model = factory().eval()
    with torch.no_grad():
        out = model(torch.randn(shape))
    assert out.shape == (2, 10) and torch.isfinite(out).all()


def test_depth_and_shortcuts():
    def convs(m):
        return sum(isinstance(x, torch.nn.Conv2d) for x in m.modules())

    # 6n+2 layers with weights: 6n+1 convs on the main path, 1 fully connected; 2 projection shortcuts
    assert convs(models.resnet20()) == 19 + 2 and convs(models.resnet20_noshort()) == 19
    assert not any(b.use_shortcut for b in models.resnet20_noshort().modules() if isinstance(b, models.BasicBlock))
    assert convs(models.vgg9()) == 7
    with pytest.raises(ValueError, match="6n\\+2"):
        models.CifarResNet(depth=21)
    assert models.digits_cnn(width=4).conv1.out_channels == 4
    with torch.no_grad():
        assert models.digits_cnn(num_classes=3).eval()(torch.randn(2, 1, 8, 8)).shape == (2, 3)
        assert models.resnet20(num_classes=3).eval()(torch.randn(2, 3, 8, 8)).shape == (2, 3)
        assert models.vgg9(num_classes=3).eval()(torch.randn(2, 3, 32, 32)).shape == (2, 3)
