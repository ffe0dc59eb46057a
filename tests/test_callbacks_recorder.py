"""landscape.callbacks: what a Recorder writes while a model trains, that training is unchanged by
it, that `landscape trajectory FOLDER` reads the folder with no flags, that warm-started
eigenvalues agree with a cold Lanczos run, and the real Lightning and transformers trainers."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from typer.testing import CliRunner

from landscape.callbacks import Recorder
from landscape.callbacks import saving
from landscape.cli.app import app
from landscape.curvature.lanczos import lanczos_top
from landscape.curvature.operator import HessianOperator
from landscape.errors import LandscapeError
from landscape.inputs.checkpoint import ModelSpec, load_model
from landscape.inputs.data import DataSpec, load_data
from landscape.inputs.objective import batch_loss, cross_entropy
from landscape.inputs.runs import read_run
from landscape.models import DigitsCNN
from landscape.store import read_surface
from landscape.store.training_log import read_log

runner = CliRunner()


def _train(folder: Path | None, steps: int = 12, adam: bool = False, **recorder):
    """A few steps of the digits CNN; with `folder`, recorded. Returns (model, optimizer, recorder)."""
    torch.manual_seed(0)
    data = load_data(DataSpec("digits", samples=192))
    model = DigitsCNN(width=4)
    opt = (torch.optim.Adam(model.parameters(), lr=1e-2) if adam
           else torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4))
    rec = None
    if folder is not None:
        rec = Recorder(folder, batch=(data.x[:64], data.y[:64]), model_kwargs={"width": 4}, data="digits",
                       quiet=True, **recorder)
        rec.start(model, opt)
    for k in range(steps):
        idx = torch.arange(16 * k, 16 * k + 16) % len(data)
        loss = F.cross_entropy(model(data.x[idx]), data.y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if rec is not None:
            rec.step(model, opt, loss=loss, epoch=k // 6)
    if rec is not None:
        rec.close(model)
    return model, opt, rec


def test_a_recorded_run_holds_checkpoints_settings_and_sharpness(tmp_path):
    _, _, rec = _train(tmp_path / "run", every=4, sharpness_every=4)
    names = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert [n for n in names if n.startswith("step_")] == [f"step_{s:06d}.safetensors" for s in (0, 4, 8, 12)]
    from safetensors import safe_open
    with safe_open(tmp_path / "run" / "step_000008.safetensors", "pt") as f:
        assert f.metadata()["step"] == "8"
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["model"]["class"] == "landscape.models:DigitsCNN" and info["model"]["kwargs"] == {"width": 4}
    assert info["optimizer"]["param_groups"][0]["momentum"] == 0.9 and info["data"] == "digits"
    log = read_log(tmp_path / "run")
    assert log.steps["step"].tolist() == list(range(1, 13)) and np.allclose(log.steps["lr"], 0.05)
    s = log.sharpness
    assert s["step"].tolist() == [0, 4, 8]  # the weights each measured step starts from
    assert np.allclose(s["two_over_lr"], 40.0) and np.allclose(s["threshold"], 2 * 1.9 / 0.05)
    assert np.all(s["lambda_max"] > 0) and np.all(s["products"] >= 1)
    assert (tmp_path / "run" / "sharpness.csv").read_text().count("\n") == 4
    run = read_run(tmp_path / "run")
    assert [p.name for p in run.checkpoints] == [f"step_{s:06d}.safetensors" for s in (0, 4, 8, 12)]


def test_recording_changes_nothing_in_training(tmp_path):
    """Measurements are functional and the optimizer's virtual step is undone bit for bit (Adam's
    moments and step counts included)."""
    plain, opt_plain, _ = _train(None, adam=True)
    recorded, opt_rec, _ = _train(tmp_path / "run", adam=True, every=3, sharpness_every=2)
    for (n, a), (_, b) in zip(plain.state_dict().items(), recorded.state_dict().items()):
        assert torch.equal(a, b), n
    for sa, sb in zip(opt_plain.state.values(), opt_rec.state.values()):
        for k in sa:
            assert torch.equal(torch.as_tensor(sa[k]), torch.as_tensor(sb[k])), k
    assert np.isnan(read_log(tmp_path / "run").sharpness["threshold"]).all()  # Adam: no fixed threshold


def test_warm_started_eigenvalues_agree_with_a_cold_lanczos_run(tmp_path):
    _, _, rec = _train(tmp_path / "run", steps=12, every=4, sharpness_every=4)
    log = read_log(tmp_path / "run").sharpness
    data = load_data(DataSpec("digits", samples=192))
    for step, value in zip(log["step"], log["lambda_max"]):
        model = load_model(tmp_path / "run" / f"step_{int(step):06d}.safetensors", ModelSpec("landscape.models:DigitsCNN",
                                                                                          {"width": 4}))
        op = HessianOperator(model, [(data.x[:64], data.y[:64])], batch_loss(cross_entropy, True))
        cold = float(lanczos_top(op, 1, 100, 1e-10)[0][0])
        assert value == pytest.approx(cold, rel=1e-3)
    assert log["products"][1:].mean() < log["products"][0]  # warm starts need fewer products than the cold first


def test_trajectory_reads_a_recorded_folder_with_no_flags(tmp_path, monkeypatch):
    _train(tmp_path / "run", every=4)
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(app, ["trajectory", "run", "--resolution", "5", "--out", "t.h5", "--quiet"])
    assert r.exit_code == 0, r.output
    s = read_surface(tmp_path / "t.h5")
    assert len(s.tracks["trajectory"].x) == 4 and s.attrs["data"].startswith("digits")


def test_run_files_that_would_run_code_are_refused(tmp_path, monkeypatch):
    _train(tmp_path / "run", every=4)
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    (tmp_path / "run" / "evil.py").write_text("import torch\nclass Net(torch.nn.Module):\n    pass\n")
    (tmp_path / "secret.pt").write_bytes(b"")
    monkeypatch.chdir(tmp_path / "run")
    for model, data, words in ((("os:system"), "digits", "not a torch.nn.Module class"),
                               ("evil:Net", "digits", "inside the run's folder"),
                               ("../x.py:Net", "digits", "not of the form"),
                               ("landscape.models:DigitsCNN", "mypkg.data:make", "neither a data set's name"),
                               ("landscape.models:DigitsCNN", "../secret.pt", "neither a data set's name"),
                               ("landscape.models:DigitsCNN", "secret.pt", "neither a data set's name")):
        info["model"]["class"], info["data"] = model, data
        (tmp_path / "run" / "run.json").write_text(json.dumps(info))
        r = runner.invoke(app, ["trajectory", str(tmp_path / "run"), "--resolution", "3", "--out",
                                str(tmp_path / "t.h5")])
        assert r.exit_code == 2 and words in r.output, (model, r.output)
    assert "evil" not in sys.modules


def test_a_package_inside_the_run_folder_is_never_imported(tmp_path, monkeypatch):
    """Finding where a dotted class lives must not import its parent package: a crafted run folder
    that is itself a package would run its __init__.py."""
    _train(tmp_path / "evilrun", every=4)
    (tmp_path / "evilrun" / "__init__.py").write_text(f"open({str(tmp_path / 'ran')!r}, 'w').close()\n")
    (tmp_path / "evilrun" / "nets.py").write_text("import torch\nclass Net(torch.nn.Module):\n    pass\n")
    info = json.loads((tmp_path / "evilrun" / "run.json").read_text())
    info["model"]["class"] = "evilrun.nets:Net"
    (tmp_path / "evilrun" / "run.json").write_text(json.dumps(info))
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(app, ["trajectory", "evilrun", "--resolution", "3", "--out", str(tmp_path / "t.h5")])
    assert r.exit_code == 2 and "inside the run's folder" in r.output, r.output
    assert not (tmp_path / "ran").exists() and "evilrun" not in sys.modules


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """One recorded run, copied by the tests that damage it."""
    folder = tmp_path_factory.mktemp("recorded") / "run"
    _train(folder, every=4)
    return folder


@pytest.mark.parametrize("change", [{"checkpoints": [{"file": "step_000000.safetensors", "step": "x"}]},
                                    {"checkpoints": [{"file": "step_000000.safetensors", "step": True}]},
                                    {"checkpoints": [7]}, {"model": ["x"]}, {"model": None, "recording": [1]},
                                    {"extra": {"swa": 5}}])
def test_damaged_run_files_are_one_line(tmp_path, change, recorded):
    shutil.copytree(recorded, tmp_path / "run")
    info = {**json.loads((tmp_path / "run" / "run.json").read_text()), **change}
    (tmp_path / "run" / "run.json").write_text(json.dumps(info))
    for command in (["trajectory", str(tmp_path / "run"), "--resolution", "3", "--out", str(tmp_path / "t.h5")],
                    ["info", str(tmp_path / "run")]):
        r = runner.invoke(app, command)
        assert r.exit_code in (0, 2) and (r.exception is None or isinstance(r.exception, SystemExit)), \
            (change, command, r.output, r.exception)


def test_only_rank_zero_writes(tmp_path, monkeypatch):
    monkeypatch.setattr(saving, "rank", lambda: 1)
    _train(tmp_path / "run", every=4, sharpness_every=4)
    assert not (tmp_path / "run").exists()


def test_plot_draws_a_training_log(tmp_path):
    _train(tmp_path / "run", every=4, sharpness_every=2)
    r = runner.invoke(app, ["plot", str(tmp_path / "run")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "run" / "run.sharpness.png").stat().st_size > 10_000
    r = runner.invoke(app, ["info", str(tmp_path / "run")])
    assert r.exit_code == 0 and "steps               12 (learning rate 0.05 → 0.05)" in r.output, r.output
    assert "landscape.models:DigitsCNN" in r.output and "(6 measurements)" in r.output
    (tmp_path / "bad.h5").write_bytes(b"not hdf5")
    with pytest.raises(LandscapeError):
        read_log(tmp_path / "bad.h5")


def test_a_tensorboard_logger_gets_each_measurement(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from landscape.callbacks import TensorBoard

    tb = TensorBoard(tmp_path / "tb")
    _train(tmp_path / "run", every=4, sharpness_every=4, loggers=[tb])
    tb.close()
    acc = EventAccumulator(str(tmp_path / "tb"))
    acc.Reload()
    assert [e.step for e in acc.Scalars("landscape/lambda_max")] == [0, 4, 8]


def test_weights_and_biases_offline_gets_each_measurement(tmp_path, monkeypatch):
    wandb = pytest.importorskip("wandb")
    from landscape.callbacks import WandB

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    run = wandb.init(dir=str(tmp_path), project="landscape-test")
    try:
        _, _, rec = _train(tmp_path / "run", every=4, sharpness_every=4, loggers=[WandB()])
        assert run.summary["landscape/lambda_max"] == pytest.approx(rec.sharpness["lambda_max"][-1])
        assert run.summary["landscape/step"] == 8
    finally:
        run.finish()


class _CountingSGD(torch.optim.SGD):
    """Keeps state in its groups (as Prodigy and schedule-free optimizers do) and calls its parent's step."""

    def step(self, closure=None):
        for g in self.param_groups:
            g["k"] = g.get("k", 0) + 1
        return super().step(closure)


def _loop(rec: Recorder | None, make_opt, scaler: bool = False):
    torch.manual_seed(0)
    data = load_data(DataSpec("digits", samples=96))
    model = DigitsCNN(width=4)
    temperature = torch.nn.Parameter(torch.ones(()))  # trained, but not the model's
    opt = make_opt([*model.parameters(), temperature])
    amp = torch.amp.GradScaler("cpu", init_scale=2.0**10) if scaler else None
    if rec is not None:
        rec.start(model, opt)
    for k in range(6):
        idx = torch.arange(16 * k, 16 * k + 16)
        loss = F.cross_entropy(model(data.x[idx]) / temperature, data.y[idx])
        opt.zero_grad()
        if amp is not None:
            amp.scale(loss).backward()
            amp.step(opt)
            amp.update()
        else:
            loss.backward()
            opt.step()
        if rec is not None:
            rec.step(model, opt)
    if rec is not None:
        rec.close(model)
    return model, temperature, opt


@pytest.mark.parametrize("make_opt, scaler", [
    (lambda p: _CountingSGD(p, lr=0.05, momentum=0.9), False),
    (lambda p: torch.optim.AdamW(p, lr=1e-2, fused=True), True),
    (lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, fused=True), True)])
def test_the_virtual_step_leaves_every_parameter_and_setting_as_it_was(tmp_path, make_opt, scaler):
    data = load_data(DataSpec("digits", samples=96))
    plain = _loop(None, make_opt, scaler)
    rec = Recorder(tmp_path / "run", every=None, sharpness_every=1, batch=(data.x[:32], data.y[:32]), quiet=True)
    recorded = _loop(rec, make_opt, scaler)
    for (n, a), (_, b) in zip(plain[0].state_dict().items(), recorded[0].state_dict().items()):
        assert torch.equal(a, b), n
    assert torch.equal(plain[1], recorded[1])  # the parameter outside the model
    assert plain[2].param_groups[0].get("k") == recorded[2].param_groups[0].get("k")
    assert rec.sharpness["step"] == [0, 1, 2, 3, 4, 5]  # once per step, though the subclass calls its parent's step
    assert np.isfinite(rec.sharpness["critical_sharpness"]).sum() >= 3


def test_an_optimizer_that_needs_a_closure_gets_no_critical_sharpness(tmp_path):
    notes = []
    data = load_data(DataSpec("digits", samples=32))
    torch.manual_seed(0)
    model = DigitsCNN(width=4)
    opt = torch.optim.LBFGS(model.parameters(), lr=0.1, max_iter=2)
    rec = Recorder(tmp_path / "run", every=None, sharpness_every=1, batch=(data.x, data.y), say=notes.append)
    rec.start(model, opt)
    for _ in range(2):
        def closure():
            opt.zero_grad()
            loss = F.cross_entropy(model(data.x), data.y)
            loss.backward()
            return loss
        opt.step(closure)
        rec.step(model, opt)
    rec.close(model)
    assert any("no critical sharpness" in n for n in notes)
    assert np.all(np.isfinite(rec.sharpness["lambda_max"])) and np.all(np.isnan(rec.sharpness["critical_sharpness"]))


def test_a_resumed_training_keeps_the_earlier_part_of_its_run(tmp_path):
    _train(tmp_path / "run", steps=8, every=4, sharpness_every=4)
    torch.manual_seed(0)
    model = load_model(tmp_path / "run" / "step_000004.safetensors", ModelSpec("landscape.models:DigitsCNN", {"width": 4}))
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    rec = Recorder(tmp_path / "run", every=4, sharpness_every=4, quiet=True, batch=(torch.randn(8, 1, 8, 8),
                   torch.randint(0, 10, (8,))), model_kwargs={"width": 4})
    rec.start(model, opt, step=4)  # resumed from step 4: steps 5-8 of the first training are abandoned
    for _ in range(4):
        opt.zero_grad()
        F.cross_entropy(model(torch.randn(8, 1, 8, 8)), torch.randint(0, 10, (8,))).backward()
        opt.step()
        rec.step(model, opt)
    rec.close(model)
    run = read_run(tmp_path / "run")
    assert run.steps == [0, 4, 8]
    log = read_log(tmp_path / "run")
    assert log.steps["step"].tolist() == list(range(1, 9)) and log.sharpness["step"].tolist() == [0, 4]
