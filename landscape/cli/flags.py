"""How the library's argument names read on the command line.

The library names what a message is about with `errors.arg("x")`; the CLI's one error edge, and
every note or warning it prints, renders the name as the flag that sets it (`for_cli`). A name
whose flag is `--` + the name with `_` → `-` (`x_target` → `--x-target`) needs no entry here;
FLAGS holds the others. `tests/test_cli_flags.py` checks that every name the library uses
renders to a flag or argument that some command really has.
"""

from __future__ import annotations

from landscape.errors import for_cli

FLAGS: dict[str, str | tuple[str, str]] = {
    # ModelSpec, DataSpec, Loss: the fields behind --model, --data, --eval
    "factory": "--model",
    "kwargs": "--model-kwargs",
    "trust": "--trust-checkpoint",
    "source": "--data",
    "root": "--data-root",
    "eval": "--eval",
    "eval_fn": "--eval",
    # ParamSelection (DirectionSpec.select, CurvatureJob.subset)
    "select": "--params",
    "pattern": "--params",
    "subset": "--params",
    # DirectionSpec: the switch is `--ignore biasbn` / `--ignore none` (compute and trajectory both have these)
    "ignore_biasbn": ("--ignore biasbn", "--ignore none"),
    # FilePlane(path, scale): the plane file of `compute --directions`
    "path": "--directions",
    "scale": "--direction-scale",
    # AutoRange(nx, ny): the points of `--x auto:NUM` / `--y auto:NUM`
    "nx": "--x",
    "ny": "--y",
    # HessianSettings
    "max_steps": "--steps",
    "hvp_mode": "--hvp",
    # PlotOptions, and the folder of the web pages' shared plotly.js (`plot --out`)
    "kinds": "--kind",
    "js_folder": "--out",
    "formats": "--format",
    # the positional arguments, by their metavar
    "checkpoint": "CHECKPOINT",
    "checkpoints": "CHECKPOINTS",
    "models": "MODELS",
    "files": "FILES",
    "file": "FILE",
}


# Where one command's flag for a name differs from the others': `landscape plot --out DIR` is the
# folder that `demo --out-dir` names.
COMMAND_FLAGS: dict[str, dict[str, str | tuple[str, str]]] = {
    "plot": {"out_dir": "--out"},
    "animate": {"out_dir": "--out"},
}


# Settings of the library that no option sets (each is the library's own choice, or a notebook
# user's): a message naming one cannot come from a command line. Listed so that the test can
# tell them from a misspelt name.
NO_FLAG = frozenset({
    "ascent_step", "ascent_start",  # SharpnessSettings
    "tol", "trace_rtol", "density_runs", "density_sigma", "density_points", "per_layer_steps",  # HessianSettings
    "vectors_per_pass", "autocast",
    "first_layer", "stream_data",  # EvalSettings: the plan decides
    "max_radius",  # AutoRange
    "ax",  # the plotting functions' Axes
    "colorscale",  # export.write_html: handed over by plot.render (the figures' colours)
})


def flagged(text: str, command: str | None = None) -> str:
    """A library text (an error, a note, a warning) as the command line reads it: with flags (those
    of `command` where its flags differ)."""
    return for_cli(text, {**FLAGS, **COMMAND_FLAGS.get(command or "", {})})
