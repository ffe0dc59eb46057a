"""Where a recorder sends each sharpness measurement besides its own log: TensorBoard and Weights &
Biases (offline mode works the same), when installed. A logger is a callable
`logger(step, values)`; the Lightning callback adds one that hands the values to the trainer's
own loggers (`LightningModule.log_dict`)."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

Logger = Callable[[int, Mapping[str, float]], None]
PREFIX = "landscape/"


class TensorBoard:
    """Scalars `landscape/<name>` in a TensorBoard event file under `log_dir` (beside the
    trainer's own: TensorBoard reads every event file of a folder)."""

    def __init__(self, log_dir: str | Path):
        self.log_dir = str(log_dir)
        self._writer = None

    def __call__(self, step: int, values: Mapping[str, float]) -> None:
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(self.log_dir)
        for k, v in values.items():
            self._writer.add_scalar(PREFIX + k, v, step)
        self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


class WandB:
    """`landscape/<name>` in the active Weights & Biases run (online or offline), against its
    own step axis `landscape/step`, so it never fights the trainer's step counter; nothing
    without an active run."""

    def __init__(self) -> None:
        self._defined = False

    def __call__(self, step: int, values: Mapping[str, float]) -> None:
        import wandb

        if wandb.run is None:
            return
        if not self._defined:
            wandb.define_metric(PREFIX + "step")
            wandb.define_metric(PREFIX + "*", step_metric=PREFIX + "step")
            self._defined = True
        wandb.log({PREFIX + "step": step, **{PREFIX + k: v for k, v in values.items()}})


def installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def for_report_to(report_to: Iterable[str] | str | None, log_dir: str | Path | None) -> list[Logger]:
    """The loggers a Hugging Face `report_to` names that are installed: TensorBoard in `log_dir`, W&B."""
    names = {report_to} if isinstance(report_to, str) else set(report_to or ())
    everything = "all" in names
    out: list[Logger] = []
    if (everything or "tensorboard" in names) and log_dir is not None and installed("tensorboard"):
        out.append(TensorBoard(log_dir))
    if (everything or "wandb" in names) and installed("wandb"):
        out.append(WandB())
    return out
