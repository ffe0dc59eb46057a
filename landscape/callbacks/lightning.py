"""`LandscapeCallback`: the `Recorder` as a Lightning callback.

    trainer = Trainer(callbacks=[LandscapeCallback("runs/sgd", every=100, sharpness_every=100)])

Checkpoints are saved at the trainer's optimizer steps (`global_step`, gradient accumulation
included); the network is recorded as the LightningModule's class with its saved hyperparameters
(`save_hyperparameters()`), so `landscape trajectory runs/sgd` can rebuild it. Without a `batch`,
the first training batch is the fixed batch of the sharpness measurements, and the first
`keep` samples of training batches are saved into the folder as the data to measure on. Each
measurement also goes to the trainer's own loggers (TensorBoard, W&B, CSV) as `landscape/...`,
once, at the step whose weights it measured. Only rank 0 writes; under FSDP every rank takes
part in gathering the weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

try:
    from lightning.pytorch import Callback
except ImportError:  # the older package name
    from pytorch_lightning import Callback  # type: ignore[no-redef]

from landscape.callbacks.recorder import Recorder
from landscape.callbacks.samples import Samples


class LandscapeCallback(Callback):
    """Records what a landscape needs while a Lightning model trains (see `Recorder` for the
    keyword arguments); `keep`: how many training samples to save as the run's data (0: none)."""

    def __init__(self, folder: str | Path, *, keep: int = 1024, **recorder: Any):
        super().__init__()
        self.recorder = Recorder(folder, **recorder)
        self.samples = Samples(keep if recorder.get("data") is None else 0)
        self._last_step = -1
        self._logged = 0  # measurements handed to the trainer's loggers

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        rec = self.recorder
        if not rec.model_kwargs:
            rec.model_kwargs = dict(getattr(pl_module, "hparams", {}) or {})
        if rec.total_steps is None:
            total = getattr(trainer, "estimated_stepping_batches", None)
            rec.total_steps = int(total) if isinstance(total, (int, float)) and total < float("inf") else None
        rec.start(pl_module, trainer.optimizers[0] if trainer.optimizers else None, _scheduler(trainer),
                  step=trainer.global_step)  # > 0 when resumed from a checkpoint
        self._last_step = trainer.global_step

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
        rec = self.recorder
        if rec.batch is None and rec.sharpness_every is not None:
            rec.batch = Samples.copy(batch)
        if self.samples.add(batch):
            rec.keep_data(self.samples.data())

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        if trainer.global_step == self._last_step:  # accumulating gradients: no optimizer step yet
            return
        self._last_step = trainer.global_step
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        self.recorder.step(pl_module, trainer.optimizers[0], _scheduler(trainer), step=trainer.global_step,
                           epoch=trainer.current_epoch, loss=loss if isinstance(loss, torch.Tensor) else None)
        measured = len(self.recorder.sharpness["step"])  # measured in the optimizer's hook, before this
        if measured > self._logged and self.recorder.last is not None and trainer.is_global_zero:
            self._logged = measured
            values = {f"landscape/{k}": float(v) for k, v in self.recorder.last.items()}
            step = int(self.recorder.sharpness["step"][-1])
            for logger in trainer.loggers:  # once per measurement, at the step it measured
                logger.log_metrics(values, step=step)

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        self.recorder.epoch_end(pl_module, trainer.current_epoch + 1)

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        self.recorder.close(pl_module)


def _scheduler(trainer: Any) -> Any:
    configs = getattr(trainer, "lr_scheduler_configs", None) or []
    return configs[0].scheduler if configs else None
