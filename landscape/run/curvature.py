"""Curvature numbers of checkpoints, as files and tables: checkpoint + data → Hessian file
(`landscape hessian`) and checkpoints + data → sharpness table (`landscape sharpness`).

The math is in `landscape.curvature` (numbers only, no files); this module loads what it needs
the way `compute` does (the same checkpoint, model, data, loss and `--eval` options), takes the
device, precision and batch size from the same evaluation plan, and writes the files: the
Hessian file through `landscape.store.hessian_file`, the table's CSV, Markdown and LaTeX here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from landscape._version import __version__
from landscape.choices import HvpMode
from landscape.curvature.sharpness import SharpnessRow, SharpnessSettings, sharpness
from landscape.curvature.spectrum import HessianResult, HessianSettings, hessian
from landscape.curvature.tables import table_csv, table_latex, table_markdown
from landscape.engine import EvalSettings, Plan, Precision, plan_for, precision_context, resolve_device
from landscape.engine.functional import device_batches, objective_fn
from landscape.errors import LandscapeError, arg, as_python
from landscape.inputs import hf
from landscape.inputs.loading import checkpoint_sha256, load_all
from landscape.run.provenance import data_counts
from landscape.inputs.checkpoint import ModelSpec, resolve_checkpoint
from landscape.inputs.data import DataSpec, data_label
from landscape.inputs.objective import EvalFn, Loss
from landscape.inputs.params import ParamSelection
from landscape.store.files import write_bytes
from landscape.store.hessian_file import write_hessian

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class CurvatureJob:
    """What `landscape hessian` and `landscape sharpness` share with `compute`: how to load the
    model and the data, the loss, and the evaluation settings (device, precision, batch size)."""

    model: ModelSpec = ModelSpec()
    data: DataSpec = DataSpec()
    loss: Loss = Loss()
    evaluation: EvalSettings = EvalSettings()
    subset: ParamSelection = ParamSelection()  # the tensors the Hessian is over
    trust_checkpoint: bool = False
    command: str = ""  # the command line that asked for it, recorded in the Hessian file (the caller's to give)


@dataclass
class Loaded:
    """A model on its device, its data as batches there, and the evaluation function over them."""

    model: nn.Module
    batches: list[Any]
    fn: EvalFn
    plan: Plan
    device: torch.device
    params: tuple[str, ...] | None
    samples: int
    data_label: str
    counts: dict = dataclasses.field(default_factory=dict)  # sequences and tokens of token data (`data_counts`)


def load(job: CurvatureJob, checkpoint: Path) -> Loaded:
    """Load one checkpoint and the data as the plan says (device, precision, the batch of a
    Hessian-vector product). Curvature numbers are exact fp32 unless a precision is given:
    they are compared to 1e-5, and TF32 (the GPU default for surfaces) is 5e-4 off."""
    device = resolve_device(job.evaluation.device)
    precision = job.evaluation.precision  # as given: a language model's folder keeps its dtype unless told
    if job.evaluation.precision == Precision.auto:
        job = dataclasses.replace(job, evaluation=dataclasses.replace(job.evaluation, precision=Precision.fp32))
    resolve_checkpoint(checkpoint)  # a missing or unreadable checkpoint: its one-line error first
    model, data, objective = load_all(checkpoint, job.model, job.data, job.loss, job.trust_checkpoint,
                                      hf.weights_precision(precision))
    plan, objective = plan_for(model, data, objective, job.evaluation, device, points=1)
    device = torch.device(plan.device) if plan.device != device.type else device
    model = model.to(device).eval()  # freshly loaded: ours to move
    batches = device_batches(data, plan.hvp_batch, device)  # the plan's batch for Hessian-vector products
    subset = job.subset.names(model, dict(model.named_parameters()))
    params = None if subset is None else tuple(n for n, _ in model.named_parameters() if n in subset)
    return Loaded(model, batches, objective_fn(objective), plan, device, params, len(data), data_label(job.data, data),
                  data_counts(data))


def hessian_file(job: CurvatureJob, checkpoint: Path, settings: HessianSettings, out: Path,
                 progress: Progress | None = None) -> HessianResult:
    """The Hessian of the mean loss at the checkpoint's weights, written to `out` with every
    setting as an attribute (`compute --directions out` then draws the plane of its top two
    eigenvectors; `density_figure_path(out)` names its density figure)."""
    loaded = load(job, checkpoint)
    settings = dataclasses.replace(settings, params=settings.params or loaded.params,
                                   autocast=loaded.plan.precision.autocast_dtype)
    with precision_context(loaded.plan.precision, loaded.device):
        result = hessian(loaded.model, loaded.batches, loaded.fn, settings, progress=progress)
    attrs = {"checkpoint": str(checkpoint), "checkpoint_sha256": checkpoint_sha256(checkpoint),
             "model": job.model.factory or "(from checkpoint)", "model_kwargs": job.model.kwargs, "data": loaded.data_label,
             "loss_name": job.loss.label, "precision": loaded.plan.precision.value, "device": str(loaded.device),
             "batches": len(loaded.batches), "versions": f"landscape {__version__}, torch {torch.__version__}",
             "command": job.command}
    if job.subset.describe():
        attrs["subset"] = job.subset.describe()
    attrs.update(loaded.counts)
    write_hessian(out, result, attrs)
    return result


def density_figure_path(hessian_path: Path) -> Path:
    """Where the spectral density of the Hessian file `hessian_path` is drawn: beside it, `.h5`
    replaced by `.density.png` (`h.hessian.h5` → `h.hessian.density.png`)."""
    hessian_path = Path(hessian_path)
    return hessian_path.with_name(hessian_path.name.removesuffix(".h5") + ".density.png")


def sharpness_rows(job: CurvatureJob, checkpoints: list[Path], settings: SharpnessSettings,
                   on_row: Callable[[SharpnessRow], None] | None = None,
                   tick: Callable[[], None] | None = None) -> list[SharpnessRow]:
    """One row of sharpness numbers per checkpoint, in the order given; `tick()` between steps."""
    rows = []
    names = _names(checkpoints)
    for checkpoint, name in zip(checkpoints, names):
        loaded = load(job, checkpoint)
        hs = dataclasses.replace(settings.hessian, params=settings.hessian.params or loaded.params,
                                 autocast=loaded.plan.precision.autocast_dtype)
        with precision_context(loaded.plan.precision, loaded.device):
            row = sharpness(loaded.model, loaded.batches, loaded.fn, dataclasses.replace(settings, hessian=hs), name,
                            tick)
        rows.append(row)
        if on_row is not None:
            on_row(row)
    return rows


def _names(checkpoints: list[Path]) -> list[str]:
    """Short row names: the file names, or the paths when two share a name."""
    names = [Path(c).name for c in checkpoints]
    return names if len(set(names)) == len(names) else [str(c) for c in checkpoints]


@dataclass
class SharpnessTable:
    """What `sharpness_table` made: the rows, the files written (PREFIX.csv, PREFIX.md,
    PREFIX.tex, in that order) and the Markdown table's text (to print without reading it back)."""

    rows: list[SharpnessRow]
    paths: list[Path]
    markdown: str


def write_table(rows: Sequence[SharpnessRow], prefix: Path) -> list[Path]:
    """PREFIX.csv, PREFIX.md and PREFIX.tex (`curvature.tables`), each written to a temporary
    file and renamed; nothing is written if the rows do not make a table."""
    prefix = Path(prefix)
    texts = ((".csv", table_csv(rows)), (".md", table_markdown(rows)), (".tex", table_latex(rows)))
    out = []
    try:
        prefix.parent.mkdir(parents=True, exist_ok=True)
        for suffix, text in texts:
            out.append(write_bytes(prefix.with_name(prefix.name + suffix), text.encode("utf-8")))
    except OSError as e:
        raise LandscapeError(f"cannot write the table {str(prefix)!r}.*: {e.strerror or e}; "
                             f"choose another {arg('out')}", field="out") from None
    return out


def sharpness_table(job: CurvatureJob, checkpoints: list[Path], settings: SharpnessSettings, prefix: Path,
                    on_row: Callable[[SharpnessRow], None] | None = None,
                    tick: Callable[[], None] | None = None) -> SharpnessTable:
    """PREFIX.csv, PREFIX.md and PREFIX.tex with one row per checkpoint. Interrupted (a
    KeyboardInterrupt, e.g. from `tick`) after some rows, it writes those rows, then re-raises."""
    if not checkpoints:
        raise LandscapeError("sharpness needs at least one checkpoint", field="checkpoints")
    rows: list[SharpnessRow] = []

    def keep(row: SharpnessRow) -> None:
        rows.append(row)
        if on_row is not None:
            on_row(row)

    try:
        sharpness_rows(job, checkpoints, settings, keep, tick)
    except BaseException:  # an interrupt (or one that torch's C++ code wrapped): keep the rows finished
        if rows:
            write_table(rows, prefix)
        raise
    return SharpnessTable(rows, write_table(rows, prefix), table_markdown(rows))


def describe_result(result: HessianResult, render: Callable[[str], str] = as_python) -> list[str]:
    """Lines of a plain table of a Hessian result, for the terminal. A setting it names is
    rendered by `render`: as the Python argument (`as_python`), or as the flag (`errors.for_cli`)."""
    lines = [f"{'eigenvalue':<12}{'value':>14}{'residual':>12}"]
    for i, (v, r) in enumerate(zip(result.eigenvalues, result.residuals)):
        lines.append(f"{'λ' + str(i + 1):<12}{v:>14.6g}{r:>12.2g}")
    lines.append(f"{'λ smallest':<12}{result.smallest_ritz:>14.6g}  (Ritz estimate, not converged)")
    if result.trace is not None:
        lines.append(f"{'trace':<12}{result.trace:>14.6g} ± {result.trace_stderr:.3g}  ({result.probes} Rademacher probes)")
    if result.density is not None:
        grid = np.asarray(result.density_grid)
        lines.append(f"{'density':<12}{len(grid)} points from {grid[0]:.4g} to {grid[-1]:.4g}")
    lines.append(f"{'loss':<12}{result.loss:>14.6g}  over {result.samples} samples; {result.lanczos_steps} Lanczos "
                 f"steps, {result.hvps} Hessian-vector products, {result.seconds:.1f} s"
                 + ("" if result.converged else render(f"; NOT converged: raise {arg('max_steps')}")))
    if result.hvp_mode is HvpMode.fd:
        asked = result.settings.hvp_mode is HvpMode.fd
        lines.append("products by finite differences of gradients" + ("" if asked else render(
            f" (the model has no second derivative: exact products failed; {arg('hvp_mode', 'fd')} says so "
            "from the start)")) + "; relative error about 1e-4 in float32, 1e-10 in float64")
    if result.per_layer:
        width = max(len(r.name) for r in result.per_layer) + 2
        lines.append(f"{'tensor':<{width}}{'size':>10}{'top eigenvalue':>16}{'trace':>14}{'± stderr':>12}")
        for r in result.per_layer:
            lines.append(f"{r.name:<{width}}{r.size:>10}{r.top_eigenvalue:>16.5g}{r.trace:>14.5g}{r.trace_stderr:>12.3g}")
    return lines
