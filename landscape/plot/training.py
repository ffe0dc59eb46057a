"""Figures of a training log (`landscape.callbacks`): the edge-of-stability figure, sharpness
against step with the stability line of the learning rate (Cohen et al. 2021), above the loss.

- `sharpness_curve(log, ax)`: λmax (line and dots), the critical sharpness λc (open dots), 2/η
  as a step line of every step's learning rate (dashed), and, for SGD with momentum, the
  optimizer's own threshold (2 + 2β)/η (dotted); log scale, as 2/η spans decades under decay;
- `loss_curve(log, ax)`: the training loss of each step (where the loop gave it) and the loss on
  the fixed batch at each measurement;
- `training_figure(logs)`: both, one column per run, sharpness scales shared across runs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from landscape.errors import LandscapeError
from landscape.export.colors import run_color
from landscape.plot.figures import Made, _MADE, _note, planned_size
from landscape.plot.options import PlotOptions
from landscape.plot.style import STYLE, look, using
from landscape.store.training_log import TrainingLog


def _finite_positive(v: np.ndarray) -> np.ndarray:
    return np.isfinite(v) & (v > 0)


def _top(log: TrainingLog) -> float:
    """The sharpness axis's top: room above λmax and the lowest stability line, not the 2/η of a
    learning rate near zero (a warm-up's start, a cosine's end), which runs off to infinity."""
    s, steps = log.sharpness, log.steps
    lam = s.get("lambda_max", np.array([]))
    lr = steps.get("lr", np.array([]))
    two = np.divide(2.0, lr, out=np.full(lr.shape, np.inf), where=lr > 0)
    lines = [v[_finite_positive(v)] for v in (s.get("threshold", np.array([])), s.get("two_over_lr", np.array([])), two)]
    low = min((float(v.min()) for v in lines if len(v)), default=1.0)
    peak = float(np.nanmax(lam[_finite_positive(lam)])) if _finite_positive(lam).any() else low
    return 10 ** np.ceil(np.log10(max(3 * peak, 3 * low)))


def sharpness_curve(log: TrainingLog, ax: Axes, color: str = "black", legend: bool = True) -> list:
    """Sharpness against step in `ax`; returns the artists drawn."""
    s, steps = log.sharpness, log.steps
    drawn: list = []
    if steps.get("lr") is not None and len(steps["lr"]):
        lr = steps["lr"]
        ok = _finite_positive(lr)
        if ok.any():
            drawn += ax.step(steps["step"][ok], 2.0 / lr[ok], where="post", color="0.45", linestyle="--",
                             linewidth=1.0, label="2/η")
    if len(s.get("step", [])):
        thr = s.get("threshold", np.array([]))
        ok = _finite_positive(thr)
        if ok.any() and not np.allclose(thr[ok], s["two_over_lr"][ok], rtol=1e-9):
            drawn += ax.step(s["step"][ok], thr[ok], where="post", color="0.45", linestyle=":", linewidth=1.0,
                             label="(2+2β)/η")
        lam = s["lambda_max"]
        ok = _finite_positive(lam)
        drawn += ax.plot(s["step"][ok], lam[ok], color=color, marker="o", markersize=2.5, linewidth=1.2,
                         label="λmax")
        crit = s.get("critical_sharpness", np.array([]))
        ok = _finite_positive(crit)
        top = _top(log)
        inside, over = ok & (crit <= top), ok & (crit > top)
        if inside.any():
            drawn += ax.plot(s["step"][inside], crit[inside], linestyle="none", marker="o", markersize=3,
                             markerfacecolor="none", markeredgecolor=color, markeredgewidth=0.7, alpha=0.8,
                             label="λc (critical)")
        if over.any():  # beyond the axis: at its edge, as up-pointing marks
            drawn += ax.plot(s["step"][over], np.full(int(over.sum()), top), linestyle="none", marker="^", markersize=3,
                             markerfacecolor="none", markeredgecolor=color, markeredgewidth=0.7, clip_on=False)
    if not drawn:
        raise LandscapeError(f"{str(log.path)!r} holds no learning rate above 0 and no sharpness measurement to draw; "
                             "measure sharpness while training (sharpness_every=N)")
    ax.set_yscale("log")
    if len(s.get("step", [])):
        ax.set_ylim(top=_top(log))
    ax.set_ylabel("sharpness")
    if legend:
        ax.legend(loc="best", frameon=False, fontsize="small")
    return drawn


def loss_curve(log: TrainingLog, ax: Axes, color: str = "black", legend: bool = True) -> list:
    """The loss against step in `ax`; returns the artists drawn."""
    drawn: list = []
    steps = log.steps
    if len(steps.get("train_loss", [])) and np.isfinite(steps["train_loss"]).any():
        ok = np.isfinite(steps["train_loss"])
        drawn += ax.plot(steps["step"][ok], steps["train_loss"][ok], color=color, alpha=0.35, linewidth=0.6,
                         label="training loss")
    s = log.sharpness
    if len(s.get("loss", [])) and np.isfinite(s["loss"]).any():
        ok = np.isfinite(s["loss"])
        drawn += ax.plot(s["step"][ok], s["loss"][ok], color=color, marker="o", markersize=2.5, linewidth=1.0,
                         label="loss on the fixed batch")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    positive = [a.get_ydata() for a in drawn]
    if positive and all(np.all(np.asarray(y) > 0) for y in positive):
        ax.set_yscale("log")
    if legend and drawn:
        ax.legend(loc="best", frameon=False, fontsize="small")
    return drawn


def training_figure(logs: Sequence[TrainingLog], options: PlotOptions = PlotOptions(),
                    labels: Sequence[str] | None = None) -> Figure:
    """Sharpness above loss, one column per log, sharpness and loss scales shared across runs."""
    if not logs:
        raise LandscapeError("no training log to draw")
    n = len(logs)
    ref = (STYLE.size_line[0] * (1 + 0.75 * (n - 1)), STYLE.size_line[1] * 1.45)
    size = planned_size(options) or ref
    style = look(options, ref, size)
    names = list(labels or options.labels or [log.name for log in logs])
    with using(style):
        fig = Figure(figsize=size, dpi=options.dpi, layout="constrained")
        axes = fig.subplots(2, n, sharex="col", sharey="row", squeeze=False, height_ratios=(3, 2))
        for k, log in enumerate(logs):
            color = run_color(0)
            sharpness_curve(log, axes[0, k], color, legend=False)
            loss_curve(log, axes[1, k], color, legend=False)
            if n > 1:
                axes[0, k].set_title(names[k] if k < len(names) else log.name)
            if k > 0:
                axes[0, k].set_ylabel("")
                axes[1, k].set_ylabel("")
        handles, names_ = [], []
        for ax in axes[:, 0]:
            h, lab = ax.get_legend_handles_labels()
            handles, names_ = handles + h, names_ + lab
        fig.legend(handles, names_, loc="outside lower center", ncol=3 if size[0] >= 5 else 2, frameon=False,
                   fontsize="small")
        if options.title:
            fig.suptitle(options.title)
        notes = ["λmax: top Hessian eigenvalue on a fixed batch (eval mode), warm-started Lanczos; λc: critical "
                 "sharpness 2/ηc of the optimizer's step (Kalra et al. 2026); dashed: 2/η of each step's learning rate"]
        if options.notes:
            _note(fig, [], notes)
    _MADE[fig] = Made(style, notes, options.transparent, " ".join(n.rstrip(".") + "." for n in notes))
    return fig
