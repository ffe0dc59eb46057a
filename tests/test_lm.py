"""Language models with no code: a Hugging Face folder and a text file make a surface whose
values equal a plain loop over `model(input_ids, labels=...)`; tied weights load; lean points
equal whole points; adapters move only their own weights."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("transformers")

import lm  # noqa: E402  (tests/lm.py)
from landscape import store  # noqa: E402
from landscape.engine import EvalSettings, Evaluator, plan_for  # noqa: E402
from landscape.inputs.checkpoint import ModelSpec  # noqa: E402
from landscape.errors import LandscapeError  # noqa: E402
from landscape.inputs.loading import checkpoint_sha256, load_model  # noqa: E402
from landscape.inputs.data import DataSpec  # noqa: E402
from landscape.inputs.objective import Objective, causal_lm  # noqa: E402
from landscape.inputs.text import TokenData  # noqa: E402
from landscape.plane.directions import DirectionSpec, random_directions  # noqa: E402
from landscape.plane.grid import Grid  # noqa: E402
from landscape.run.compute import compute  # noqa: E402
from landscape.run.info import summary  # noqa: E402
from landscape.run.job import ComputeJob  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CPU = EvalSettings(device="cpu")


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return lm.save_gpt2(tmp_path_factory.mktemp("gpt2") / "tiny-gpt2")


@pytest.fixture(scope="module")
def text(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("text") / "corpus.txt"
    path.write_text(lm.corpus(203))  # 203 words: the last sequence of 16 is cut short and padded
    return path


def point_loss(model, directions, a, b, ids, mask):
    """The plain loop: the model's own loss at θ + a·d1 + b·d2, token-weighted over sequences."""
    net = lm.gpt2()
    state = {n: t.clone() for n, t in model.state_dict().items() if n != "lm_head.weight"}  # tied: wte's
    for n, d in directions.x.items():
        state[n] = state[n] + a * d + b * directions.y[n]
    net.load_state_dict(state, strict=False)
    net.tie_weights()
    total = count = 0.0
    with torch.no_grad():
        for row, m in zip(ids, mask):
            labels = row.masked_fill(m == 0, -100)[None]
            out = net(input_ids=row[None], attention_mask=m[None], labels=labels)
            n = float((labels[0, 1:] != -100).sum())
            total, count = total + float(out.loss) * n, count + n
    return total / count


def test_a_folder_and_a_text_file_give_the_plain_loops_losses(tmp_path, folder, text):
    out = tmp_path / "s.h5"
    job = ComputeJob(folder, Grid((-0.5, 0.0, 0.7), (-0.3, 0.4)), out, data=DataSpec(str(text), seq_len=16),
                     evaluation=CPU)  # exact fp32, also where a GPU would pick tf32
    compute(job)
    s = store.read_surface(out)
    model = load_model(folder)
    data = TokenData  # the file says what was evaluated: sequences, tokens, the tokenizer
    assert s.attrs["sequences"] == 13 and s.attrs["seq_len"] == 16 and s.attrs["tokens"] == 203
    assert s.attrs["predicted_tokens"] == 203 - 13 and str(folder) in s.attrs["tokenizer"]
    directions = store.read_directions(out)
    from landscape.inputs.text import TextSpec, load_tokens

    tokens = load_tokens(str(text), TextSpec(16), tokenizer_dir=folder)
    assert isinstance(tokens, data) and int(tokens.y[-1].sum()) == 203 - 12 * 16  # the padded last sequence
    for i, a in enumerate(s.x):
        for j, b in enumerate(s.y):
            want = point_loss(model, directions, a, b, tokens.x, tokens.y)
            assert s.values["train_loss"][j, i] == pytest.approx(want, rel=2e-6)
    assert np.isfinite(s.values["train_acc"]).all()  # token accuracy, in percent
    info = summary(out)
    for words in ("sequences", "tokens", "next-token cross-entropy", "perplexity"):
        assert words in info


def test_lean_points_equal_whole_points_on_a_transformer(folder):
    model = load_model(folder)
    ids = torch.randint(0, len(lm.tokenizer()), (6, 12), generator=torch.Generator().manual_seed(1))
    data = TokenData(ids, torch.ones_like(ids), "train", tokenizer="pre-tokenized", seq_len=12)
    directions = random_directions(model, DirectionSpec(), two=True)
    coords = np.array([[0.0, 0.0], [0.4, -0.3], [-1.0, 0.8]])
    got = {}
    for lean in (False, True):
        plan, objective = plan_for(model, data, Objective(eval_fn=causal_lm), EvalSettings(device="cpu", lean=lean),
                                   torch.device("cpu"), len(coords))
        ev = Evaluator(model, data, directions, objective, plan)
        got[lean] = ev.evaluate(coords)
        assert plan.lean is lean and (("lean points" in ev.pm.applied) is lean)
    np.testing.assert_allclose(got[True][0], got[False][0], rtol=1e-6)
    np.testing.assert_allclose(got[True][1], got[False][1])
    # the tied head moves with the embedding: one tensor, one direction
    assert "lm_head.weight" not in directions.x and "transformer.wte.weight" in directions.x
    # the plan counts a forward pass per sequence, not per token: batches of ~4 GFLOPs, whatever the length
    from landscape.engine.probe import probe

    longer = TokenData(ids.repeat(1, 2), torch.ones_like(ids.repeat(1, 2)), "train", tokenizer="pre-tokenized", seq_len=24)
    per = [probe(model, d, Objective(eval_fn=causal_lm), torch.device("cpu"))[0].flops_per_sample for d in (data, longer)]
    assert per[1] > 1.8 * per[0]


def test_tied_and_sharded_folders_load_with_a_factory(tmp_path):
    """save_pretrained stores a tied tensor once; a factory's model still loads it (it said
    '1 missing (lm_head.weight)' before), from one file or from an index of shards."""
    one = lm.save_gpt2(tmp_path / "one")
    shards = lm.save_gpt2(tmp_path / "shards", max_shard_size="20KB")
    assert (shards / "model.safetensors.index.json").is_file() and len(list(shards.glob("*.safetensors"))) > 1
    (tmp_path / "gpt2_nets.py").write_text("import sys\nsys.path.insert(0, %r)\nimport lm\n\ndef gpt2():\n    return lm.gpt2(seed=5)\n"
                                      % str(Path(__file__).parent))
    sys.path.insert(0, str(tmp_path))
    try:
        reference = lm.gpt2()
        before = checkpoint_sha256(shards)
        last = sorted(shards.glob("model-*.safetensors"))[-1]
        from safetensors.torch import load_file, save_file

        tensors = load_file(last)
        save_file({k: v + 1 for k, v in tensors.items()}, last, metadata={"format": "pt"})
        assert checkpoint_sha256(shards) != before  # another shard, the same index: a resume must see it
        save_file(tensors, last, metadata={"format": "pt"})
        for path in (one, shards):
            model = load_model(path, ModelSpec("gpt2_nets:gpt2"))
            assert model.lm_head.weight is model.transformer.wte.weight
            for n, t in reference.state_dict().items():
                assert torch.equal(model.state_dict()[n], t), n
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("gpt2_nets", None)


def test_damaged_folders_are_one_line(tmp_path):
    bad = lm.save_gpt2(tmp_path / "bad")
    (bad / "model.safetensors").write_bytes(b"\x10\x00" + b"garbage" * 10)
    config = json.loads((bad / "config.json").read_text())
    for architectures, match in ((config["architectures"], "cannot load the model folder"),
                                 ("GPT2LMHeadModel", "names no architecture")):
        (bad / "config.json").write_text(json.dumps({**config, "architectures": architectures}))
        with pytest.raises(LandscapeError, match=match) as e:
            load_model(bad)
        assert "\n" not in e.value.message


def test_other_heads_name_eval(tmp_path, text):
    head = lm.save_gpt2(tmp_path / "cls", cls="GPT2ForSequenceClassification")
    from typer.testing import CliRunner

    from landscape.cli.app import app

    r = CliRunner().invoke(app, ["compute", str(head), "--data", str(text), "--x", "-1:1:2", "--out", str(tmp_path / "s.h5")])
    assert r.exit_code == 2 and "Traceback" not in r.output and not (tmp_path / "s.h5").exists()
    assert r.output.count("\n") == 1 and "GPT2ForSequenceClassification" in r.output and "--eval" in r.output


def test_a_peft_adapter_moves_its_own_weights(tmp_path, folder, text):
    peft = pytest.importorskip("peft")
    base = lm.gpt2()
    lora = peft.get_peft_model(base, peft.LoraConfig(r=2, target_modules=["c_attn"], fan_in_fan_out=True))
    with torch.no_grad():
        for n, p in lora.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.1)  # a trained adapter: B is not zero
    adapter = tmp_path / "adapter"
    lora.save_pretrained(adapter)
    config = json.loads((adapter / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = str(folder)
    (adapter / "adapter_config.json").write_text(json.dumps(config))
    model = load_model(adapter)
    directions = random_directions(model, DirectionSpec(), two=True)
    moving = set(directions.moving())
    assert moving and all(".lora_" in n for n in moving)
    assert directions.x["base_model.model.transformer.wte.weight"].stride() == (0, 0)  # a zero with no memory
    out = tmp_path / "a.h5"
    compute(ComputeJob(adapter, Grid((-1.0, 0.0, 1.0)), out, data=DataSpec(str(text), seq_len=16), evaluation=CPU))
    s = store.read_surface(out)
    assert "adapter" in s.attrs["subset"] and np.ptp(s.values["train_loss"]) > 0
    merged = load_model(adapter, ModelSpec(merge_adapter=True))
    assert not hasattr(merged, "peft_config")
    assert not torch.equal(merged.transformer.h[0].attn.c_attn.weight, base.transformer.h[0].attn.c_attn.weight)
    assert len(random_directions(merged, DirectionSpec(), two=False).moving()) > len(moving)
