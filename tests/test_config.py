import json

import pytest

from ganforge.config import CONFIG_VERSION, config_from_dict, parse_override
from ganforge.configure import build_config, load_config
from ganforge.errors import GanforgeError
from ganforge.families import FAMILIES
from ganforge.presets import PRESETS


def test_defaults_and_presets_validate():
    assert build_config().preset == "mnist-default"
    for name in PRESETS.names():
        assert build_config(name).preset == name
    mlp = build_config("mnist-mlp")
    assert (mlp.model.generator, mlp.optim.lr, mlp.train.batch_size) == ("mlp", 2e-4, 64)
    assert mlp.loss.name == "non-saturating"


def test_every_preset_lives_in_its_family_folder_with_a_description():
    for family, presets in PRESETS.groups().items():
        assert family in FAMILIES, family
        for preset in presets:
            assert build_config(preset.name).algorithm.name == family, preset.name
            assert preset.description and "\n" not in preset.description, preset.name


def test_extends_merges_over_the_base_preset():
    hinge = build_config("mnist-hinge")
    assert (hinge.model.g_width, hinge.train.steps) == (32, 4000)  # from mnist-dcgan
    assert (hinge.loss.name, hinge.model.spectral_norm) == ("hinge", True)  # its own
    assert hinge.optim.for_network("G").lr == 1e-4 and hinge.optim.for_network("D").lr == 4e-4
    assert hinge.optim.for_network("D").beta1 == 0.0


def test_overrides_and_yaml(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("preset: digits-mlp\ntrain:\n  steps: 7\noptim:\n  D:\n    lr: 0.001\n")
    config = build_config(config_file=path, overrides=["train.steps=9", "loss.label_smoothing=0.1"])
    assert config.preset == "digits-mlp" and config.train.steps == 9 and config.optim.for_network("D").lr == 0.001
    assert config.optim.for_network("G").lr == 2e-4
    assert config.loss.label_smoothing == 0.1
    assert parse_override("a.b=[1, 2]") == {"a": {"b": [1, 2]}}


def test_a_copied_preset_file_is_a_config_file(tmp_path):
    """`ganforge presets NAME > my.yaml` gives a file --config accepts as it is (its extends: names the base)."""
    copy = tmp_path / "hinge.yaml"
    copy.write_text(PRESETS.get("mnist-hinge").path.read_text())
    assert build_config(config_file=copy).to_dict() == {**build_config("mnist-hinge").to_dict(),
                                                        "preset": "mnist-dcgan"}


def test_network_keyed_optimiser_settings_and_the_first_layouts_shorthands():
    config = build_config(overrides=["optim.G.lr=1e-3", "optim.D.beta2=0.9", "optim.lr_d=3e-4"])
    assert config.optim.for_network("G").lr == 1e-3 and config.optim.for_network("G").beta2 == 0.999
    assert config.optim.for_network("D").lr == 3e-4 and config.optim.for_network("D").beta2 == 0.9
    assert config.to_dict()["optim"]["D"] == {"lr": 3e-4, "beta2": 0.9}
    with pytest.raises(GanforgeError, match="optim.Q: the gan family has no network 'Q'; its networks are G, D"):
        build_config(overrides=["optim.Q.lr=1e-3"])


def test_family_settings_are_typed_by_the_family():
    wgan = build_config("mnist-wgan")
    assert type(wgan.algorithm) is FAMILIES.get("wgan").settings and wgan.algorithm.clip == 0.01
    with pytest.raises(GanforgeError, match="unknown config key 'algorithm.clip'"):
        build_config("mnist-dcgan", overrides=["algorithm.clip=0.02"])
    with pytest.raises(GanforgeError, match="algorithm.name: unknown family 'wgam'.*did you mean 'wgan'"):
        build_config(overrides=["algorithm.name=wgam"])


def test_configs_written_by_the_first_layout_still_load():
    """A run's config.json of version 1: optim.lr_g/lr_d, every family's algorithm keys in one section."""
    old = build_config("mnist-hinge").to_dict()
    del old["version"]
    old["optim"] = {k: v for k, v in old["optim"].items() if k not in ("G", "D")}
    old["optim"].update({"lr_g": 1e-4, "lr_d": 4e-4})
    old["algorithm"].update({"clip": 0.01, "unroll_steps": 5, "unroll_second_order": True})
    config = load_config(json.loads(json.dumps(old)))
    assert config.version == CONFIG_VERSION
    assert config.to_dict() == build_config("mnist-hinge").to_dict()


@pytest.mark.parametrize("override,message", [
    ("train.stpes=3", "unknown config key 'train.stpes' \\(did you mean 'train.steps'\\?\\)"),
    ("train.steps=abc", "config key 'train.steps' must be a whole number"),
    ("loss.name=wasserstien", "loss.name: unknown loss 'wasserstien'"),
    ("model.generator=resnet9", "model.generator: unknown generator 'resnet9'"),
    ("data.dataset=mnsit", "unknown dataset 'mnsit'"),
    ("optim.lr=-1", "optim.lr must be > 0, got -1.0"),
    ("optim.D.lr=0", "optim.D.lr must be > 0, got 0.0"),
    ("loss.label_smoothing=0.7", "loss.label_smoothing must be in \\[0, 0.5\\), got 0.7"),
    ("train.epochs=.inf", "train.epochs must be a finite number, got inf"),
    ("train.ema=maybe", "config key 'train.ema' must be true or false"),
    ("model.d_norm=batch", "model.d_norm must be one of default, none, layer, instance, got 'batch'"),
    ("regularize.penalties={r1: -1}", "regularize.penalties.r1 must be >= 0 \\(0 = off\\), got -1.0"),
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


def test_the_ground_floor_checks_ranges_without_any_registry():
    """config.py alone types and range-checks; names are the owners' (an unknown loss passes here)."""
    config = config_from_dict({"loss": {"name": "no-such-loss"}, "train": {"steps": 3}})
    assert config.loss.name == "no-such-loss"
    with pytest.raises(GanforgeError, match="train.batch_size must be >= 1, got 0"):
        config_from_dict({"train": {"steps": 3, "batch_size": 0}})
