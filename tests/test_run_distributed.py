"""run/distributed.py: the world of the processes computing one surface: size one in a plain
process; under torchrun, more processes than GPUs are refused before any work."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from landscape.run import distributed
from landscape.errors import LandscapeError


def test_more_processes_than_gpus_are_refused_before_any_work(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(LandscapeError, match="2 processes on this node but 1 GPU"):
        distributed.join("auto")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    with pytest.raises(LandscapeError, match="no GPU is visible"):
        distributed.join("cuda")


def test_a_plain_process_is_a_world_of_one(monkeypatch):
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    assert distributed.launched() == (0, 0, 1, 1) and distributed.rank() == 0
    world = distributed.join("auto")
    assert world == distributed.World() and world.size == 1 and world.is_writer
    box = {"plan": 1}
    assert world.share(box) is box and world.all_gather(box) == [box] and world.gather(box) == [box]
    assert world.total(7) == 7 and world.minimum(3) == 3
    a = np.array([1.0, 2.0])
    assert world.sum_arrays(a) is a
    world.barrier()
    assert not torch.distributed.is_initialized()  # nothing was joined


def test_torchruns_environment_is_read_in_one_place(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "8")
    monkeypatch.setenv("RANK", "5")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    assert distributed.launched() == (5, 1, 8, 4) and distributed.rank() == 5
    assert not distributed.World(rank=5, size=8).is_writer
    monkeypatch.delenv("LOCAL_WORLD_SIZE")
    assert distributed.launched()[3] == 8  # torchrun always sets it; a bare WORLD_SIZE stands in
