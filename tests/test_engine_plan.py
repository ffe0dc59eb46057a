"""engine/plan.py: the evaluation plan's rules (GPU rules checked on the CPU with an injected
device profile), its round trip and conflicts, and determinism: the same command writes the same bits
whatever the load."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from landscape import store
from landscape.engine import Compile, DeviceProfile, EvalSettings, Launch, Plan, Precision, Probe, resolve_plan
from landscape.engine.device import GPU_FLOPS
from landscape.engine.plan import choose_precision
from landscape.errors import LandscapeError

ROOT = Path(__file__).resolve().parent.parent
MODEL = ["--model", "landscape.models:digits_cnn", "--model-kwargs", '{"width": 4}']
H100 = DeviceProfile("cuda", "NVIDIA H100 80GB HBM3", 80 * 2**30, True, True, dict(GPU_FLOPS[9]),
                     compile_seconds=25.0, compile_saving=0.3)
OLD_GPU = DeviceProfile("cuda", "Tesla V100", 16 * 2**30, False, False, dict(GPU_FLOPS[0]), 25.0, 0.3)
CPU2 = DeviceProfile("cpu", "cpu (2 threads)", 24 * 2**30, False, True, {"fp32": 2.4e11, "tf32": 2.4e11, "bf16": 4.8e11},
                     compile_seconds=20.0, compile_saving=0.25)


def resnet56(images: int) -> Probe:
    """ResNet-56 on CIFAR-shaped images, as the probe measures it (251 MFLOP a sample)."""
    return Probe(samples=images, input_dims=4, data_bytes=images * 3 * 32 * 32 * 4, model_bytes=3_500_000,
                 flops_per_sample=251.5e6, activation_bytes=1.2e6, foldable=True, first_layer_macs=27,
                 first_layer_map_bytes=3 * images * 16 * 32 * 32 * 4)


DIGITS = Probe(samples=1437, input_dims=4, data_bytes=1437 * 64 * 4, model_bytes=30_000, flops_per_sample=1.6e5,
               foldable=True, first_layer_macs=9, first_layer_map_bytes=3 * 1437 * 8 * 64 * 4)


def test_gpu_defaults_use_the_gpu():
    plan = resolve_plan(EvalSettings(), resnet56(10_000), H100, points=51 * 51)
    assert plan.device == "cuda" and plan.precision == Precision.tf32  # PyTorch's own default for convolutions
    assert not plan.channels_last  # NCHW: channels-last measured 2.6x slower in fp32/tf32
    assert plan.fold_bn and plan.launch == Launch.point and not plan.first_layer and not plan.stream_data
    # the batch fills 40% of the GPU's total memory (not its free memory, which changes from run to run)
    budget = 0.4 * 80 * 2**30 - 10_000 * 3 * 32 * 32 * 4 - 4 * 3_500_000
    assert plan.batch_size == min(10_000, int(budget // 1.2e6) // 64 * 64)
    bf16 = resolve_plan(EvalSettings(precision=Precision.bf16), resnet56(10_000), H100, points=51 * 51)
    assert bf16.channels_last and bf16.cast_weights  # NHWC for the tensor cores


def test_compile_when_it_pays_on_that_device():
    # the 51x51 bf16 run of the issue (10k images) and the paper's figure (50k) compile on an H100
    assert resolve_plan(EvalSettings(precision=Precision.bf16), resnet56(10_000), H100, 51 * 51).compile == Compile.cudagraphs
    assert resolve_plan(EvalSettings(), resnet56(50_000), H100, 51 * 51).compile == Compile.cudagraphs
    # a 21x21 tf32 grid does not repay a 25 s compile; the demo does not compile on a CPU
    assert resolve_plan(EvalSettings(), resnet56(10_000), H100, 21 * 21).compile == Compile.off
    assert resolve_plan(EvalSettings(), DIGITS, CPU2, 31 * 31).compile == Compile.off
    # ResNet-56 on 512 images over 51x51 points takes an hour on two CPU cores: compiling pays
    assert resolve_plan(EvalSettings(), resnet56(512), CPU2, 51 * 51).compile == Compile.default
    # a torchrun world decides as one process would (the rule reads the whole grid), so they agree bit for bit
    for world in (2, 64):
        assert resolve_plan(EvalSettings(), resnet56(512), CPU2, 51 * 51, world=world) == \
            resolve_plan(EvalSettings(), resnet56(512), CPU2, 51 * 51)


def test_cpu_defaults_and_older_gpus():
    plan = resolve_plan(EvalSettings(), DIGITS, CPU2, 961)
    assert plan.precision == Precision.fp32 and plan.channels_last and plan.batch_size == 1437
    assert choose_precision(EvalSettings(), OLD_GPU)[0] == Precision.fp32  # no TF32 units
    with pytest.raises(LandscapeError, match="no bfloat16"):
        resolve_plan(EvalSettings(precision=Precision.bf16), resnet56(100), OLD_GPU, 10)


def test_given_choices_win_and_say_so():
    settings = EvalSettings(precision=Precision.fp32, batch_size=100, fold_bn=False, channels_last=True,
                            compile=Compile.off, first_layer=True, launch=Launch.vmap, points_per_launch=4)
    plan = resolve_plan(settings, resnet56(10_000), H100, 51 * 51)
    assert (plan.precision, plan.batch_size, plan.fold_bn, plan.channels_last, plan.compile, plan.first_layer,
            plan.launch, plan.points_per_launch) == (Precision.fp32, 100, False, True, Compile.off, True, Launch.vmap, 4)
    assert dict(plan.reasons)["batch_size"] == "given"


def test_data_that_does_not_fit_streams_and_custom_evaluation_keeps_the_plain_model():
    big = dataclasses.replace(resnet56(10_000), data_bytes=60 * 2**30)
    assert resolve_plan(EvalSettings(), big, H100, 100).stream_data
    custom = Probe(samples=256, input_dims=0, data_bytes=10**6, model_bytes=10**6, flops_per_sample=1e9,
                   custom_eval=True, batches=8)
    plan = resolve_plan(EvalSettings(), custom, H100, 10_000)
    assert plan.batch_size == 0 and not plan.channels_last and not plan.first_layer and plan.compile == Compile.off


def test_plan_round_trips_and_names_a_conflict():
    plan = resolve_plan(EvalSettings(), DIGITS, CPU2, 961)
    again = Plan.from_dict(plan.to_dict())
    assert again == plan
    assert plan.conflict(EvalSettings()) is None and plan.conflict(EvalSettings(device="cpu")) is None
    assert "batch_size is 1437" in plan.conflict(EvalSettings(batch_size=7))
    assert "fold_bn" in plan.conflict(EvalSettings(fold_bn=False))
    assert "device is 'cpu'" in plan.conflict(EvalSettings(device="cuda:0"))
    with pytest.raises(LandscapeError, match="lacks"):
        Plan.from_dict({"device": "cpu"})
    split = resolve_plan(EvalSettings(), DIGITS, CPU2, 961, world=4, split_data=True)
    assert split.shards == 4 and split.conflict(EvalSettings(), world=4, split_data=True) is None
    assert "split into 4 shards" in split.conflict(EvalSettings(), world=2, split_data=True)  # other sums: refused
    assert "split_data" in plan.conflict(EvalSettings(), world=1, split_data=True)


def _run(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "landscape", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "2"})


def test_same_command_same_bits_whatever_the_load(tmp_path, checkpoint):
    """The default plan (no flags) decides nothing by timing: a run on a busy machine writes
    the same bits as one on an idle machine."""
    args = ["compute", str(checkpoint), *MODEL, "--x", "-1:1:9", "--y", "-1:1:9", "--samples", "200", "--quiet"]
    a = _run(args + ["--out", str(tmp_path / "a.h5")])
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(3)]
    try:
        time.sleep(0.5)
        b = _run(args + ["--out", str(tmp_path / "b.h5")])
    finally:
        for p in burners:
            p.kill()
            p.wait()
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    sa, sb = store.read_surface(tmp_path / "a.h5"), store.read_surface(tmp_path / "b.h5")
    for name in sa.values:
        np.testing.assert_array_equal(sa.values[name], sb.values[name])
    assert sa.plan == sb.plan


def test_lean_points_for_large_models_and_fsdp_without_fast_paths():
    lm = Probe(samples=64, input_dims=2, data_bytes=64 * 128 * 16, model_bytes=500 * 2**20, flops_per_sample=3.2e10,
               custom_eval=True)
    plan = resolve_plan(EvalSettings(), lm, CPU2, 441)
    assert plan.lean and not (plan.fold_bn or plan.first_layer or plan.channels_last or plan.cast_weights)
    assert plan.compile == Compile.off and "500 MiB" in dict(plan.reasons)["lean"]
    assert plan.batch_size == 1  # 4 GFLOPs a batch on a CPU: a sequence of this model is 32 GFLOPs
    small = dataclasses.replace(lm, model_bytes=2**20, flops_per_sample=1e6)
    assert not resolve_plan(EvalSettings(), small, CPU2, 441).lean
    assert resolve_plan(EvalSettings(), small, CPU2, 441).batch_size == 64  # all of it: 64 MFLOPs
    forced = resolve_plan(EvalSettings(lean=True), small, CPU2, 441)
    assert forced.lean and dict(forced.reasons)["lean"] == "given"
    with pytest.raises(LandscapeError, match="vmap.*lean"):
        resolve_plan(EvalSettings(lean=True, launch=Launch.vmap), DIGITS, CPU2, 441)
    fsdp = resolve_plan(EvalSettings(), lm, CPU2, 441, world=2, fsdp=True)
    assert fsdp.fsdp and fsdp.split_data and fsdp.shards == 2 and not fsdp.lean and fsdp.compile == Compile.off
    again = Plan.from_dict(fsdp.to_dict())
    assert again.fsdp and not again.lean
    older = {k: v for k, v in plan.to_dict().items() if k not in ("lean", "fsdp")}  # a file from before
    assert not Plan.from_dict(older).lean and not Plan.from_dict(older).fsdp
    assert fsdp.conflict(EvalSettings(), 2, True, False) == "fsdp is True in the file's plan but False in this run"
    assert plan.conflict(EvalSettings(lean=False)) == "lean is True in the file's plan but False in this run"


def test_a_sharded_plan_is_read_without_preparing(model, data):
    """Rank 0 writes a finished FSDP file's plan without building the sharded model: preparing it
    is collective, and the other ranks are not there (a rerun of a finished file hung so)."""
    from landscape.engine import Evaluator
    from landscape.inputs.objective import Objective
    from landscape.plane.directions import random_directions

    plan = dataclasses.replace(resolve_plan(EvalSettings(), DIGITS, CPU2, 9, world=2, fsdp=True), batch_size=32)
    ev = Evaluator(model, data, random_directions(model), Objective(loss=torch.nn.functional.cross_entropy), plan)
    assert ev.plan_now() is plan and not ev._ready
