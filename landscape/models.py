"""Networks of the paper and of the demo, usable as `--model landscape.models:NAME`.

CIFAR ResNets (He et al. 2016; 3×3 convs, 16/32/64 channels, BatchNorm, global average
pool, 1×1-conv projection shortcuts where the shape changes) with and without shortcut
connections, the paper's central comparison; VGG-9 (7 convs + 2 fully connected layers);
and the small digits CNN of `landscape demo`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class DigitsCNN(nn.Module):
    """Two 3×3 conv + BatchNorm layers and a linear head, for 8×8 digits (the demo's model)."""

    def __init__(self, num_classes: int = 10, width: int = 8):
        super().__init__()
        self.conv1 = nn.Conv2d(1, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(2 * width)
        self.fc = nn.Linear(2 * width * 4 * 4, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))  # (N, w, 8, 8)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)  # (N, 2w, 4, 4)
        return self.fc(x.flatten(1))


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, shortcut: bool):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.use_shortcut = shortcut
        self.shortcut = nn.Sequential()
        if shortcut and (stride != 1 or cin != cout):
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.use_shortcut:
            out = out + self.shortcut(x)
        return F.relu(out)


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for 32×32 inputs; `shortcut=False` gives the paper's "noshort" network."""

    def __init__(self, depth: int = 56, num_classes: int = 10, shortcut: bool = True, width: int = 16):
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"CIFAR ResNet depth must be 6n+2 (20, 56, 110, ...), got {depth}")
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        layers, cin = [], width
        for i, cout in enumerate((width, 2 * width, 4 * width)):
            blocks = []
            for b in range(n):
                blocks.append(BasicBlock(cin, cout, 2 if (b == 0 and i > 0) else 1, shortcut))
                cin = cout
            layers.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = layers
        self.linear = nn.Linear(4 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))  # (N, 16, 32, 32)
        out = self.layer3(self.layer2(self.layer1(out)))  # (N, 64, 8, 8)
        return self.linear(F.adaptive_avg_pool2d(out, 1).flatten(1))


class VGG9(nn.Module):
    """VGG-9: 64, 64, M, 128, 128, M, 256, 256, 256, M convs, then FC-BN-ReLU and a classifier."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for c in (64, 64, "M", 128, 128, "M", 256, 256, 256, "M"):
            if c == "M":
                layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
            else:
                layers += [nn.Conv2d(cin, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
                cin = c
        self.features = nn.Sequential(*layers)
        self.fc = nn.Sequential(nn.Linear(256 * 4 * 4, 256), nn.BatchNorm1d(256), nn.ReLU(inplace=True))
        self.classifier = nn.Linear(256, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.fc(self.features(x).flatten(1)))


def digits_cnn(num_classes: int = 10, width: int = 8) -> DigitsCNN:
    return DigitsCNN(num_classes, width)


def resnet20(num_classes: int = 10) -> CifarResNet:
    return CifarResNet(20, num_classes)


def resnet56(num_classes: int = 10) -> CifarResNet:
    return CifarResNet(56, num_classes)


def resnet110(num_classes: int = 10) -> CifarResNet:
    return CifarResNet(110, num_classes)


def resnet20_noshort(num_classes: int = 10) -> CifarResNet:
    return CifarResNet(20, num_classes, shortcut=False)


def resnet56_noshort(num_classes: int = 10) -> CifarResNet:
    return CifarResNet(56, num_classes, shortcut=False)


def resnet110_noshort(num_classes: int = 10) -> CifarResNet:
    return CifarResNet(110, num_classes, shortcut=False)


def vgg9(num_classes: int = 10) -> VGG9:
    return VGG9(num_classes)
