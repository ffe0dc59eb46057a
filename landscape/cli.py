"""The `landscape` command: each command declares its options, builds settings and calls one
library function. User errors (`LandscapeError`) are caught once, in `_Group.invoke`."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from . import store
from .checkpoint import ModelSpec
from .data import DataSpec, Split
from .directions import DirectionSpec, DirType, Norm
from .engine import EvalSettings, Launch, Precision
from .errors import LandscapeError
from .grid import Grid
from .metrics import Loss
from .surface import ComputeJob, ComputeResult, compute

out_console = Console()
err_console = Console(stderr=True)


class _Group(typer.core.TyperGroup):
    def invoke(self, ctx):  # type: ignore[no-untyped-def]
        try:
            return super().invoke(ctx)
        except LandscapeError as e:
            err_console.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
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
    import time

    with _progress(quiet) as bar, _terminate_as_interrupt():
        task = bar.add_task("points", total=job.grid.size, rate="")
        first: dict[str, float] = {}

        def update(done: int, total: int) -> None:
            now = time.perf_counter()
            first.setdefault("t", now)
            first.setdefault("done", done)
            elapsed = now - first["t"]
            rate = f"{(done - first['done']) / elapsed:.1f} points/s" if elapsed > 0 and done > first["done"] else ""
            bar.update(task, completed=done, total=total, rate=rate)

        def note(message: str) -> None:
            if not quiet:
                bar.console.print(f"note: {message}", highlight=False)

        return compute(job, progress=update, on_note=note)


def _print_result(result: ComputeResult, quiet: bool) -> None:
    if quiet:
        return
    rate = result.computed / result.seconds if result.seconds > 0 else 0.0
    out_console.print(
        f"wrote {result.path}: {result.computed} points computed in {result.seconds:.1f} s ({rate:.1f} points/s), "
        f"{result.total} in the grid",
        highlight=False,
    )
    if result.nonfinite:
        out_console.print(f"note: {result.nonfinite} computed points have an inf or NaN loss (stored as they are)")


@app.command("compute")
def compute_cmd(
    checkpoint: Annotated[Path, typer.Argument(help="Checkpoint: state dict (.pt/.pth/.ckpt), .safetensors, TorchScript, or a folder.")],
    model: Annotated[Optional[str], typer.Option(help="Model factory pkg.module:name (class or function).")] = None,
    model_kwargs: Annotated[str, typer.Option(help="JSON keyword arguments for --model.")] = "{}",
    trust_checkpoint: Annotated[bool, typer.Option(help="Allow loading pickled Python objects (runs code from the file).")] = False,
    data: Annotated[str, typer.Option(help="digits | cifar10 | mnist | fashion-mnist | FILE.npz/.pt | pkg.module:factory.")] = "digits",
    data_root: Annotated[str, typer.Option(help="Folder holding torchvision data sets.")] = "data",
    download: Annotated[bool, typer.Option(help="Let torchvision download the data set.")] = False,
    split: Annotated[Split, typer.Option(help="Which split of the data.")] = Split.train,
    samples: Annotated[Optional[int], typer.Option(help="Use a fixed, seeded subset of this many samples.")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Evaluation batch size (default: chosen from data and device).")] = None,
    loss: Annotated[str, typer.Option(help="cross-entropy | mse | pkg.module:fn (outputs, targets) -> batch mean.")] = "cross-entropy",
    x: Annotated[str, typer.Option("--x", help="First-direction coordinates min:max:num.")] = "-1:1:51",
    y: Annotated[Optional[str], typer.Option("--y", help="Second-direction coordinates min:max:num (omit for 1-D).")] = None,
    norm: Annotated[Norm, typer.Option(help="Direction normalization.")] = Norm.filter,
    ignore: Annotated[Ignore, typer.Option(help="biasbn: zero direction for 1-D tensors (biases, BatchNorm).")] = Ignore.biasbn,
    no_ignore: Annotated[bool, typer.Option("--no-ignore", help="Perturb biases and BatchNorm too (the paper's code's --xignore '').")] = False,
    dir_type: Annotated[DirType, typer.Option(help="weights: parameters; states: BatchNorm running statistics too.")] = DirType.weights,
    seed: Annotated[int, typer.Option(help="Seed of the random directions.")] = 0,
    x_target: Annotated[Optional[Path], typer.Option(help="d1 = θ(X_TARGET) − θ: toward another model.")] = None,
    y_target: Annotated[Optional[Path], typer.Option(help="d2 = θ(Y_TARGET) − θ.")] = None,
    directions: Annotated[Optional[Path], typer.Option(help="Reuse the directions of an earlier surface file.")] = None,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | cuda:N.")] = "auto",
    precision: Annotated[Precision, typer.Option(help="fp32 (exact) | tf32 | bf16 | fp16.")] = Precision.fp32,
    launch: Annotated[Launch, typer.Option(help="Points per pass: auto (measured) | point | vmap.")] = Launch.auto,
    points_per_launch: Annotated[int, typer.Option(help="Points per vmapped pass.")] = 8,
    out: Annotated[Optional[Path], typer.Option(help="Output file (default outputs/<checkpoint>.surface.h5).")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing file made with other settings.")] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bar or summary.")] = False,
) -> None:
    """Compute the loss surface around CHECKPOINT and write it to an HDF5 file (resumable)."""
    job = ComputeJob(
        checkpoint=checkpoint,
        grid=Grid.parse(x, y),
        model=ModelSpec(model, model_kwargs),
        data=DataSpec(data, split, samples, root=data_root, download=download),
        directions=DirectionSpec(dir_type, norm, ignore == Ignore.biasbn and not no_ignore, seed),
        loss=Loss(loss),
        evaluation=EvalSettings(device, precision, batch_size, launch, points_per_launch),
        out=out,
        x_target=x_target,
        y_target=y_target,
        directions_file=directions,
        trust_checkpoint=trust_checkpoint,
        overwrite=overwrite,
    )
    _print_result(_run_with_progress(job, quiet), quiet)


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

    if epochs < 1:
        raise LandscapeError(f"--epochs must be at least 1, got {epochs}")
    settings = DemoSettings(out_dir=out_dir, epochs=epochs)

    def on_epoch(epoch: int, loss: float, acc: float) -> None:
        if not quiet:
            out_console.print(f"epoch {epoch}: train loss {loss:.4f}, test accuracy {acc:.1f}%", highlight=False)

    with _progress(quiet) as bar:
        task = bar.add_task("surface", total=settings.grid.size, rate="")
        result = run_demo(settings, on_epoch, lambda done, total: bar.update(task, completed=done, total=total))
    _print_result(result.surface, quiet)
    if not quiet:
        out_console.print(f"checkpoints: {out_dir}/epoch_1.pt ... epoch_{epochs}.pt", highlight=False)
        out_console.print(f"next: landscape info {result.surface.path}", highlight=False)


def main() -> None:
    app(prog_name="landscape")


if __name__ == "__main__":
    sys.exit(main())
