"""Only rank 0 writes: a Recorder under DDP and under FSDP2 on 2 CPU ranks (torchrun, gloo). Under
FSDP every rank gathers the sharded weights together and rank 0 saves them whole."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from landscape.store.training_log import read_log

HERE = Path(__file__).resolve().parent


def test_only_rank_zero_writes_under_ddp_and_fsdp(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(HERE.parent), str(HERE)])}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port",
                           str(29500 + random.randrange(1000)), str(HERE / "distributed_recording.py"), str(tmp_path)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((tmp_path / "rank1.json").read_text()) == {"rank": 1}  # rank 1 ran to the end
    for run in ("ddp", "fsdp"):
        names = sorted(p.name for p in (tmp_path / run).iterdir())
        assert [n for n in names if n.startswith("step_")] == [f"step_{s:06d}.safetensors" for s in (0, 2, 4)]
        assert not [n for n in names if n.startswith(".")]  # no rank left a temporary file
    ddp = load_file(tmp_path / "ddp" / "step_000004.safetensors")
    assert "conv1.weight" in ddp  # DDP's module. prefix unwrapped
    assert read_log(tmp_path / "ddp").sharpness["step"].tolist() == [0, 2]  # measured on rank 0
    fsdp = load_file(tmp_path / "fsdp" / "step_000004.safetensors")
    final = torch.load(tmp_path / "fsdp_final.pt", weights_only=True)
    for k, v in final.items():
        assert torch.equal(fsdp[k], v), k  # gathered whole, the sharded model's own weights
