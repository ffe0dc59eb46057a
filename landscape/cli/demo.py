"""`landscape demo`: a small CNN trained on the bundled digits, then its surface, trajectory
and interpolation with their figures, by `landscape.run.demo`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from landscape.cli.console import say
from landscape.cli.interrupts import on_interrupt
from landscape.cli.outputs import wrote
from landscape.cli.progress import Progress
from landscape.errors import LandscapeError


def demo(
    out_dir: Annotated[Path, typer.Option("--out-dir", metavar="DIR",
                       help="Where the demo writes checkpoints, surfaces and figures.")] = Path("outputs/demo"),
    epochs: Annotated[int, typer.Option("--epochs", metavar="N", help="Training epochs.")] = 8,
    quiet: Annotated[bool, typer.Option("--quiet", help="Less output.")] = False,
) -> None:
    """Train a small CNN on the bundled digits (CPU, seconds), then compute its landscape."""
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
