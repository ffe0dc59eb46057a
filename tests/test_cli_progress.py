"""The one progress display (landscape/cli/progress.py): bars on a terminal, plain lines elsewhere."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from landscape.cli import progress as progress_module
from landscape.cli.progress import Progress
from landscape.errors import arg

ROOT = Path(__file__).resolve().parent.parent


def _captured(monkeypatch, terminal: bool = False) -> Console:
    """stderr as a console writing to a string (`console.file.getvalue()`: what reached it, codes included)."""
    console = Console(file=io.StringIO(), record=True, width=100, markup=False, emoji=False, highlight=False,
                      force_terminal=terminal)
    monkeypatch.setattr(progress_module, "err_console", console)
    return console


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_bar_appears_at_its_first_update_with_its_rate(monkeypatch):
    console = _captured(monkeypatch, terminal=True)
    with Progress(quiet=False) as p:
        update = p.task("points", unit="points")
        assert not p._started  # nothing shows before the work starts
        update(0, 4)
        update(4, 4)
        assert p._started
        task = p._bars.tasks[0]
        assert task.description == "points" and task.completed == 4 and task.fields["rate"].endswith("points/s")
        p.note(f"with {arg('batch_size')} 8")
    assert not p._started
    text = console.export_text()
    assert "note: with --batch-size 8" in text and "points" in text and "4/4" in text, text
    assert "━" in console.file.getvalue() and "points: 0/4" not in text  # a bar, not plain lines


def test_quiet_shows_nothing(monkeypatch):
    console = _captured(monkeypatch)  # off a terminal, where the display would print lines
    with Progress(quiet=True) as p:
        update = p.task("Hessian-vector products")
        update(1, 2)
        p.tell("epoch 1: train loss 0.5")
        p.note("a note")
    assert console.export_text() == ""


def test_a_task_without_a_unit_shows_no_rate():
    with Progress(quiet=True) as p:
        update = p.task("Hessian-vector products")
        update(1, 10)
        update(5, 10)
        assert p._bars.tasks[0].fields["rate"] == ""


def test_off_a_terminal_plain_lines_at_the_start_at_each_tenth_and_at_the_end(monkeypatch):
    console, clock = _captured(monkeypatch), Clock()
    with Progress(quiet=False, clock=clock) as p:
        update = p.task("points", unit="points")
        for done in range(101):  # 10 points a second
            clock.now = done / 10
            update(done, 100)
            if done == 55:
                p.note(f"with {arg('batch_size')} 8")
    raw = console.file.getvalue()
    assert "\x1b" not in raw and "━" not in raw  # no codes, no bar: a log file reads as text
    lines = raw.splitlines()
    assert lines[0] == "points: 0/100"
    assert lines[1] == "points: 10/100 (10%), 10.0 points/s, elapsed 0:01, eta 0:09"
    assert lines[6] == "note: with --batch-size 8"  # between the lines, as it came
    assert [line.split(" (")[1].split(")")[0] for line in lines[1:] if line.startswith("points")] == \
        [f"{10 * k}%" for k in range(1, 11)]
    assert lines[-1] == "points: 100/100 (100%), 10.0 points/s, elapsed 0:10, eta 0:00"


def test_off_a_terminal_a_line_after_the_interval_without_a_tenth_and_the_last_state_at_the_end(monkeypatch):
    console, clock = _captured(monkeypatch), Clock()
    monkeypatch.setattr(progress_module, "EVERY", 5.0)
    with Progress(quiet=False, clock=clock) as p:
        update = p.task("Hessian-vector products")
        update(0, 1000)
        clock.now = 4.0
        update(1, 1000)  # neither a tenth nor the interval: no line
        clock.now = 5.0
        update(2, 1000)  # the interval: a line
        clock.now = 6.0
        update(3, 1000)  # stopped here (Ctrl-C): its line comes when the display stops
        assert console.file.getvalue().splitlines() == [
            "Hessian-vector products: 0/1000",
            "Hessian-vector products: 2/1000 (0%), elapsed 0:05, eta 41:35"]  # no unit: no rate, still an eta
    assert console.file.getvalue().splitlines()[2:] == ["Hessian-vector products: 3/1000 (0%), elapsed 0:06, eta 33:14"]


def test_redirected_stderr_of_the_command_gets_progress_lines(tmp_path, checkpoint):
    """`python cli.py compute ... 2> log`: the log shows the points as they go, not one bar at the end."""
    log = tmp_path / "log.txt"
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE", "TERM")}
    env["OMP_NUM_THREADS"] = "2"
    with open(log, "w") as stderr:  # 6 points, the first evaluated alone (the chunks grow from one launch)
        r = subprocess.run([sys.executable, "cli.py", "compute", str(checkpoint), "--model", "landscape.models:digits_cnn",
                            "--model-kwargs", '{"width": 4}', "--x", "-1:1:3", "--y", "-1:1:2", "--samples", "20",
                            "--points-per-launch", "1", "--out", str(tmp_path / "s.h5")], cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=stderr, text=True, timeout=300, env=env)
    text = log.read_text()
    assert r.returncode == 0, text
    lines = [line for line in text.splitlines() if line.startswith("points")]
    assert lines[0] == "points: 0/6" and lines[1].startswith("points: 1/6 (16%), "), text
    assert lines[-1].startswith("points: 6/6 (100%), ") and " points/s, elapsed 0:" in lines[-1], text
    assert "\x1b" not in text and "━" not in text, text
