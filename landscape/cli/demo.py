"""`landscape demo`: a small CNN trained on the bundled digits, then its surface, trajectory
and interpolation with their figures, by `landscape.run.demo`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from landscape.cli.console import say
from landscape.cli.interrupts import on_interrupt
from landscape.cli.outputs import wrote
from landscape.cli.progress import Progress
from landscape.errors import LandscapeError


def demo(
    out_dir: Annotated[Path, typer.Option("--out-dir", metavar="DIR",
                       help="Where the demo writes checkpoints, surfaces and figures.")] = Path("outputs/demo"),
    epochs: Annotated[Optional[int], typer.Option("--epochs", metavar="N",
                      help="Training epochs (default 8; with --schedules, 15).")] = None,
    schedules: Annotated[bool, typer.Option("--schedules", help="The schedules story: constant, step, cosine "
                                            "restarts and SWA on one plane, their sharpness table and sharpness "
                                            "over training (default folder outputs/schedules).")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="Less output.")] = False,
) -> None:
    """Train a small CNN on the bundled digits (CPU, seconds), then compute its landscape."""
    if schedules:
        return demo_schedules(Path("outputs/schedules") if out_dir == Path("outputs/demo") else out_dir,
                              15 if epochs is None else epochs, quiet)
    epochs = 8 if epochs is None else epochs
    from landscape import store
    from landscape.engine import tune_cpu_allocator
    from landscape.plot import PlotOptions, render_file
    from landscape.run.demo import DemoSettings, run_demo

    if epochs < 3:
        raise LandscapeError(f"--epochs must be at least 3 (the trajectory plane needs three checkpoints), got {epochs}")
    store.check_writable(out_dir / "demo.surface.h5")
    settings = DemoSettings(out_dir=out_dir, epochs=epochs)
    before = {p for p in out_dir.iterdir()} if out_dir.is_dir() else set()  # the demo's own folder: replaced, said so
    on_interrupt(lambda: f"the demo stopped; run it again to start over (it replaces what it wrote in {out_dir})")

    tune_cpu_allocator()
    with Progress(quiet) as progress:
        def on_epoch(epoch: int, loss: float, acc: float) -> None:
            progress.tell(f"epoch {epoch}: train loss {loss:.4f}, test accuracy {acc:.1f}%", soft_wrap=False)

        result = run_demo(settings, on_epoch, progress.task, draw=lambda path: list(render_file(path, PlotOptions())),
                          command=" ".join(sys.argv))
    if not quiet:
        for r in (result.surface, result.trajectory, result.interpolation):
            say(f"{wrote(r.path, before)} ({r.total} points, {r.seconds:.1f} s)", soft_wrap=False)
        for f in result.figures:
            say(wrote(f, before), soft_wrap=False)
        verb = "replaced" if out_dir / "epoch_1.pt" in before else "wrote"
        say(f"checkpoints ({verb}): {out_dir}/epoch_1.pt ... epoch_{epochs}.pt", soft_wrap=False)
        say(f"next: landscape info {result.surface.path}", soft_wrap=False)


def demo_schedules(out_dir: Path, epochs: int, quiet: bool) -> None:
    """`landscape demo --schedules` (see `landscape.run.schedules`)."""
    from landscape import store
    from landscape.engine import tune_cpu_allocator
    from landscape.plot import PlotOptions, render_file
    from landscape.plot.render import render_training
    from landscape.run.schedules import SchedulesSettings, run_schedules, table_text

    if epochs < 3:
        raise LandscapeError(f"--epochs must be at least 3 (SWA averages the later epochs), got {epochs}")
    store.check_writable(out_dir / "schedules.trajectory.h5")
    before = {p for p in out_dir.iterdir()} if out_dir.is_dir() else set()
    on_interrupt(lambda: f"the demo stopped; run it again to start over (it replaces what it wrote in {out_dir})")
    tune_cpu_allocator()
    with Progress(quiet) as progress:
        def on_epoch(name: str, epoch: int, loss: float) -> None:
            if epoch == epochs:
                progress.tell(f"{name}: {epochs} epochs, last epoch's training loss {loss:.4f}", soft_wrap=False)

        result = run_schedules(SchedulesSettings(out_dir=out_dir, epochs=epochs), on_epoch, progress.task,
                               draw=lambda path: list(render_file(path, PlotOptions())),
                               draw_logs=lambda logs: list(render_training(logs, PlotOptions())),
                               command=" ".join(sys.argv))
    table = table_text(result.rows)
    store.files.write_bytes(out_dir / "schedules.md", table.encode())
    say(table, soft_wrap=True)
    if not quiet:
        say(f"{wrote(result.plane.path, before)} ({result.plane.total} points, {result.plane.seconds:.1f} s)",
            soft_wrap=False)
        for f in [*result.figures, out_dir / "schedules.md"]:
            say(wrote(f, before), soft_wrap=False)
        say(f"runs: {', '.join(str(f) for f in result.folders)}; next: landscape plot {result.folders[0]}",
            soft_wrap=False)
