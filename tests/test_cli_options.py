"""The shared options (landscape/cli/options.py): declared once, the same in every command,
their defaults those of ModelOptions and SurfaceOptions, and the library's settings made from
them in one place."""

from __future__ import annotations

import dataclasses
import inspect

import pytest
import typer

from landscape.choices import Compile, DirType, Launch, Precision, Split
from landscape.cli import app
from landscape.cli import options as opt

MODEL_COMMANDS = ("compute", "trajectory", "interpolate", "hessian", "sharpness")
SURFACE_COMMANDS = ("compute", "trajectory", "interpolate")


def _command(name: str):  # type: ignore[no-untyped-def]
    return typer.main.get_command(app).commands[name]


def _params(name: str) -> dict:
    return {p.name: p for p in _command(name).params}


@pytest.mark.parametrize("command", MODEL_COMMANDS)
def test_model_options_are_the_same_in_every_command(command):
    params = _params(command)
    for field in dataclasses.fields(opt.ModelOptions):
        p = params[field.name]
        assert p.default == field.default, (command, field.name)
        assert p.opts == _params("compute")[field.name].opts and p.help == _params("compute")[field.name].help


@pytest.mark.parametrize("command", SURFACE_COMMANDS)
def test_surface_options_are_the_same_in_every_surface_command(command):
    params = _params(command)
    for field in dataclasses.fields(opt.SurfaceOptions):
        p = params[field.name]
        assert p.default == field.default, (command, field.name)
        assert p.help == _params("compute")[field.name].help


def test_every_shared_option_of_a_command_reaches_its_value():
    """Each command builds ModelOptions (and SurfaceOptions) from all of their fields: `of(locals())`
    takes every field from the command's own arguments, each of which it declares."""
    from landscape.cli import compute, curvature

    for function in (compute.compute, compute.trajectory, compute.interpolate, curvature.hessian, curvature.sharpness):
        source = inspect.getsource(function)
        arguments = set(inspect.signature(function).parameters)
        assert "opt.ModelOptions.of(locals())" in source, function.__name__
        for field in dataclasses.fields(opt.ModelOptions):
            assert field.name in arguments, (function.__name__, field.name)
        if function.__name__ in SURFACE_COMMANDS:
            assert "opt.SurfaceOptions.of(locals())" in source, function.__name__
            for field in dataclasses.fields(opt.SurfaceOptions):
                assert field.name in arguments, (function.__name__, field.name)
    arguments = {f.name: f.name for f in dataclasses.fields(opt.ModelOptions)} | {"unrelated": 1}
    assert opt.ModelOptions.of(arguments).data == "data"  # each field from the argument of its name
    with pytest.raises(KeyError):
        opt.SurfaceOptions.of({"dir_type": None})  # a command that forgot an option fails at once


def test_the_library_settings_made_from_the_options():
    loading = opt.ModelOptions(model="pkg.nets:f", model_kwargs='{"width": 4}', trust_checkpoint=True, data="mnist",
                               data_root="d", download=True, split=Split.test, samples=7, batch_size=3, loss="mse",
                               eval_fn=None, device="cpu", precision=Precision.fp32)
    assert loading.model_spec().factory == "pkg.nets:f" and loading.model_spec().kwargs == '{"width": 4}'
    data = loading.data_spec()
    assert (data.source, data.split, data.samples, data.root, data.download) == ("mnist", Split.test, 7, "d", True)
    assert loading.loss_spec().name == "mse" and loading.loss_spec().eval is None
    assert loading.user_code() == ("pkg.nets:f", "mnist", "mse", None)
    surface = opt.SurfaceOptions(dir_type=None, params="conv", trainable_only=True, launch=Launch.vmap,
                                 points_per_launch=4, compile=Compile.off, fold_bn=False, channels_last=True)
    ev = loading.evaluation(surface)
    assert (ev.device, ev.precision, ev.batch_size, ev.launch, ev.points_per_launch, ev.fold_bn, ev.channels_last,
            ev.compile) == ("cpu", Precision.fp32, 3, Launch.vmap, 4, False, True, Compile.off)
    plain = loading.evaluation()
    assert (plain.launch, plain.compile) == (Launch.auto, Compile.auto)
    spec = surface.direction_spec(DirType.states, seed=5)
    assert spec.dir_type == DirType.states and spec.seed == 5
    assert (spec.select.pattern, spec.select.trainable_only) == ("conv", True)
    job = loading.curvature_job(surface.select())
    assert job.trust_checkpoint and job.subset == surface.select() and job.evaluation == plain
