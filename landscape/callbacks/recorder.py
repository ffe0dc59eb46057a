"""`Recorder`: what a landscape needs, recorded while a model trains, for a hand-written loop
(the Lightning and Hugging Face callbacks drive one too):

    rec = Recorder("runs/sgd", every=100, sharpness_every=100, batch=(x[:256], y[:256]))
    rec.start(model, optimizer)            # optional: the weights before training, step 0
    for x, y in loader:
        ...; optimizer.step()
        rec.step(model, optimizer)         # after each optimizer step
    rec.close(model)                       # the last weights; what the recording cost

It writes checkpoints named by step (`inputs.runs` reads the folder back), `run.json` (the
network's class, the data, the optimizer, the scheduler), `training.h5` with each step's
learning rate, and, every `sharpness_every` steps, the sharpness of the weights on one fixed
batch (`curvature.tracking`): λmax warm-started from the last eigenvector, the critical
sharpness along the update taken from them, 2/η and the optimizer's stability threshold.

The weights before a measured step are taken by a hook on the optimizer (`register_step_pre_hook`),
so the measurement sees the weights, the learning rate and the optimizer's state of that step.
Nothing it does changes the training: every measurement is functional, in eval mode, from its
own random generator, and the optimizer's virtual step (for the critical sharpness) is undone
bit for bit.
"""

from __future__ import annotations

import copy
import json
import math
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from landscape._version import __version__
from landscape.callbacks import saving
from landscape.callbacks.loggers import Logger
from landscape.choices import HvpMode
from landscape.curvature.tracking import SharpnessProbe, stability_threshold
from landscape.errors import LandscapeError
from landscape.inputs.data import to_device
from landscape.inputs.objective import EvalFn, LossFn, batch_loss, cross_entropy
from landscape.inputs.runs import PLAIN_NAME
from landscape.store.files import size_text
from landscape.store.training_log import append_rows, write_log

SHARPNESS_COLUMNS = ("step", "epoch", "lr", "two_over_lr", "threshold", "lambda_max", "critical_sharpness",
                     "critical_lr", "loss", "products", "passes", "residual", "seconds")
STEP_COLUMNS = ("step", "epoch", "lr", "train_loss")
FLUSH_SECONDS = 10.0  # the log is rewritten at most this often while training (and always at the end)


def _hf_loss(model: nn.Module, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
    """The mean loss a Hugging Face model computes from a batch with labels, counted as one sample."""
    return model(**batch).loss, 1


def objective_for(batch: Any, loss: LossFn | None, eval_fn: EvalFn | None) -> EvalFn:
    """What the sharpness is of: `eval_fn(model, batch)`; else `loss` (cross-entropy by default)
    over an (inputs, labels) batch; else, for a dict batch with labels, the model's own loss."""
    if eval_fn is not None:
        return eval_fn
    if isinstance(batch, Mapping):
        if "labels" not in batch:
            raise LandscapeError("the sharpness batch is a dict without labels: give the batch with labels, or "
                                 "eval_fn(model, batch) returning (loss sum, count)")
        return _hf_loss
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        classification = isinstance(batch[1], torch.Tensor) and not batch[1].is_floating_point()
        return batch_loss(loss or cross_entropy, classification)
    raise LandscapeError(f"the sharpness batch must be an (inputs, labels) pair or a dict of tensors, got "
                         f"{type(batch).__name__}; or give eval_fn")


def _innermost(optimizer: Any) -> torch.optim.Optimizer:
    """The torch optimizer inside wrappers (Lightning's, Accelerate's)."""
    for _ in range(4):
        inner = getattr(optimizer, "optimizer", None) or getattr(optimizer, "_optimizer", None)
        if not isinstance(inner, torch.optim.Optimizer):
            break
        optimizer = inner
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise LandscapeError(f"the optimizer given to the recorder is a {type(optimizer).__name__}, not a "
                             "torch.optim.Optimizer")
    return optimizer


def _settle(values: list[Any]) -> None:
    """Tensor entries of a column as floats, in place, with one transfer for all of them."""
    at = [i for i, v in enumerate(values) if isinstance(v, torch.Tensor)]
    if at:
        for i, v in zip(at, torch.stack([values[i].float().reshape(()) for i in at]).tolist()):
            values[i] = v


def _say_to_stderr(text: str) -> None:
    print(f"landscape: {text}", file=sys.stderr, flush=True)


class Recorder:
    """Checkpoints, the run's settings and sharpness, recorded into `folder` as a model trains.

    every: save a checkpoint every this many optimizer steps (None: not by steps);
    at: and at these steps; every_epochs: and every this many epochs (`epoch_end`);
    sharpness_every: measure sharpness every this many steps (None: never), on `batch`: the
      critical sharpness (forward passes) and λmax (Hessian-vector products);
    eigen_every: λmax only every this many steps (default: at each measurement; 0: never), as
      it costs more than the critical sharpness;
    loss / eval_fn: what the sharpness is of (default: cross-entropy over (x, y) batches);
    model / model_kwargs: the network's class and arguments, for `landscape trajectory` (default:
      the model's own class, built with no arguments);
    data: what `landscape trajectory` measures on: a `--data` name (e.g. "digits"), or tensors
      saved into the folder (an (x, y) pair, or a dict of input_ids and attention_mask);
    total_steps: the planned length, for the cost said up front;
    loggers: more places for each measurement (`loggers.TensorBoard`, `loggers.WandB`);
    quiet: say nothing (the cost up front, the overhead at the end).
    """

    def __init__(self, folder: str | Path, *, every: int | None = 100, at: Iterable[int] = (),
                 every_epochs: int | None = None, sharpness_every: int | None = None, eigen_every: int | None = None,
                 batch: Any = None,
                 loss: LossFn | None = None, eval_fn: EvalFn | None = None, max_products: int = 30,
                 tol: float = 1e-2, critical: bool = True, hvp_mode: HvpMode | str = HvpMode.auto,
                 model: str | None = None, model_kwargs: Mapping[str, Any] | None = None, data: Any = None,
                 total_steps: int | None = None, name: str | None = None, loggers: Sequence[Logger] = (),
                 quiet: bool = False, say: Callable[[str], None] | None = None):
        for label, value in (("every", every), ("every_epochs", every_epochs), ("sharpness_every", sharpness_every)):
            if value is not None and not (isinstance(value, int) and value >= 1):
                raise LandscapeError(f"Recorder's {label} must be a whole number ≥ 1 (or None), got {value!r}")
        self.folder = Path(folder)
        self.every, self.at, self.every_epochs = every, set(int(s) for s in at), every_epochs
        if eigen_every is not None and not (isinstance(eigen_every, int) and eigen_every >= 0):
            raise LandscapeError(f"Recorder's eigen_every must be a whole number ≥ 0 (or None), got {eigen_every!r}")
        self.sharpness_every, self.batch, self.loss, self.eval_fn = sharpness_every, batch, loss, eval_fn
        self.eigen_every = sharpness_every if eigen_every is None else eigen_every
        if self.eigen_every and sharpness_every and self.eigen_every % sharpness_every:
            raise LandscapeError(f"Recorder's eigen_every ({eigen_every}) must be a multiple of sharpness_every "
                                 f"({sharpness_every}): λmax is measured at some of the sharpness measurements")
        self.max_products, self.tol, self.critical, self.hvp_mode = max_products, tol, critical, HvpMode(hvp_mode)
        self.model_class, self.model_kwargs, self.data = model, dict(model_kwargs or {}), data
        self.total_steps, self.name, self.loggers = total_steps, name or self.folder.name, list(loggers)
        self.say = (lambda text: None) if quiet else (say or _say_to_stderr)
        self.steps = 0
        self.epoch: int | None = None
        self.started = False
        self.checkpoints: list[dict[str, Any]] = []
        self.sharpness: dict[str, list[float]] = {c: [] for c in SHARPNESS_COLUMNS}
        self.pending: dict[str, list[float]] = {c: [] for c in STEP_COLUMNS}
        self.step_columns: dict[str, list[float]] = {c: [] for c in STEP_COLUMNS}
        self.spent = 0.0  # seconds inside the recorder
        self.t_first: float | None = None
        self.probe: SharpnessProbe | None = None
        self._optimizer: torch.optim.Optimizer | None = None
        self._scheduler: Any = None
        self._model: nn.Module | None = None
        self._hooks: list[Any] = []
        self._lr_used: list[float] | None = None
        self._flushed = time.monotonic()
        self._buffers: dict[str, torch.Tensor] | None = None
        self._saved: set[int] = set()  # the steps saved (on every rank, unlike `checkpoints`)
        self._virtual = False  # inside a virtual step: the hook stays out of it
        self._in_step = False  # the hook has seen this step (a subclass's step may call its parent's)
        self._data_name: str | None = None
        self._notes: list[str] = []
        self._extra: dict[str, str] = {}  # other weights saved by name (an SWA average)
        self._model_info: dict[str, Any] = {}
        self.last: dict[str, float] | None = None  # the last measurement, for the callbacks' loggers

    # ------------------------------------------------------------------ the loop's calls
    def start(self, model: nn.Module, optimizer: Any = None, scheduler: Any = None, step: int = 0,
              save: bool = True) -> None:
        """Before training: say what the recording will cost, save the weights of `step` (0, or
        the step a resumed training starts from: the run's earlier checkpoints and log are kept),
        and watch the optimizer's steps. Called by the first `step` if not before, then saving
        nothing (the weights it sees are already past step 0)."""
        if self.started:
            return
        t0 = time.perf_counter()
        self.t_first = t0  # the training's clock starts here: its share is of the whole, recording included
        self.started, self._scheduler, self.steps = True, scheduler, int(step)
        self._model = saving.unwrap(model)
        if self.sharpness_every is not None and saving.is_sharded(self._model):
            raise LandscapeError("sharpness during training needs the whole model on each rank; under FSDP record "
                                 "checkpoints only (sharpness_every=None) and measure them afterwards "
                                 "with landscape sharpness")
        if saving.rank() == 0:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._earlier_part()
            self._describe_model()
            if self.data is not None and not isinstance(self.data, str):
                self._data_name = saving.save_data(self.folder, self.data)
            elif isinstance(self.data, str):
                self._data_name = self.data
        if optimizer is not None:
            self._watch(optimizer)
        if save:
            self._keep_buffers()
            if self.every is not None or self.steps in self.at or self.steps > 0:
                self._save(model, self.steps)
        self._say_cost(model)
        self.spent += time.perf_counter() - t0

    def step(self, model: nn.Module, optimizer: Any, scheduler: Any = None, *, step: int | None = None,
             epoch: int | None = None, loss: float | torch.Tensor | None = None) -> None:
        """After an optimizer step: record its learning rate (and `loss`, the training loss, if
        given), measure sharpness and save a checkpoint when due. `step`: the trainer's count of
        optimizer steps (default: one more than the last)."""
        if not self.started:
            self.start(model, optimizer, scheduler, step=self.steps if step is None else int(step) - 1, save=False)
        t0 = time.perf_counter()
        self._scheduler = scheduler or self._scheduler
        self._watch(optimizer)
        self.steps = int(step) if step is not None else self.steps + 1
        self.epoch = epoch if epoch is not None else self.epoch
        lrs = self._lr_used or [float(g["lr"]) for g in self._optimizer.param_groups]
        self._lr_used, self._in_step = None, False
        # a tensor loss stays on its device until the log is written: no synchronization per step
        value = loss.detach() if isinstance(loss, torch.Tensor) else (math.nan if loss is None else float(loss))
        for c, v in zip(STEP_COLUMNS, (self.steps, math.nan if self.epoch is None else self.epoch, lrs[0], value)):
            self.pending[c].append(v if c == "train_loss" else float(v))
            self.step_columns[c].append(v if c == "train_loss" else float(v))
        self._keep_buffers()
        if (self.every is not None and self.steps % self.every == 0) or self.steps in self.at:
            self._save(model, self.steps)
        self.spent += time.perf_counter() - t0

    def epoch_end(self, model: nn.Module, epoch: int | None = None) -> None:
        """At the end of an epoch (counted from 1): a checkpoint every `every_epochs` epochs."""
        self.epoch = epoch if epoch is not None else (self.epoch or 0) + 1
        if self.every_epochs is not None and self.epoch % self.every_epochs == 0:
            t0 = time.perf_counter()
            self._save(model, self.steps)
            self.spent += time.perf_counter() - t0

    def train_loss(self, step: int, value: float) -> None:
        """The training loss of a step already recorded (a trainer that logs it after the step)."""
        for columns in (self.pending, self.step_columns):
            if columns["step"] and columns["step"][-1] == step:
                columns["train_loss"][-1] = float(value)

    def keep_data(self, data: Any) -> None:
        """Save tensors into the folder as the run's data to measure on (data.pt: an (x, y) pair, or
        a dict of input_ids and attention_mask), unless the run already names its data."""
        if self._data_name is not None or saving.rank() != 0:
            return
        t0 = time.perf_counter()
        self.folder.mkdir(parents=True, exist_ok=True)
        self._data_name = saving.save_data(self.folder, data)
        if self.started:
            self._write_run()
        self.spent += time.perf_counter() - t0

    def save(self, model: nn.Module, name: str) -> Path | None:
        """Save other weights into the folder under `name` (e.g. "swa" for an averaged model): not a
        step of the path, listed in run.json as extra. Returns the file (None on ranks > 0)."""
        if not PLAIN_NAME.match(name):
            raise LandscapeError(f"a checkpoint name must be a plain file name, got {name!r}")
        state = saving.full_state(saving.unwrap(model))
        if state is None:
            return None
        path = saving.save_weights(self.folder / f"{name}.safetensors", state, {"format": "pt", "name": name})
        self._extra[name] = path.name
        self._write_run()
        return path

    def close(self, model: nn.Module | None = None) -> None:
        """After training: the last weights (if not saved at that step), the log, and what the
        recording cost, said and kept in run.json."""
        t0 = time.perf_counter()
        for h in self._hooks:
            h.remove()
        self._hooks = []
        if model is not None and self.started and self.steps not in self._saved:
            self._save(model, self.steps)
        self._flush()
        self.spent += time.perf_counter() - t0
        wall = time.perf_counter() - self.t_first if self.t_first is not None else 0.0
        if saving.rank() == 0 and self.started:
            self._write_run()
            disk = sum(f.stat().st_size for f in self.folder.rglob("*") if f.is_file())
            share = f", {100 * self.spent / wall:.1f}% of the training's {wall:.1f} s" if wall > 0 else ""
            self.say(f"recorded {len(self.checkpoints)} checkpoints and {len(self.sharpness['step'])} sharpness "
                     f"measurements in {self.folder} ({size_text(disk)}); they took {self.spent:.1f} s{share}")

    # ------------------------------------------------------------------ inside
    def _watch(self, optimizer: Any) -> None:
        opt = _innermost(optimizer)
        if opt is self._optimizer:
            return
        for h in self._hooks:
            h.remove()
        self._optimizer = opt
        self._hooks = [opt.register_step_pre_hook(self._pre_step)]

    def _pre_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        """Before each optimizer step: its learning rate; and, when due, the measurement of the
        weights it starts from, with its learning rate. Once per step of the loop: not inside the
        virtual step, nor again where a subclass's `step` calls its parent's."""
        if self._virtual or self._in_step:
            return
        self._in_step = True  # until `step` records it
        self._lr_used = [float(g["lr"]) for g in optimizer.param_groups]
        found_inf = getattr(optimizer, "found_inf", None)  # a fused optimizer under GradScaler: skipped inside
        skipped = isinstance(found_inf, torch.Tensor) and bool(found_inf.sum() > 0)
        due = self.sharpness_every is not None and self.steps % self.sharpness_every == 0
        if due and not skipped and saving.rank() == 0 and self._model is not None and self.batch is not None:
            t0 = time.perf_counter()
            try:
                self._measure(self._lr_used[0])
            except Exception as e:  # never end the user's training, nor leave other ranks waiting
                self.sharpness_every = None
                self._note(f"sharpness is off from step {self.steps}: measuring it failed "
                           f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})")
            self.spent += time.perf_counter() - t0

    def _keep_buffers(self) -> None:
        """The buffers (BatchNorm's statistics) as they are after this step, when the next step's
        weights will be measured: the next forward pass changes them before the optimizer's hook
        runs, and the measurement is of the weights a checkpoint of this step holds."""
        due = self.sharpness_every is not None and self.steps % self.sharpness_every == 0
        self._buffers = ({n: b.detach().clone() for n, b in self._model.named_buffers()}
                         if due and self._model is not None and saving.rank() == 0 else None)

    def _virtual_update(self, grads: dict[str, torch.Tensor]) -> dict[str, torch.Tensor] | None:
        """The step the optimizer would take now with these gradients (Kalra et al.'s virtual
        step, for any torch optimizer): taken, read off, and undone, every parameter the
        optimizer holds, their gradients, its state and its groups' settings restored bit for
        bit. None where the optimizer cannot take it alone (one that needs a closure, one that
        communicates in its step): the critical sharpness is then off, with a note."""
        opt, model = self._optimizer, self._model
        assert opt is not None and model is not None
        if type(opt).__name__ == "ZeroRedundancyOptimizer":
            return self._no_critical("the optimizer communicates across ranks in its step")
        names = {p: n for n, p in model.named_parameters() if n in grads}
        params = [p for g in opt.param_groups for p in g["params"]]
        grads_before = [p.grad for p in params]
        weights = [p.detach().clone() for p in params]
        state = {p: {k: (v.clone() if isinstance(v, torch.Tensor) else copy.deepcopy(v)) for k, v in st.items()}
                 for p, st in opt.state.items()}
        groups = [{k: copy.deepcopy(v) for k, v in g.items() if k != "params"} for g in opt.param_groups]
        scaler = {k: getattr(opt, k) for k in ("grad_scale", "found_inf") if hasattr(opt, k)}  # GradScaler's, fused
        self._virtual = True
        try:
            for k in scaler:
                setattr(opt, k, None)  # these gradients are not scaled
            for p in params:
                p.grad = grads[names[p]].to(p.dtype) if p in names else None
            with torch.no_grad():
                opt.step()
            return {names[p]: p.detach() - w for p, w in zip(params, weights) if p in names}
        except Exception as e:  # LBFGS needs a closure; others may refuse a bare step
            return self._no_critical(f"the optimizer's step cannot be taken alone ({type(e).__name__}: {e})")
        finally:
            self._virtual = False
            with torch.no_grad():
                for p, w, g in zip(params, weights, grads_before):
                    p.copy_(w)
                    p.grad = g
            for p in [p for p in opt.state if p not in state]:
                del opt.state[p]
            for p, st in state.items():
                now = opt.state[p]
                for k in [k for k in now if k not in st]:
                    del now[k]
                for k, v in st.items():  # in place, so that captured or compiled steps keep their tensors
                    if isinstance(v, torch.Tensor) and isinstance(now.get(k), torch.Tensor) and now[k].shape == v.shape:
                        now[k].copy_(v)
                    else:
                        now[k] = v
            for g, saved in zip(opt.param_groups, groups):
                for k in [k for k in g if k != "params" and k not in saved]:
                    del g[k]
                g.update(saved)
            for k, v in scaler.items():
                setattr(opt, k, v)

    def _earlier_part(self) -> None:
        """A training resumed at step k > 0 into a folder that holds its run: the checkpoints
        and log rows before k are kept (later ones were the abandoned part); at step 0 the
        folder's run starts over."""
        from landscape.inputs.runs import RUN_FILE
        from landscape.store.training_log import LOG_NAME, read_log

        if self.steps > 0 and (self.folder / RUN_FILE).is_file():
            try:
                earlier = json.loads((self.folder / RUN_FILE).read_text()).get("checkpoints", [])
                self.checkpoints = [c for c in earlier if isinstance(c, dict) and isinstance(c.get("step"), int)
                                    and c["step"] < self.steps]
                if (self.folder / LOG_NAME).is_file():
                    log = read_log(self.folder)
                    # steps 1..k were taken; the measurement of step k's weights is the new part's
                    for kept, read, last in ((self.sharpness, log.sharpness, self.steps - 1),
                                             (self.step_columns, log.steps, self.steps)):
                        rows = read.get("step", np.array([])) <= last
                        for c in kept:
                            kept[c] = [float(v) for v in read[c][rows]] if c in read else [math.nan] * int(rows.sum())
            except (OSError, ValueError, LandscapeError):
                self.checkpoints = []  # unreadable: this run's record starts here
        append_rows(self.folder, self.step_columns, anew=True)

    def _no_critical(self, why: str) -> None:
        self.critical = False
        if self.probe is not None:
            self.probe.critical = False
        self._note(f"no critical sharpness: {why}")
        return None

    def _note(self, text: str) -> None:
        """A note for the user, said once and kept in run.json."""
        if text not in self._notes:
            self._notes.append(text)
            self.say(text)

    def _measure(self, lr: float) -> None:
        """The measurement of the weights the coming step starts from, logged as this step's."""
        model = self._model
        assert model is not None
        device = next(model.parameters()).device
        if self.probe is None:
            fn = objective_for(self.batch, self.loss, self.eval_fn)
            names = [n for n, p in model.named_parameters() if p.requires_grad]
            self.probe = SharpnessProbe([to_device(self.batch, device)], fn, names, self.max_products, self.tol,
                                        self.critical, hvp_mode=self.hvp_mode)
        t0 = time.perf_counter()
        eigen = bool(self.eigen_every) and self.steps % self.eigen_every == 0
        row = self.probe.measure(model, lr, self._virtual_update, self._buffers, eigen)
        seconds = time.perf_counter() - t0
        values = {"step": float(self.steps), "epoch": math.nan if self.epoch is None else float(self.epoch),
                  "lr": lr, "two_over_lr": 2.0 / lr if lr > 0 else math.nan,
                  "threshold": stability_threshold(self._optimizer) if self._optimizer is not None else math.nan,
                  **row, "seconds": seconds}
        for c in SHARPNESS_COLUMNS:
            self.sharpness[c].append(float(values[c]))
        self.last = {k: values[k] for k in ("lambda_max", "critical_sharpness", "two_over_lr", "threshold", "loss")}
        for logger in self.loggers:
            logger(self.steps, self.last)
        if len(self.sharpness["step"]) == 1:
            self.say(f"one sharpness measurement took {seconds:.2f} s ({int(row['products'])} Hessian-vector "
                     f"products, {int(row['passes'])} forward passes)")
        if time.monotonic() - self._flushed > FLUSH_SECONDS:
            self._flush()

    def _save(self, model: nn.Module, step: int) -> None:
        self._saved.add(step)  # on every rank: each decides alike whether to gather
        state = saving.full_state(saving.unwrap(model))  # every rank: a collective when sharded
        if state is None:
            return
        path = saving.save_checkpoint(self.folder, saving.unwrap(model), state, step, self.epoch)
        self.checkpoints = [c for c in self.checkpoints if c["step"] != step]
        self.checkpoints.append({"step": step, "epoch": self.epoch, "file": path.name,
                                 "lr": self.step_columns["lr"][-1] if self.step_columns["lr"] else None})
        self._write_run()  # run.json lists the checkpoint at once; the log follows within FLUSH_SECONDS
        if time.monotonic() - self._flushed > FLUSH_SECONDS or step == 0:
            self._flush()

    def _flush(self) -> None:
        """The log on disk: at the start, at the end, and at a checkpoint or measurement at least
        FLUSH_SECONDS after the last writing (each rewrite costs milliseconds a small model's
        steps would pay)."""
        if saving.rank() != 0 or not self.started:
            return
        self._flushed = time.monotonic()
        for columns in (self.pending, self.step_columns):
            _settle(columns["train_loss"])
        if self.pending["step"]:
            append_rows(self.folder, self.pending)
            self.pending = {c: [] for c in STEP_COLUMNS}
        write_log(self.folder, {"sharpness": self.sharpness, "steps": self.step_columns},
                  {"run": self.name, "optimizer": saving.optimizer_settings(self._optimizer).get("class", ""),
                   "sharpness_every": self.sharpness_every or 0})

    def _describe_model(self) -> None:
        model = self._model
        assert model is not None
        if saving.is_hf_model(model):
            self._model_info = {"class": None, "kwargs": {}, "hugging_face": True}
            return
        kwargs, dropped = saving.json_kwargs(self.model_kwargs or dict(getattr(model, "hparams", {}) or {}))
        cls = self.model_class or saving.class_path(model)
        self._model_info = {"class": cls, "kwargs": kwargs}
        missing = [] if self.model_class else saving.needs_arguments(model, kwargs)
        if cls.startswith("__main__:") or missing or dropped:
            why = ("its class is defined in the script itself" if cls.startswith("__main__:")
                   else f"its class needs {', '.join(missing or dropped)}, which the recorder does not know")
            self._notes.append(f"landscape trajectory will need --model for this run: {why} "
                               f"(give Recorder(model=..., model_kwargs=...) to record it)")

    def _write_run(self) -> None:
        if saving.rank() != 0:
            return
        model = self._model
        params = sum(p.numel() for p in model.parameters()) if model is not None else 0
        wall = time.perf_counter() - self.t_first if self.t_first is not None else 0.0
        saving.write_run(self.folder, {
            "landscape": __version__, "run": self.name,
            "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "model": {**self._model_info, "parameters": params},
            "data": self._data_name,
            "optimizer": saving.optimizer_settings(self._optimizer),
            "scheduler": saving.scheduler_settings(self._scheduler),
            "checkpoints": sorted(self.checkpoints, key=lambda c: c["step"]),
            "extra": dict(self._extra),
            "recording": {"every": self.every, "at": sorted(self.at), "every_epochs": self.every_epochs,
                          "sharpness_every": self.sharpness_every, "eigen_every": self.eigen_every,
                          "max_products": self.max_products,
                          "critical": self.critical, "steps": self.steps,
                          "seconds": round(self.spent, 3), "training_seconds": round(wall, 3)},
            "notes": self._notes,
        })

    def _say_cost(self, model: nn.Module) -> None:
        """What the recording will take, before it starts: disk, and the work of a measurement."""
        if saving.rank() != 0:
            return
        net = saving.unwrap(model)
        size = sum(t.numel() * t.element_size() for t in (*net.parameters(), *net.buffers()))  # no collective
        count = None
        if self.total_steps:
            count = (len(range(0, self.total_steps + 1, self.every)) if self.every else 0) + len(self.at)
            if self.every_epochs is None:
                count += 1 if self.every is None or self.total_steps % self.every else 0  # the last weights
        parts = [f"recording into {self.folder}:"]
        when = " and ".join(filter(None, [f"every {self.every} steps" if self.every else "",
                                          f"every {self.every_epochs} epochs" if self.every_epochs else "",
                                          f"at steps {sorted(self.at)}" if self.at else ""])) or "at the end"
        parts.append(f"a checkpoint {when}, {size_text(size)} each"
                     + (f" (about {size_text(size * count)} for {self.total_steps:,} steps)" if count else ""))
        if self.sharpness_every:
            parts[-1] += ";"
            eigen = (f"λmax every {self.eigen_every} steps, up to {self.max_products} Hessian-vector products (about "
                     "3 training steps each) warm-started" if self.eigen_every else "no λmax")
            parts.append(f"sharpness every {self.sharpness_every} steps on a fixed batch: the critical sharpness, "
                         f"6-10 forward passes and a gradient; {eigen}")
        self.say(" ".join(parts) + (". " + " ".join(self._notes) if self._notes else ""))
