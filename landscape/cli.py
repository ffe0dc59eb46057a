"""The `landscape` command: each command declares its options, builds settings and calls one
library function. User errors (`LandscapeError`) are caught once, in `_Group.invoke`."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.text import Text
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from . import store
from .checkpoint import ModelSpec
from .data import DataSpec, Split
from .directions import DirectionSpec, DirType, Norm
from .engine import Compile, EvalSettings, Launch, Precision, tune_cpu_allocator
from .errors import LandscapeError
from .grid import Grid
from .metrics import Loss
from .surface import ComputeJob, ComputeResult, compute

# User text (paths, messages) is printed as it is: no markup, no emoji codes.
out_console = Console(markup=False, emoji=False, highlight=False)
err_console = Console(stderr=True, markup=False, emoji=False, highlight=False)


# Typer raises click's exceptions (its own vendored copy in recent releases): find the base class.
CLICK_ERROR = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


class _Group(typer.core.TyperGroup):
    def main(self, *args, standalone_mode: bool = True, **kwargs):  # type: ignore[no-untyped-def]
        """Usage mistakes (an unknown option, a bad choice) as one line too, exit code 2."""
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except CLICK_ERROR as e:
            if e.format_message().strip():  # empty when the help was shown for a bare command
                err_console.print(Text("error: ", style="bold red") + Text(f"{e.format_message()} (see --help)"),
                                  soft_wrap=True)
            code = e.exit_code
        except typer.Abort:
            code = 1
        if standalone_mode:
            sys.exit(code if isinstance(code, int) else 0)
        return code

    def invoke(self, ctx):  # type: ignore[no-untyped-def]
        try:
            return super().invoke(ctx)
        except LandscapeError as e:
            if os.environ.get("RANK", "0") == "0":  # under torchrun, one rank says it
                err_console.print(Text("error: ", style="bold red") + Text(str(e)), soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err_console.print("interrupted: what was computed is saved; run the same command again to resume")
            raise typer.Exit(130) from None


app = typer.Typer(
    cls=_Group,
    help="Loss-landscape surfaces of trained networks (Li et al., arXiv:1712.09913).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class Ignore(str, Enum):
    biasbn = "biasbn"
    none = "none"


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (a scheduler's kill) ends a run like Ctrl-C: the file is flushed and closed."""

    def handler(signum, frame):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _progress(quiet: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=err_console,
        disable=quiet,
        transient=False,
    )


def _run_with_progress(job: ComputeJob, quiet: bool) -> ComputeResult:
    """Run `compute`; the progress bar appears once evaluation starts (after every check passed)."""
    quiet = quiet or os.environ.get("RANK", "0") != "0"
    bar = _progress(quiet)
    state: dict[str, float] = {}

    def update(done: int, total: int) -> None:
        now = time.perf_counter()
        if not state:
            bar.start()
            state.update(task=bar.add_task("points", total=total, rate=""), t=now, done=done)
        elapsed = now - state["t"]
        rate = f"{(done - state['done']) / elapsed:.1f} points/s" if elapsed > 0 and done > state["done"] else ""
        bar.update(int(state["task"]), completed=done, total=total, rate=rate)

    def note(message: str) -> None:
        if not quiet:
            bar.console.print(f"note: {message}", highlight=False)

    tune_cpu_allocator()
    try:
        with _terminate_as_interrupt():
            return compute(job, progress=update, on_note=note)
    finally:
        if state:
            bar.stop()


def _print_result(result: ComputeResult, quiet: bool) -> None:
    if quiet or os.environ.get("RANK", "0") != "0":
        return
    rate = result.computed / result.seconds if result.seconds > 0 else 0.0
    out_console.print(
        f"wrote {result.path}: {result.computed} points computed in {result.seconds:.1f} s ({rate:.1f} points/s), "
        f"{result.total} in the grid",
        highlight=False,
    )
    if result.nonfinite:
        out_console.print(f"note: {result.nonfinite} computed points have an inf or NaN loss (stored as they are)")



def _evaluation_options(
    model: Annotated[Optional[str], typer.Option("--model", help="Model factory pkg.module:name (class or function).")] = None,
    model_kwargs: Annotated[str, typer.Option("--model-kwargs", help="JSON keyword arguments for --model.")] = "{}",
    trust_checkpoint: Annotated[bool, typer.Option("--trust-checkpoint", help="Allow loading pickled Python objects (runs code from the file).")] = False,
    data: Annotated[str, typer.Option("--data", help="digits | cifar10 | mnist | fashion-mnist | FILE.npz/.pt | pkg.module:factory.")] = "digits",
    data_root: Annotated[str, typer.Option("--data-root", help="Folder holding torchvision data sets.")] = "data",
    download: Annotated[bool, typer.Option("--download", help="Let torchvision download the data set.")] = False,
    split: Annotated[Split, typer.Option("--split", help="Which split of the data.")] = Split.train,
    samples: Annotated[Optional[int], typer.Option("--samples", help="Use a fixed, seeded subset of this many samples.")] = None,
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", help="Evaluation batch size (default: chosen from data and device).")] = None,
    loss: Annotated[str, typer.Option("--loss", help="cross-entropy | mse | pkg.module:fn (outputs, targets) -> batch mean.")] = "cross-entropy",
    dir_type: Annotated[DirType, typer.Option("--dir-type", help="weights: parameters; states: BatchNorm running statistics too.")] = DirType.weights,
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda | cuda:N.")] = "auto",
    precision: Annotated[Precision, typer.Option("--precision", help="fp32 (exact) | tf32 | bf16 | fp16.")] = Precision.fp32,
    launch: Annotated[Launch, typer.Option("--launch", help="Points per pass: auto (measured) | point | vmap.")] = Launch.auto,
    points_per_launch: Annotated[int, typer.Option("--points-per-launch", help="Points per vmapped pass.")] = 8,
    compile: Annotated[Compile, typer.Option("--compile", help="torch.compile the forward: auto (when the grid is long enough to repay it) | off | default | max-autotune | reduce-overhead (CUDA graphs).")] = Compile.auto,
    fold_bn: Annotated[bool, typer.Option("--fold-bn/--no-fold-bn", help="Fold eval-mode BatchNorm into the preceding convolution (exact).")] = True,
    out: Annotated[Optional[Path], typer.Option("--out", help="Output surface file.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing file made with other settings.")] = False,
    plot: Annotated[bool, typer.Option("--plot", help="Render the default figures when done.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar or summary.")] = False,
) -> None:
    """The options of every command that evaluates a model: a signature, never called."""


def evaluates(command: Callable) -> Callable:
    """Give `command(..., **opts)` the shared evaluation options, so Typer (and --help) lists them
    after the command's own; `opts` arrives as a dict of their values."""
    own = [p for p in inspect.signature(command, eval_str=True).parameters.values() if p.kind is not p.VAR_KEYWORD]
    shared = [p for p in inspect.signature(_evaluation_options, eval_str=True).parameters.values()
              if p.name not in {q.name for q in own}]

    @functools.wraps(command)
    def wrapper(**kwargs: object) -> None:
        command(**kwargs)

    wrapper.__signature__ = inspect.Signature(own + shared)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in own + shared}
    return wrapper


def _template(checkpoint: Path, grid: Grid, dir_spec: DirectionSpec, opts: dict) -> ComputeJob:
    """A job from the shared evaluation options."""
    return ComputeJob(
        checkpoint=checkpoint,
        grid=grid,
        model=ModelSpec(opts["model"], opts["model_kwargs"]),
        data=DataSpec(opts["data"], opts["split"], opts["samples"], root=opts["data_root"], download=opts["download"]),
        directions=dir_spec,
        loss=Loss(opts["loss"]),
        evaluation=EvalSettings(opts["device"], opts["precision"], opts["batch_size"], opts["launch"],
                                opts["points_per_launch"], opts["fold_bn"], compile=opts["compile"]),
        out=opts["out"],
        trust_checkpoint=opts["trust_checkpoint"],
        overwrite=opts["overwrite"],
    )


def _finish(job: ComputeJob, opts: dict) -> None:
    result = _run_with_progress(job, opts["quiet"])
    _print_result(result, opts["quiet"])
    if opts["plot"]:
        _plot_defaults(result.path, opts["quiet"])


@app.command("compute")
@evaluates
def compute_cmd(
    checkpoint: Annotated[Path, typer.Argument(help="Checkpoint: state dict (.pt/.pth/.ckpt), .safetensors, TorchScript, or a folder.")],
    x: Annotated[str, typer.Option("--x", help="First-direction coordinates min:max:num.")] = "-1:1:51",
    y: Annotated[Optional[str], typer.Option("--y", help="Second-direction coordinates min:max:num (omit for 1-D).")] = None,
    norm: Annotated[Norm, typer.Option(help="Direction normalization.")] = Norm.filter,
    ignore: Annotated[Ignore, typer.Option(help="biasbn: zero direction for 1-D tensors (biases, BatchNorm).")] = Ignore.biasbn,
    no_ignore: Annotated[bool, typer.Option("--no-ignore", help="Perturb biases and BatchNorm too (the paper's code's --xignore '').")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the random directions.")] = 0,
    x_target: Annotated[Optional[Path], typer.Option(help="d1 = θ(X_TARGET) − θ: toward another model.")] = None,
    y_target: Annotated[Optional[Path], typer.Option(help="d2 = θ(Y_TARGET) − θ.")] = None,
    directions: Annotated[Optional[Path], typer.Option(help="Reuse the directions of an earlier surface file.")] = None,
    split_data: Annotated[bool, typer.Option(help="Under torchrun: split each point's data across the ranks instead of the points.")] = False,
    **opts: object,
) -> None:
    """Compute the loss surface around CHECKPOINT and write it to an HDF5 file (resumable)."""
    spec = DirectionSpec(opts["dir_type"], norm, ignore == Ignore.biasbn and not no_ignore, seed)
    job = dataclasses.replace(_template(checkpoint, Grid.parse(x, y), spec, opts), x_target=x_target,
                              y_target=y_target, directions_file=directions, split_data=split_data)
    _finish(job, opts)


@app.command()
@evaluates
def trajectory(
    checkpoints: Annotated[list[str], typer.Argument(help="Checkpoints of one run: files, globs or a folder.")],
    final: Annotated[Optional[Path], typer.Option(help="The model at the center (default: the last checkpoint).")] = None,
    ignore: Annotated[Ignore, typer.Option(help="biasbn: leave 1-D tensors out of the PCA.")] = Ignore.biasbn,
    x: Annotated[Optional[str], typer.Option("--x", help="min:max:num, or auto: fitted around the path.")] = "auto",
    y: Annotated[Optional[str], typer.Option("--y", help="min:max:num, or auto: fitted around the path.")] = "auto",
    resolution: Annotated[int, typer.Option(help="Points per axis of a fitted grid.")] = 31,
    **opts: object,
) -> None:
    """Project a training run onto its two principal directions and compute the surface in that plane."""
    from .trajectory import trajectory_job

    template = _template(Path("."), Grid((0.0,)), DirectionSpec(opts["dir_type"]), opts)
    _finish(trajectory_job(template, checkpoints, final, x, y, resolution, ignore == Ignore.biasbn), opts)


@app.command()
@evaluates
def interpolate(
    models: Annotated[list[Path], typer.Argument(help="Two checkpoints A B (1-D line) or three A B C (plane).")],
    x: Annotated[Optional[str], typer.Option("--x", help="min:max:num (default -0.5:1.5:41, or fitted for three models).")] = None,
    y: Annotated[Optional[str], typer.Option("--y", help="min:max:num (three models; default fitted).")] = None,
    resolution: Annotated[int, typer.Option(help="Points per axis of a fitted grid.")] = 31,
    **opts: object,
) -> None:
    """Loss along the line from model A (x=0) to B (x=1), or over the plane through A, B and C."""
    from .interpolation import interpolation_job

    if len(models) not in (2, 3):
        raise LandscapeError(f"interpolate takes two or three checkpoints, got {len(models)}")
    job = interpolation_job(_template(models[0], Grid((0.0,)), DirectionSpec(opts["dir_type"]), opts), models, x, y,
                            resolution)
    if job.plane is not None and job.plane.extra.get("note") and not opts["quiet"]:
        out_console.print(f"note: {job.plane.extra['note']}")
    _finish(job, opts)


def _csv(text: Optional[str]) -> Optional[tuple[str, ...]]:
    return None if text is None else tuple(t.strip() for t in text.split(",") if t.strip())


@app.command()
def plot(
    files: Annotated[list[Path], typer.Argument(help="Surface files (several with --compare).")],
    kind: Annotated[Optional[str], typer.Option(help="contour,filled,heatmap,surface,line,vtk or all (default: by file).")] = None,
    metric: Annotated[str, typer.Option(help="loss | acc.")] = "loss",
    log: Annotated[bool, typer.Option(help="Plot log10 of the loss.")] = False,
    vmin: Annotated[Optional[float], typer.Option(help="Lowest contour level / color.")] = None,
    vmax: Annotated[Optional[float], typer.Option(help="Highest contour level / color.")] = None,
    levels: Annotated[Optional[int], typer.Option(help="Number of contour levels.")] = None,
    vlevel: Annotated[Optional[float], typer.Option(help="Step between contour levels (the paper: 0.5).")] = None,
    cmap: Annotated[Optional[str], typer.Option(help="Matplotlib colormap.")] = None,
    format: Annotated[str, typer.Option("--format", help="png,pdf,svg (comma-separated).")] = "png",
    dpi: Annotated[int, typer.Option(help="Resolution of raster images.")] = 150,
    size: Annotated[Optional[str], typer.Option(help="Figure size in inches, W,H.")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Folder for the figures (default: next to the file).")] = None,
    title: Annotated[Optional[str], typer.Option(help="Figure title.")] = None,
    elev: Annotated[Optional[float], typer.Option(help="3-D view elevation (degrees).")] = None,
    azim: Annotated[Optional[float], typer.Option(help="3-D view azimuth (degrees).")] = None,
    zmax: Annotated[Optional[float], typer.Option(help="Clip the 3-D surface at this loss.")] = None,
    epoch_labels: Annotated[bool, typer.Option(help="Label trajectory points with their epoch.")] = False,
    compare: Annotated[bool, typer.Option(help="Several surfaces side by side on one color scale.")] = False,
) -> None:
    """Draw figures of surface files: contour lines, filled contours, heatmap, 3-D surface, 1-D line, VTK."""
    from .plot import PlotOptions, describe, render_compare, render_file

    try:
        dims = tuple(float(v) for v in _csv(size)) if size else None
    except ValueError:
        raise LandscapeError(f"--size {size!r} must be two numbers W,H in inches, like 6,5") from None
    options = PlotOptions(_csv(kind), metric, log, vmin, vmax, levels, vlevel, cmap, _csv(format), dpi, title,
                          elev, azim, zmax, epoch_labels, dims)
    if len(files) > 1 and not compare:
        raise LandscapeError(f"{len(files)} files given: add --compare to draw them side by side, or give one")
    for f in files:
        missing = describe(store.read_surface(f))
        if missing:
            out_console.print(f"note: {f}: {missing}", highlight=False)
    written = render_compare(files, options, out) if compare else render_file(files[0], options, out)
    for path in written:
        out_console.print(f"wrote {path}", highlight=False)


@app.command()
def info(file: Annotated[Path, typer.Argument(help="A surface file.")]) -> None:
    """Summarize a surface file: grid, settings, progress, min/max/center loss."""
    out_console.print(store.summary(file), highlight=False, soft_wrap=True)


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option(help="Where the demo writes checkpoints, the surface and figures.")] = Path("outputs/demo"),
    epochs: Annotated[int, typer.Option(help="Training epochs.")] = 8,
    quiet: Annotated[bool, typer.Option(help="Less output.")] = False,
) -> None:
    """Train a small CNN on the bundled digits (CPU, seconds), then compute its landscape."""
    from .demo import DemoSettings, run_demo

    if epochs < 3:
        raise LandscapeError(f"--epochs must be at least 3 (the trajectory plane needs three checkpoints), got {epochs}")
    store.check_writable(out_dir / "demo.surface.h5")
    settings = DemoSettings(out_dir=out_dir, epochs=epochs)

    tune_cpu_allocator()
    with _progress(quiet) as bar:
        def on_epoch(epoch: int, loss: float, acc: float) -> None:
            if not quiet:
                bar.console.print(f"epoch {epoch}: train loss {loss:.4f}, test accuracy {acc:.1f}%", highlight=False)

        def progress(name: str):  # type: ignore[no-untyped-def]
            task = bar.add_task(name, total=None, rate="")
            return lambda done, total: bar.update(task, completed=done, total=total)

        result = run_demo(settings, on_epoch, progress)
    if not quiet:
        for r in (result.surface, result.trajectory, result.interpolation):
            out_console.print(f"wrote {r.path} ({r.total} points, {r.seconds:.1f} s)", highlight=False)
        for f in result.figures:
            out_console.print(f"wrote {f}", highlight=False)
        out_console.print(f"checkpoints: {out_dir}/epoch_1.pt ... epoch_{epochs}.pt", highlight=False)
        out_console.print(f"next: landscape info {result.surface.path}", highlight=False)


def _plot_defaults(path: Path, quiet: bool) -> None:
    from .plot import PlotOptions, render_file

    for written in render_file(path, PlotOptions()):
        if not quiet:
            out_console.print(f"wrote {written}", highlight=False)


def main() -> None:
    app(prog_name="landscape")


if __name__ == "__main__":
    sys.exit(main())
