"""Recording what a landscape needs while a model trains: checkpoints named by step with the
run's settings (a folder `landscape trajectory` reads with no flags), and sharpness every N steps.

- `Recorder` (recorder.py): for a hand-written loop, `rec.step(model, optimizer)` after each step;
- `LandscapeCallback` (lightning.py): the same as a Lightning `Callback`;
- `LandscapeTrainerCallback` (hf.py): the same as a Hugging Face `TrainerCallback`;
- `TensorBoard`, `WandB` (loggers.py): where each measurement goes besides the run's own log.

Lightning and transformers load only when their callback is asked for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_WHERE = {"Recorder": "recorder", "LandscapeCallback": "lightning", "LandscapeTrainerCallback": "hf",
          "TensorBoard": "loggers", "WandB": "loggers"}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'landscape.callbacks' has no attribute {name!r}")


if TYPE_CHECKING:
    from landscape.callbacks.hf import LandscapeTrainerCallback
    from landscape.callbacks.lightning import LandscapeCallback
    from landscape.callbacks.loggers import TensorBoard, WandB
    from landscape.callbacks.recorder import Recorder
