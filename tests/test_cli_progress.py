"""The one progress display (landscape/cli/progress.py)."""

from __future__ import annotations

from rich.console import Console

from landscape.cli import progress as progress_module
from landscape.cli.progress import Progress
from landscape.errors import arg


def _captured(monkeypatch) -> Console:
    console = Console(record=True, width=100, markup=False, emoji=False, highlight=False, force_terminal=False)
    monkeypatch.setattr(progress_module, "err_console", console)
    return console


def test_a_bar_appears_at_its_first_update_with_its_rate(monkeypatch):
    console = _captured(monkeypatch)
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


def test_quiet_shows_nothing(monkeypatch):
    console = _captured(monkeypatch)
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
