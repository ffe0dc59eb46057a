"""What the plan's rules need to know about a model and its data, measured once and
deterministically (no timing): that the model accepts the data and the loss its outputs,
whether accuracy applies, its FLOPs per sample, the memory a sample's forward pass takes on
a GPU, whether BatchNorm folds and what the input layer costs."""

from __future__ import annotations

import copy
import warnings
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from landscape.engine.checks import EvalChecks
from landscape.engine.device import DeviceProfile, Precision, precision_context, profile_of
from landscape.engine.fold import find_pairs
from landscape.engine.plan import EvalSettings, Plan, Probe, choose_precision, resolve_plan
from landscape.engine.pointmodel import first_layer_macs
from landscape.errors import LandscapeError, arg
from landscape.inputs.data import BatchData, Data, TensorData, to_device
from landscape.inputs.objective import Objective, correct_count, cross_entropy, mse


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [""])[0][:200]


def _model_device(model: nn.Module) -> torch.device:
    t = next(iter(model.parameters()), None)
    return t.device if t is not None else torch.device("cpu")


def check_objective(model: nn.Module, data: Data, objective: Objective) -> Objective:
    """Run the model (in eval mode, its own state untouched) on a first batch: a user error if it
    rejects the data or the loss rejects its outputs; returns the objective with `classification`
    settled (accuracy only for integer labels in range of the outputs)."""
    dev = _model_device(model)
    was_training = model.training
    model.eval()
    try:
        if objective.eval_fn is not None:
            batch = (data.x[:2], data.y[:2]) if isinstance(data, TensorData) else data.batches[0]
            checks = EvalChecks(objective.eval_fn)
            with torch.no_grad():
                checked = checks.run(lambda: objective.eval_fn(model, to_device(batch, dev)), 0, "the model's weights")
            checks.finish()
            if float(checked.count) <= 0:
                raise LandscapeError(f"the {arg('eval')} function's count must be positive, got {float(checked.count)}")
            return Objective(eval_fn=objective.eval_fn, classification=checked.correct is not None)
        if isinstance(data, BatchData):
            raise LandscapeError(f"the data's batches are not (input, label) pairs; give {arg('eval', 'pkg.module:fn')}, "
                                 "a function (model, batch) -> (loss sum, count) that evaluates one batch")
        xb, yb = data.x[:2].to(dev), data.y[:2].to(dev)
        try:
            with torch.no_grad():
                out = model(xb)
        except Exception as e:
            raise LandscapeError(f"the model rejects the data (inputs of shape {tuple(data.x.shape[1:])} per sample): "
                                 f"{type(e).__name__}: {_first_line(e)}") from None
        if not isinstance(out, torch.Tensor):
            raise LandscapeError(f"the model returns a {type(out).__name__}, not a tensor of outputs; wrap it so that "
                                 f"forward returns the logits, or give {arg('eval', 'pkg.module:fn')}")
        classification = data.is_classification and out.dim() == 2 and out.shape[0] == len(yb)
        if classification:
            lo, hi = int(data.y.min()), int(data.y.max())
            if (lo < 0 or hi >= out.shape[1]) and objective.loss in (cross_entropy, mse):
                raise LandscapeError(f"labels run from {lo} to {hi} but the model has {out.shape[1]} outputs; "
                                     f"labels must be 0..{out.shape[1] - 1}")
            classification = 0 <= lo and hi < out.shape[1]  # else integer targets of a custom loss
        try:
            value = objective.loss(out.float(), yb)
        except Exception as e:
            raise LandscapeError(f"the loss fails on the model's outputs: {type(e).__name__}: {_first_line(e)}") from None
        if not isinstance(value, torch.Tensor) or value.dim() != 0:
            raise LandscapeError(
                f"the loss must return the batch mean as a 0-d tensor, got {type(value).__name__}"
                + (f" of shape {tuple(value.shape)}" if isinstance(value, torch.Tensor) else "")
            )
        if classification:
            correct_count(out, yb)
        return Objective(loss=objective.loss, classification=classification)
    finally:
        model.train(was_training)


def _flops(model: nn.Module, run: Any) -> float:
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            run()
        return float(counter.get_total_flops())
    except Exception:  # a model the counter cannot follow: no estimate, no automatic compile
        return 0.0


def probe(model: nn.Module, data: Data, objective: Objective, device: torch.device,
          precision: Precision = Precision.fp32, sharded: bool = False) -> tuple[Probe, Objective]:
    """The facts for `resolve_plan`, and the checked objective."""
    objective = check_objective(model, data, objective)
    scripted = isinstance(model, torch.jit.ScriptModule)
    dev = _model_device(model)
    model_bytes = sum(t.nbytes for t in model.state_dict().values())
    was_training = model.training
    model.eval()
    try:
        if isinstance(data, TensorData) and objective.eval_fn is None:
            k = min(2, len(data))
            flops = _flops(model, lambda: model(data.x[:k].to(dev))) / k
            macs, map_bytes = (0, 0) if scripted else first_layer_macs(model, data.x)
            samples, dims, batches = len(data), data.x.dim(), 0
        else:
            batch = (data.x[:2], data.y[:2]) if isinstance(data, TensorData) else data.batches[0]
            checks = EvalChecks(objective.eval_fn)
            with torch.no_grad():
                count = float(checks.run(lambda: objective.eval_fn(model, to_device(batch, dev)), 0,
                                         "the model's weights").count)
            checks.finish()
            rows = float(len(batch[0])) if isinstance(data, TensorData) else count  # per sequence, not per token
            flops = _flops(model, lambda: objective.eval_fn(model, to_device(batch, dev))) / max(rows, 1.0)
            n_batches = len(data.batches) if isinstance(data, BatchData) else 0
            samples = int(count * n_batches) if n_batches else len(data)
            macs, map_bytes, dims, batches = 0, 0, 0, n_batches
        foldable = bool(find_pairs(model)) if not scripted else False
    finally:
        model.train(was_training)
    activation = 0.0
    if device.type == "cuda" and isinstance(data, TensorData) and not sharded:  # a sharded model may not fit one GPU
        activation = _activation_bytes(model, data, device, precision, objective.eval_fn)
    return Probe(samples=samples, input_dims=dims, data_bytes=data.nbytes, model_bytes=model_bytes,
                 flops_per_sample=flops, activation_bytes=activation, foldable=foldable, first_layer_macs=macs,
                 first_layer_map_bytes=map_bytes, scripted=scripted, custom_eval=objective.eval_fn is not None,
                 batches=batches), objective


def _activation_bytes(model: nn.Module, data: TensorData, device: torch.device, precision: Precision,
                      eval_fn: Any = None) -> float:
    """Peak GPU memory of a forward pass per sample, measured on 64 samples (8 sequences of an
    --eval function's tensors: a language model's logits are large)."""
    net = copy.deepcopy(model).to(device).eval()
    k = min(64 if eval_fn is None else 8, len(data))
    xb, yb = data.x[:k].to(device), data.y[:k].to(device)
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    with torch.no_grad(), precision_context(precision, device):
        net(xb) if eval_fn is None else eval_fn(net, (xb, yb))
    per_sample = (torch.cuda.max_memory_allocated(device) - before) / k
    del net, xb, yb
    torch.cuda.empty_cache()
    return float(per_sample)


def plan_for(model: nn.Module, data: Data, objective: Objective, settings: EvalSettings, device: torch.device,
             points: int, world: int = 1, profile: DeviceProfile | None = None,
             split_data: bool = False, fsdp: bool = False) -> tuple[Plan, Objective]:
    """Probe the model and data on `device` and resolve the plan for `points` grid points
    shared among `world` processes; `profile` stands in for the device's own (tests)."""
    profile = profile or profile_of(device)
    precision, _ = choose_precision(settings, profile)
    facts, objective = probe(model, data, objective, device if profile.kind == device.type else torch.device("cpu"),
                             precision, sharded=fsdp)
    return resolve_plan(settings, facts, profile, points, world, split_data, fsdp), objective
