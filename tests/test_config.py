import pytest

from ganforge.config import PRESETS, build_config, parse_override
from ganforge.errors import GanforgeError


def test_defaults_and_presets_validate():
    assert build_config().preset == "mnist-dcgan"
    for name in PRESETS:
        assert build_config(name).preset == name
    mlp = build_config("mnist-mlp")
    assert (mlp.model.generator, mlp.optim.lr_g, mlp.optim.lr_d, mlp.train.batch_size) == ("mlp", 2e-4, 2e-4, 64)
    assert mlp.loss.name == "non-saturating"


def test_overrides_and_yaml(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("preset: digits-mlp\ntrain:\n  steps: 7\noptim:\n  lr_d: 0.001\n")
    config = build_config(config_file=path, overrides=["train.steps=9", "loss.label_smoothing=0.1"])
    assert config.preset == "digits-mlp" and config.train.steps == 9 and config.optim.lr_d == 0.001
    assert config.loss.label_smoothing == 0.1
    assert parse_override("a.b=[1, 2]") == {"a": {"b": [1, 2]}}


@pytest.mark.parametrize("override,message", [
    ("train.stpes=3", "unknown config key 'train.stpes' \\(did you mean 'train.steps'\\?\\)"),
    ("train.steps=abc", "config key 'train.steps' must be a whole number"),
    ("loss.name=wasserstien", "loss.name: unknown loss 'wasserstien'"),
    ("model.generator=resnet9", "model.generator: unknown generator 'resnet9'"),
    ("data.dataset=mnsit", "unknown dataset 'mnsit'"),
    ("optim.lr_g=-1", "optim.lr_g and optim.lr_d must be > 0"),
    ("loss.label_smoothing=0.7", "loss.label_smoothing must be in \\[0, 0.5\\)"),
    ("train.ema=maybe", "config key 'train.ema' must be true or false"),
    ("train.device=cuda:0", "CUDA is not available|unknown device"),
    ("nonsense", "needs the form section.key=value"),
])
def test_bad_values_name_the_key(override, message):
    with pytest.raises(GanforgeError, match=message):
        build_config(overrides=[override])


def test_unknown_preset_and_bad_yaml(tmp_path):
    with pytest.raises(GanforgeError, match="unknown preset 'mnist-dcgn'.*did you mean 'mnist-dcgan'"):
        build_config("mnist-dcgn")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(GanforgeError, match="not valid YAML"):
        build_config(config_file=bad)
    with pytest.raises(GanforgeError, match="does not exist"):
        build_config(config_file=tmp_path / "missing.yaml")
