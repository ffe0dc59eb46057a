"""A Lightning module of the digits CNN for the callback tests (importable by its class path, as
`landscape trajectory` imports it from a recorded run's run.json)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
import lightning.pytorch as pl

from landscape.models import DigitsCNN


class LitDigits(pl.LightningModule):
    def __init__(self, width: int = 4, lr: float = 0.05):
        super().__init__()
        self.save_hyperparameters()
        self.net = DigitsCNN(width=width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.cross_entropy(self(x), y)

    def configure_optimizers(self):
        opt = torch.optim.SGD(self.parameters(), lr=self.hparams.lr, momentum=0.9)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": torch.optim.lr_scheduler.StepLR(opt, 4, 0.5),
                                                   "interval": "step"}}
