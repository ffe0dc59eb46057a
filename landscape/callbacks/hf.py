"""`LandscapeTrainerCallback`: the `Recorder` as a Hugging Face `TrainerCallback`.

    trainer = Trainer(..., callbacks=[LandscapeTrainerCallback("runs/gpt", every=100, sharpness_every=100)])

Checkpoints are `save_pretrained` folders named by the trainer's global step (`step_000100/`,
config and safetensors weights), which landscape reads with no code and no `--model`. The data
to measure on is the first `keep` samples of the training set, put through the trainer's own
collator (read in order: the trainer's sampler and its random numbers are not touched); the
first batch of them is the fixed batch of the sharpness measurements, whose loss is the model's
own (`model(**batch).loss`). Measurements go to TensorBoard and W&B when `report_to` names them.
Only the main process writes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from landscape.callbacks.loggers import for_report_to
from landscape.callbacks.recorder import Recorder


class LandscapeTrainerCallback(TrainerCallback):
    """Records what a landscape needs while a `transformers.Trainer` trains (see `Recorder` for
    the keyword arguments); `keep`: how many training samples to save as the run's data (0: none)."""

    def __init__(self, folder: str | Path, *, keep: int = 256, **recorder: Any):
        self.recorder = Recorder(folder, **recorder)
        self.keep = keep

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, optimizer: Any = None,
                       lr_scheduler: Any = None, train_dataloader: Any = None, **kwargs: Any) -> None:
        rec = self.recorder
        if rec.total_steps is None and state.max_steps and state.max_steps > 0:
            rec.total_steps = int(state.max_steps)
        log_dir = os.environ.get("TENSORBOARD_LOGGING_DIR") or os.path.join(args.output_dir, "runs", "landscape")
        rec.loggers += for_report_to(args.report_to, log_dir)
        samples = _first_samples(train_dataloader, max(self.keep, 1)) if train_dataloader is not None else None
        if samples is not None:
            if rec.batch is None and rec.sharpness_every is not None:
                size = getattr(train_dataloader, "batch_size", None) or args.per_device_train_batch_size
                rec.batch = {k: v[:size] for k, v in samples.items()}
            if self.keep and rec.data is None:
                rec.data = {k: v[: self.keep] for k, v in samples.items() if k in ("input_ids", "attention_mask")}
        rec.start(model, optimizer, lr_scheduler, step=state.global_step)  # > 0 when resumed

    def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, optimizer: Any = None,
                    lr_scheduler: Any = None, **kwargs: Any) -> None:
        self.recorder.step(model, optimizer, lr_scheduler, step=state.global_step,
                           epoch=int(state.epoch) if state.epoch is not None else None)

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
        """The trainer's training loss, logged after its step: the step's row gets it."""
        if isinstance(logs, dict) and isinstance(logs.get("loss"), (int, float)):
            self.recorder.train_loss(state.global_step, float(logs["loss"]))

    def on_epoch_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        self.recorder.epoch_end(model, round(state.epoch) if state.epoch is not None else None)

    def on_train_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        self.recorder.close(model)
        for logger in self.recorder.loggers:
            getattr(logger, "close", lambda: None)()


def _first_samples(loader: Any, n: int) -> dict[str, Any] | None:
    """The first n samples of the loader's dataset, through its collator, in order (no sampler,
    no random numbers); None where the dataset cannot be indexed."""
    dataset = getattr(loader, "dataset", None)
    collate = getattr(loader, "collate_fn", None)
    try:
        rows = [dataset[i] for i in range(min(n, len(dataset)))]
        batch = collate(rows) if collate is not None else None
    except (TypeError, KeyError, IndexError, ValueError):
        return None
    return dict(batch) if batch is not None and hasattr(batch, "keys") else None
