"""run/provenance.py: what a surface file records about its origin: the difference that refuses a
resume (a user's setting named before a digest), and the digests of the user's code and model."""

from __future__ import annotations

from conftest import tiny_model
from landscape.inputs.checkpoint import ModelSpec
from landscape.inputs.importing import import_object
from landscape.inputs.objective import cross_entropy, mse
from landscape.models import DigitsCNN
from landscape.run.provenance import code_sha256, model_sha256, settings_difference

SPEC = ModelSpec("landscape.models:digits_cnn", '{"width": 4}')


def test_settings_difference_names_a_users_setting_before_a_digest():
    stored = {"norm": "filter", "seed": 0, "data_sha256": "a" * 64, "checkpoint_sha256": "c" * 64}
    assert settings_difference(stored, dict(stored)) is None
    wanted = {**stored, "norm": "layer", "data_sha256": "b" * 64}  # the data changed too, but the norm says more
    assert settings_difference(stored, wanted) == "norm is 'filter' in the file but 'layer' in this run"
    assert settings_difference(stored, {**stored, "data_sha256": "b" * 64}) == \
        "the data changed since the file was started (data_sha256)"
    assert settings_difference(stored, {**stored, "eigen_map": True}) == "eigen_map is None in the file but True in this run"
    assert settings_difference({**stored, "seed": 1}, {**stored, "seed": 2, "norm": "layer"}).startswith("norm")  # in order


def test_code_sha256_follows_the_users_file(tmp_path):
    source = tmp_path / "myloss.py"
    source.write_text("import torch.nn.functional as F\ndef loss(out, y):\n    return F.cross_entropy(out, y)\n")
    fn = import_object(f"{source}:loss", "loss")
    first = code_sha256(fn)
    assert first is not None and len(first) == 64 and code_sha256(fn) == first
    source.write_text(source.read_text() + "# label smoothing next week\n")
    assert code_sha256(fn) != first  # the same function object: the file on disk decides
    assert code_sha256(cross_entropy, mse) is None and code_sha256(None) is None  # landscape's own: nothing to record
    assert code_sha256(fn, cross_entropy) == code_sha256(fn)


def test_model_sha256_is_its_structure_and_code_not_its_weights():
    a, b = tiny_model(seed=1), tiny_model(seed=2)
    assert model_sha256(a, SPEC) == model_sha256(b, SPEC)  # other weights: the checkpoint's digest says so
    assert model_sha256(a, SPEC) != model_sha256(DigitsCNN(width=8), SPEC)  # other shapes
    assert len(model_sha256(a, ModelSpec(None))) == 64
