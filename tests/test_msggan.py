"""MSG-GAN: D's pyramid lines up with G's scales, D's gradient reaches every scale of G, the combine functions, the
paper's RaHinge loss, and only the top-resolution image outside training."""

from __future__ import annotations

import pytest
import torch

from conftest import run_cli_here
from ganforge.cli import main
from ganforge.configure import build_config
from ganforge.errors import GanforgeError
from ganforge.losses import LOSSES
from ganforge.models.msggan import (COMBINES, CatLinCombine, LinCatCombine, MSGGANDiscriminator, MSGGANGenerator,
                                    SimpleCombine, image_pyramid)
from ganforge.training.trainer import Trainer

SMALL = ["model.g_width=2", "model.d_width=2", "model.latent_dim=8", "model.resolution=16", "train.batch_size=8",
         "train.num_samples=4", "eval.every=0"]


def _model(*extra: str):
    return build_config("mnist-msggan", overrides=[*SMALL, *extra]).model


def test_the_real_pyramid_has_the_shapes_of_gs_scales(tmp_path):
    trainer = Trainer(build_config("mnist-msggan", overrides=[*SMALL, "train.steps=1"]), tmp_path / "run", quiet=True)
    _, real, fake, _ = trainer.family.draw()
    assert [x.shape for x in real] == [x.shape for x in fake] == [(8, 1, s, s) for s in (4, 8, 16)]
    image = torch.randn(2, 1, 16, 16)
    pyramid = image_pyramid(image, 3)
    assert pyramid[-1] is image and torch.allclose(pyramid[0], image.view(2, 1, 4, 4, 4, 4).mean(dim=(3, 5)))
    d = MSGGANDiscriminator(_model())
    assert torch.equal(d(image), d(pyramid))  # one full image is read as its own pyramid
    with pytest.raises(GanforgeError, match=r"reads images of sizes \[4, 8, 16\]"):
        d(pyramid[1:])


def test_ds_gradient_reaches_every_scale_of_g():
    torch.manual_seed(0)
    config = _model()
    g, d = MSGGANGenerator(config), MSGGANDiscriminator(config)
    images = g(torch.randn(8, 8), multiscale=True)
    for image in images:
        image.retain_grad()
    d(images).mean().backward()
    assert len(g.to_rgb) == len(images) == 3
    for scale, (image, to_rgb) in enumerate(zip(images, g.to_rgb)):
        assert image.grad.abs().sum() > 0, f"D reads nothing of scale {scale}"
        assert to_rgb.weight.grad.abs().sum() > 0, f"no gradient reaches toRGB of scale {scale}"


def test_sampling_gives_the_top_scale_alone():
    torch.manual_seed(0)
    g = MSGGANGenerator(_model()).eval()
    z = torch.randn(3, 8) * 40  # large inputs: the raw top image leaves [-1, 1]
    with torch.no_grad():
        raw, sampled = g(z, multiscale=True)[-1], g(z)
    assert sampled.shape == (3, 1, 16, 16) and torch.equal(sampled, raw.clamp(-1, 1))


def test_combine_functions():
    image, features = torch.randn(2, 3, 8, 8), torch.randn(2, 5, 8, 8)
    simple, lin_cat, cat_lin = SimpleCombine(3, 5), LinCatCombine(3, 5), CatLinCombine(3, 5)
    assert torch.equal(simple(image, features), torch.cat([image, features], dim=1)) and simple.out_channels == 8
    joined = lin_cat(image, features)
    assert lin_cat.out_channels == joined.shape[1] == 10
    assert torch.equal(joined[:, :5], lin_cat.project(image)) and torch.equal(joined[:, 5:], features)
    assert cat_lin.out_channels == 5
    assert torch.equal(cat_lin(image, features), cat_lin.project(torch.cat([image, features], dim=1)))
    torch.manual_seed(0)
    pyramid = image_pyramid(torch.randn(4, 1, 16, 16), 3)
    for name in COMBINES:
        d = MSGGANDiscriminator(_model(f"model.msg_combine={name}"))
        assert d(pyramid).shape == (4,) and all(isinstance(c, COMBINES.get(name)) for c in d.combines)


def test_relativistic_average_hinge_on_known_logits():
    loss = LOSSES.get("relativistic-average-hinge")
    real, fake = torch.tensor([2.0, 0.0]), torch.tensor([-1.0, 1.0])  # means 1 and 0
    # D: relu(1 - (real - 0)) = [0, 1] -> 0.5; relu(1 + (fake - 1)) = [0, 1] -> 0.5
    assert loss.discriminator(real, fake, 1.0).item() == pytest.approx(1.0)
    # G: relu(1 - (fake - 1)) = [3, 1] -> 2; relu(1 + (real - 0)) = [3, 1] -> 2
    assert loss.generator(fake, real).item() == pytest.approx(4.0)
    assert loss.generator_needs_real and not loss.uses_sigmoid


@pytest.mark.parametrize("override, message", [
    ("model.msg_combine=concat", "model.msg_combine: unknown MSG-GAN combine function 'concat'"),
    ("regularize.penalties={r1: 1}", "regularize.penalties does not apply to algorithm.name=msggan"),
    ("augment.policy=[translation]", "augment.policy does not apply to algorithm.name=msggan"),
    ("model.generator=progan", "set model.generator=msggan"),
])
def test_bad_settings_are_refused_at_load(override, message):
    with pytest.raises(GanforgeError, match=message):
        build_config("mnist-msggan", overrides=[override])


def test_an_unknown_combine_function_is_one_line_exit_2():
    result = run_cli_here("train", "mnist-msggan", "--set", "model.msg_combine=concat", "--dry-run")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "choose from: cat_lin, lin_cat, simple" in result.stderr


def _untrained_export(tmp_path):
    from ganforge import load_generator
    from ganforge.export import CONFIG_FILE, WEIGHTS_FILE, write_generator
    from ganforge.portable import example_inputs

    config = build_config("mnist-msggan", overrides=SMALL)
    torch.manual_seed(0)
    export = tmp_path / "export"
    export.mkdir()
    write_generator(export / WEIGHTS_FILE, export / CONFIG_FILE, MSGGANGenerator(config.model), config, 0, "generator")
    network = load_generator(export)
    values = example_inputs(network.inputs, 3, seed=7)
    with torch.inference_mode():
        return export, values, network(**values)


def test_torchscript_export_gives_the_top_scale(tmp_path):
    export, values, expected = _untrained_export(tmp_path)
    assert main(["export", str(export), "--format", "torchscript", "--out", str(tmp_path / "g.pt")]) == 0
    with torch.inference_mode():
        got = torch.jit.load(str(tmp_path / "g.pt"))(*values.values())
    assert got.shape == expected.shape == (3, 1, 16, 16) and (got - expected).abs().max() <= 1e-4


@pytest.mark.slow
def test_onnx_export_gives_the_top_scale(tmp_path):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed: pip install onnxruntime")
    pytest.importorskip("onnxscript", reason="the export extra is not installed: pip install 'ganforge[export]'")
    export, values, expected = _untrained_export(tmp_path)
    assert main(["export", str(export), "--format", "onnx", "--out", str(tmp_path / "g.onnx")]) == 0
    session = ort.InferenceSession(str(tmp_path / "g.onnx"), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {name: value.numpy() for name, value in values.items()})
    # pixel norm over 2 feature maps (the tiny widths here) amplifies float rounding: most pixels agree to 1e-6
    assert got.shape == (3, 1, 16, 16) and abs(torch.from_numpy(got) - expected).max() <= 1e-3
