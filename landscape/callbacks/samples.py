"""The training samples a callback keeps from the batches it sees: the run's data to measure on,
saved into its folder once enough have passed (`keep` samples)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch


class Samples:
    """Up to `keep` samples, gathered from (inputs, labels) batches or dicts of tensors."""

    def __init__(self, keep: int):
        self.keep = max(0, int(keep))
        self.parts: list[Any] = []
        self.count = 0
        self.done = self.keep == 0

    @staticmethod
    def copy(batch: Any) -> Any:
        """A batch's tensors detached and cloned (the loop may reuse its buffers)."""
        if isinstance(batch, torch.Tensor):
            return batch.detach().clone()
        if isinstance(batch, Mapping):
            return {k: Samples.copy(v) for k, v in batch.items()}
        if isinstance(batch, (tuple, list)):
            return type(batch)(Samples.copy(v) for v in batch) if isinstance(batch, tuple) else [Samples.copy(v) for v in batch]
        return batch

    def add(self, batch: Any) -> bool:
        """Take the batch's samples; True once, when `keep` have been gathered (or the batches
        are of a kind that cannot be kept, which ends the gathering)."""
        if self.done:
            return False
        if isinstance(batch, (tuple, list)) and len(batch) == 2 and all(isinstance(t, torch.Tensor) for t in batch):
            n = int(batch[0].shape[0])
            self.parts.append((batch[0].detach().cpu(), batch[1].detach().cpu()))
        elif isinstance(batch, Mapping) and "input_ids" in batch:
            n = int(batch["input_ids"].shape[0])
            self.parts.append({k: batch[k].detach().cpu() for k in ("input_ids", "attention_mask") if k in batch})
        else:
            self.done = True
            self.parts = []
            return False
        self.count += n
        if self.count >= self.keep:
            self.done = True
            return True
        return False

    def data(self) -> Any:
        """The samples gathered, cut to `keep`: an (x, y) pair or a dict of token tensors."""
        if isinstance(self.parts[0], tuple):
            return tuple(torch.cat([p[i] for p in self.parts])[: self.keep] for i in range(2))
        return {k: _pad_cat([p[k] for p in self.parts])[: self.keep] for k in self.parts[0]}


def _pad_cat(parts: list[torch.Tensor]) -> torch.Tensor:
    """Rows of token tensors of different lengths, right-padded with 0 (masked by attention_mask)."""
    width = max(int(p.shape[1]) for p in parts)
    return torch.cat([torch.nn.functional.pad(p, (0, width - int(p.shape[1]))) for p in parts])
