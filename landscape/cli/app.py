"""The `landscape` app: the commands registered in order, `--version`, and the one edge where
a command's end becomes an exit code. A user mistake (`LandscapeError`) prints one line,
"error: ...", with the library's argument names rendered as flags, and exits with code 2; a
usage mistake (an unknown option, a bad choice) likewise; Ctrl-C or SIGTERM ends every command
with exit code 130 and one true line about what it wrote.

Only Typer, rich and the option choices load here: PyTorch, NumPy and matplotlib load inside
the command that needs them, so `--help`, `--version` and a usage mistake answer at once."""

from __future__ import annotations

import re
import signal
import sys
from typing import Annotated, Any

import typer
from rich.text import Text

from landscape._version import __version__
from landscape.cli import animate, compute, curvature, demo, info, plot
from landscape.cli.console import err_console, one_line_warnings, out_console, quiet_warnings, rank0
from landscape.cli.flags import flagged
from landscape.cli.interrupts import interrupted, start, terminate_as_interrupt
from landscape.errors import LandscapeError

# Typer raises click's exceptions (its own vendored copy in recent releases): find the base class.
CLICK_ERROR = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
PLAIN_WORDS = (  # the coercion library's phrasing of a bad value, in plain words
    (re.compile(r"Value error, "), ""),
    (re.compile(r"Input should be a valid integer[^.;]*"), "expected a whole number"),
    (re.compile(r"Input should be a valid number[^.;]*"), "expected a number"),
    (re.compile(r"Input should be a valid boolean[^.;]*"), "expected true or false"),
)


def _plain(message: str) -> str:
    for pattern, words in PLAIN_WORDS:
        message = pattern.sub(words, message)
    return message


def _error(text: str) -> None:
    err_console.print(Text("error: ", style="bold red") + Text(text), soft_wrap=True)


class Group(typer.core.TyperGroup):
    """The app's edge: every command's end, normal or not, becomes an exit code here."""

    def main(self, *args, standalone_mode: bool = True, **kwargs):  # type: ignore[no-untyped-def]
        """Usage mistakes (an unknown option, a bad choice) as one line too, exit code 2."""
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except CLICK_ERROR as e:
            if e.format_message().strip():  # empty when the help was shown for a bare command
                _error(f"{_plain(e.format_message())} (see --help)")
            code = e.exit_code
        except (typer.Abort, KeyboardInterrupt):  # Ctrl-C before the command began (click turns it into Abort)
            code = interrupted()
        if standalone_mode:
            sys.exit(code if isinstance(code, int) else 0)
        return code

    def invoke(self, ctx):  # type: ignore[no-untyped-def]
        start()
        try:
            with terminate_as_interrupt(), one_line_warnings():
                return super().invoke(ctx)
        except LandscapeError as e:
            if rank0():  # under torchrun, one rank says it
                _error(flagged(e.message, ctx.invoked_subcommand))
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            raise typer.Exit(interrupted()) from None
        except RuntimeError as e:  # PyTorch's C++ code wraps a KeyboardInterrupt raised inside a callback
            if "KeyboardInterrupt" not in str(e):
                raise
            raise typer.Exit(interrupted()) from None


class Command(typer.core.TyperCommand):
    """Arguments named by their metavar alone (no type placeholders such as `<list[Path]>`, no
    braces); with --quiet, no Python warnings while the command runs."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for p in self.params:
            if isinstance(p, typer.core.TyperArgument):
                name = p.display_name_raw + ("..." if p.nargs != 1 else "")
                p.display_type_rich = lambda ctx: ""  # type: ignore[method-assign]
                p._usage_display_name = (lambda n=name, req=p.required: n if req else f"[{n}]")  # type: ignore
                p._rich_display_name = (lambda n=name: n)  # type: ignore[method-assign]

    def invoke(self, ctx):  # type: ignore[no-untyped-def]
        with quiet_warnings(bool(ctx.params.get("quiet"))):
            return super().invoke(ctx)


def _version(value: bool) -> None:
    if value:
        out_console.print(f"landscape {__version__}")
        raise typer.Exit(0)


app = typer.Typer(
    cls=Group,
    help="Loss-landscape surfaces of trained networks (Li et al., arXiv:1712.09913).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # click's plain help: option names and help read whole at 80 columns
)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.", callback=_version,
                                          is_eager=True)] = False,
) -> None:
    """Loss-landscape surfaces of trained networks (Li et al., arXiv:1712.09913)."""


for name, command in (("compute", compute.compute), ("trajectory", compute.trajectory),
                      ("interpolate", compute.interpolate), ("hessian", curvature.hessian),
                      ("sharpness", curvature.sharpness), ("plot", plot.plot), ("animate", animate.animate),
                      ("info", info.info), ("demo", demo.demo)):
    app.command(name, cls=Command)(command)


def main() -> None:
    """The `landscape` command: run the app, then exit with its code. Once the command is over
    (its outputs final, its line said), a Ctrl-C or SIGTERM during the interpreter's shutdown
    changes nothing, and is ignored rather than killing the process with no word (exit -2)."""
    try:
        app(prog_name="landscape")
    finally:
        for s in (signal.SIGINT, signal.SIGTERM):
            signal.signal(s, signal.SIG_IGN)
