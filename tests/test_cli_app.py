"""The app as a whole (landscape/cli/app.py): usage mistakes in one line, `--help` at 80
columns, `--version`, and `python cli.py` / `python -m landscape` running the same app.
The commands have their own files: test_cli_compute.py, test_cli_plot.py, test_cli_info.py,
test_cli_demo.py; the flag names of library messages, test_cli_flags.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from landscape.cli import app

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def test_source_checkout_cli_runs_the_same_app():
    r = subprocess.run([sys.executable, "cli.py", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0 and "compute" in r.stdout and "trajectory" in r.stdout


def test_python_dash_m_runs_the_same_app():
    r = subprocess.run([sys.executable, "-m", "landscape", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0 and "compute" in r.stdout and "demo" in r.stdout, r.stderr


@pytest.mark.parametrize("args,message", [
    (["compute", "x.pt", "--norm", "foo"], "Invalid value for '--norm'"),
    (["compute", "x.pt", "--bogus"], "No such option: --bogus"),
    (["info"], "Missing argument"),
    (["demo", "--epochs", "2"], "--epochs must be at least 3"),
])
def test_usage_mistakes_are_one_line(args, message):
    r = runner.invoke(app, args)
    assert r.exit_code == 2 and message in r.output and len(r.output.strip().splitlines()) == 1, r.output


def _commands() -> list[str]:
    import typer

    return sorted(typer.main.get_command(app).commands)


@pytest.mark.parametrize("command", _commands())
def test_help_reads_whole_at_80_columns(command):
    import typer

    r = runner.invoke(app, [command, "--help"], env={"COLUMNS": "80"}, terminal_width=80)
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert max(len(line) for line in lines) <= 80, max(lines, key=len)
    for leak in ("<bool>", "<list[", "<path>", "<str>", "<int>", "<float>", "…"):
        assert leak not in r.output, (leak, r.output)
    assert "{" not in lines[0], lines[0]  # the usage line names arguments plainly
    cmd = typer.main.get_command(app).commands[command]
    for param in cmd.params:
        for opt in param.opts:
            if opt.startswith("--"):
                assert opt in r.output, opt  # every option name whole


def test_commands_are_listed_in_their_order():
    import typer

    assert list(typer.main.get_command(app).commands) == ["compute", "trajectory", "interpolate", "hessian", "sharpness",
                                                          "plot", "animate", "info", "demo"]


def test_plain_words_for_bad_values_and_the_version():
    r = runner.invoke(app, ["compute", "x.pt", "--precision", "fp8"])
    assert r.exit_code == 2 and "Value error" not in r.output and "'fp8' is not one of" in r.output, r.output
    r = runner.invoke(app, ["compute", "x.pt", "--batch-size", "many"])
    assert r.exit_code == 2 and "expected a whole number" in r.output and "Input should" not in r.output, r.output
    from landscape import __version__
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and r.output.strip() == f"landscape {__version__}"
