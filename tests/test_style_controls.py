"""Style controls: perceptual path length (z and w, against hand computations), the style-mixing grid and the
projector, on tiny generators and a tiny trained StyleGAN2."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from torch import nn

from conftest import TINY_DCGAN, run_cli
from ganforge.cli import main
from ganforge.configure import build_config
from ganforge.errors import GanforgeError
from ganforge.inputs import GeneratorInputs, Latent
from ganforge.metrics import build_extractor
from ganforge.metrics.extractors import Extractor
from ganforge.models.stylegan2 import StyleGAN2Generator
from ganforge.metrics.ppl import PPLSettings, filtered_mean, path_distances, perceptual_path_length
from ganforge.data.images import to_uint8
from ganforge.sampling import Sampler, seeded_inputs
from ganforge.export import load_generator
from ganforge.projector import latent_ws, load_latent, project, read_target
from ganforge.style import style_mixing_grid
from ganforge.training.trainer import train

TINY_STYLE = ["model.g_width=2", "model.d_width=2", "model.latent_dim=8", "model.mapping_layers=2",
              "model.resolution=8", "train.batch_size=8", "train.num_samples=4", "eval.every=0"]


class PixelExtractor(Extractor):
    """The pixels themselves as features: PPL's distance becomes a hand-computable function of the images."""

    name, dim, input_size, channels = "pixels", 16, 4, 1

    class Flatten(nn.Module):
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
            return x.flatten(1), None

    def __init__(self) -> None:
        super().__init__(self.Flatten(), "none", torch.device("cpu"))

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        return images.float() / 127.5 - 1.0


class Linear(nn.Module):
    """images = A z (4x4 gray), and with `mapping` a StyleGAN-like split: w = B z for every layer, images = C w."""

    def __init__(self, mapping: bool = False, constant: bool = False) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.inputs = GeneratorInputs({"z": Latent(6)})
        self.a, self.b, self.c = (nn.Parameter(torch.randn(*shape) * 0.2) for shape in ((16, 6), (5, 6), (16, 5)))
        self.constant = constant
        if mapping:
            self.num_ws, self.w_avg = 3, torch.zeros(5)
            self.ws = lambda z: (z @ self.b.T).unsqueeze(1).repeat(1, 3, 1)
            self.synthesis = lambda ws: (ws[:, 0] @ self.c.T).view(-1, 1, 4, 4)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        images = (z @ self.a.T).view(-1, 1, 4, 4)
        return images * 0 + 0.3 if self.constant else images


def _projected_derivative(y: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Per row, the squared length of d(y / |y|) = (I - n n^T) dy / |y|: the limit of PPL's distance / eps^2."""
    norm = np.linalg.norm(y, axis=1, keepdims=True)
    n = y / norm
    tangent = dy - (n * dy).sum(axis=1, keepdims=True) * n
    return (tangent ** 2).sum(axis=1) / norm[:, 0] ** 2


def _pairs(count: int) -> tuple[np.ndarray, np.ndarray]:
    z = seeded_inputs(GeneratorInputs({"z": Latent(6)}), 2 * count, 0)["z"].double().numpy()
    return z[:count], z[count:]


def _tiny_stylegan2() -> StyleGAN2Generator:
    torch.manual_seed(0)
    return StyleGAN2Generator(build_config("mnist-stylegan2", overrides=TINY_STYLE).model)


def test_ppl_of_a_constant_generator_is_zero():
    extractor = build_extractor("random-conv")
    assert perceptual_path_length(Linear(constant=True), extractor, 50, 0, PPLSettings("z")) == 0.0
    g = _tiny_stylegan2()
    with torch.no_grad():
        for to_rgb in g.to_rgb:  # the images are the toRGB biases only: one image whatever w is
            to_rgb.conv.weight.zero_()
            to_rgb.bias.fill_(0.1)
    for space in ("z", "w"):
        assert perceptual_path_length(g, extractor, 50, 0, PPLSettings(space)) == 0.0


def test_ppl_in_z_of_a_linear_generator_matches_the_hand_computation():
    g, count = Linear(), 300
    a, b = _pairs(count)
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    omega = np.arccos(cos)[:, None]
    dz = omega * (b - np.cos(omega) * a) / np.sin(omega)  # d/dt slerp(a, b, t) at t = 0
    matrix = g.a.detach().double().numpy()
    expected = _projected_derivative(a @ matrix.T, dz @ matrix.T)
    got = path_distances(g, PixelExtractor(), count, 0, PPLSettings("z", "end"))
    assert np.allclose(got, expected, rtol=2e-2)
    assert perceptual_path_length(g, PixelExtractor(), count) == pytest.approx(filtered_mean(expected), rel=1e-2)
    kept = (expected >= np.percentile(expected, 1, method="lower")) & (expected <= np.percentile(expected, 99,
                                                                                                  method="higher"))
    assert kept.sum() == count - 4  # of 300, the 2 below the 1st percentile (index 2.99 down) and 2 above the 99th
    assert filtered_mean(expected) == pytest.approx(expected[kept].mean())


def test_ppl_in_w_lerps_the_mapped_latents():
    g, count = Linear(mapping=True), 200
    a, b = _pairs(count)
    to_w, to_image = g.b.detach().double().numpy(), g.c.detach().double().numpy()
    expected = _projected_derivative(a @ to_w.T @ to_image.T, (b - a) @ to_w.T @ to_image.T)
    got = path_distances(g, PixelExtractor(), count, 0, PPLSettings("w", "end"))
    assert np.allclose(got, expected, rtol=2e-2)
    in_z = path_distances(g, PixelExtractor(), count, 0, PPLSettings("z", "end"))
    assert not np.allclose(in_z, got, rtol=0.1)  # the same pairs, another path: the space is really switched
    full = path_distances(g, PixelExtractor(), count, 0, PPLSettings("w", "full"))
    assert not np.allclose(full, got, rtol=0.1)  # t drawn in [0, 1], not the end points


def test_ppl_settings_and_spaces_are_checked():
    with pytest.raises(GanforgeError, match="unknown PPL space 'q'.*choose from: w, z"):
        PPLSettings(space="q").check()
    with pytest.raises(GanforgeError, match="unknown PPL sampling 'middle'"):
        PPLSettings(sampling="middle").check()
    with pytest.raises(GanforgeError, match="epsilon"):
        PPLSettings(epsilon=0.5).check()
    with pytest.raises(GanforgeError, match="needs a generator with a mapping network.*maps z to images directly"):
        perceptual_path_length(Linear(), PixelExtractor(), 10, 0, PPLSettings("w"))


@pytest.fixture(scope="module")
def style_run(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("style") / "run"
    train("mnist-stylegan2", out=out, quiet=True, overrides=[*TINY_STYLE, "train.steps=2"])
    return out


def _one_line_error(capsys, *argv: str) -> str:
    """`ganforge ARGV` in this process: exit code 2 (argparse's included) and one line on stderr, returned."""
    try:
        code = main(list(argv))
    except SystemExit as exit_:
        code = exit_.code
    assert code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    return err


def test_ppl_through_ganforge_eval(style_run, tmp_path, capsys):
    result = run_cli("eval", str(style_run), "--metrics", "ppl", "--ppl-space", "w", "--n", "20", "--extractor",
                     "random-conv", "--out", str(tmp_path / "ppl.json"))
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "ppl.json").read_text())["metrics"]
    assert metrics["ppl"] > 0 and metrics["ppl_space"] == "w" and metrics["ppl_samples"] == 20
    assert "ppl" in result.stdout
    for flags, message in ((["--metrics", "ppl", "--ppl-space", "q"], "unknown PPL space 'q'"),
                           (["--metrics", "fid", "--ppl-space", "w"], "add it (--metrics ppl)")):
        assert message in _one_line_error(capsys, "eval", str(style_run), *flags, "--n", "4", "--extractor",
                                          "random-conv", "--out", str(tmp_path / "bad.json"))


def test_style_controls_on_a_dcgan_are_one_line(tmp_path, capsys):
    train("mnist-dcgan", out=tmp_path / "dcgan", quiet=True, overrides=[*TINY_DCGAN, "train.steps=1", "eval.every=0"])
    assert "needs a generator with a mapping network" in _one_line_error(
        capsys, "eval", str(tmp_path / "dcgan"), "--metrics", "ppl", "--ppl-space", "w", "--n", "4", "--extractor",
        "random-conv", "--out", str(tmp_path / "bad.json"))
    assert "style mixing needs a generator with a mapping network" in _one_line_error(
        capsys, "mix", str(tmp_path / "dcgan"), "--rows", "1", "--cols", "2", "--cutoff", "1")
    digit = tmp_path / "digit.png"
    _write_png(digit, np.zeros((28, 28), dtype=np.uint8))
    assert "the projector needs a generator with a mapping network" in _one_line_error(
        capsys, "project", str(tmp_path / "dcgan"), str(digit), "--out", str(tmp_path / "p"), "--steps", "2")


def test_mixing_grid_cells_take_the_row_styles_before_the_cutoff():
    g = _tiny_stylegan2().eval()
    rows, columns, cutoff = [1, 2], [3, 4, 5], 2
    images, nrow = style_mixing_grid(g, rows, columns, cutoff)
    assert nrow == 4 and images.shape == (12, 1, 8, 8) and not images[0].any()  # a blank corner
    sampler = Sampler(g)
    for i, seed in enumerate(columns):  # the top row and left column are `ganforge sample --seed S --n 1`
        assert torch.equal(images[1 + i], sampler.sample(1, seed)[0])
    for r, seed in enumerate(rows):
        assert torch.equal(images[nrow * (r + 1)], sampler.sample(1, seed)[0])
    z = {seed: seeded_inputs(g.inputs, 1, seed)["z"] for seed in rows + columns}
    with torch.no_grad():
        expected = g(z[2], mix_z=z[4], mix_cutoff=cutoff)  # the family's own mixing: row 2's w, then column 4's
    assert torch.equal(images[nrow * 2 + 2], to_uint8(expected)[0])
    with pytest.raises(GanforgeError, match=r"has 4 style layers.*\[1, 3\]"):
        style_mixing_grid(g, rows, columns, g.num_ws)
    with pytest.raises(GanforgeError, match="needs a generator with a mapping network"):
        style_mixing_grid(Linear(), rows, columns, 1)


def test_mix_through_the_cli(style_run, tmp_path, capsys):
    from PIL import Image

    out = tmp_path / "mix.png"
    result = run_cli("mix", str(style_run), "--rows", "1,2", "--cols", "3,4,5", "--cutoff", "3", "--truncation",
                     "0.7", "--out", str(out))
    assert result.returncode == 0, result.stderr
    with Image.open(out) as image:
        assert image.size == (4 * 10 + 2, 3 * 10 + 2)  # 4 x 3 cells of 8 px with 2 px padding
    for flags, message in ((["--cutoff", "99"], "--cutoff 99: this model has 4 style layers"),
                           (["--cutoff", "2", "--truncation", "1.5"], "psi in [0, 1]"),
                           (["--cutoff", "x"], "--cutoff: invalid int value")):
        assert message in _one_line_error(capsys, "mix", str(style_run), "--rows", "1", "--cols", "2", *flags,
                                          "--out", str(tmp_path / "b.png"))
    assert "comma-separated seeds" in _one_line_error(capsys, "mix", str(style_run), "--rows", "1,,2", "--cols", "2",
                                                      "--cutoff", "1")


def test_the_projector_recovers_a_known_w_of_a_tiny_generator():
    g = _tiny_stylegan2().eval()
    with torch.no_grad():
        g.mapping.w_avg.copy_(g.mapping(torch.randn(256, 8)).mean(dim=0))
        target = g.synthesis(latent_ws(g.mapping(seeded_inputs(g.inputs, 1, 7)["z"])[0], g.num_ws))
    result = project(g, target, build_extractor("random-conv"), steps=150, space="w", every=50)
    assert result.history[0]["step"] == 0 and len(result.history) == 151 and len(result.frames) == 4
    assert result.after["loss"] < 0.1 * result.before["loss"]
    assert result.latent.shape == (8,)
    plus = project(g, target, build_extractor("random-conv"), steps=20, space="w+")
    assert plus.latent.shape == (g.num_ws, 8) and plus.after["loss"] < plus.before["loss"]
    with pytest.raises(GanforgeError, match="unknown projection space 'z'"):
        project(g, target, build_extractor("random-conv"), space="z")
    with pytest.raises(GanforgeError, match=r"the target has shape \(1, 3, 8, 8\)"):
        project(g, target.expand(1, 3, 8, 8), build_extractor("random-conv"))


def _write_png(path, array: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(array).save(path)


def test_project_through_the_cli(style_run, tmp_path, capsys):
    from PIL import Image

    digit = tmp_path / "digit.png"
    _write_png(digit, (np.random.default_rng(0).random((8, 8)) * 255).astype(np.uint8))
    out = tmp_path / "projection"
    result = run_cli("project", str(style_run), str(digit), "--out", str(out), "--steps", "12", "--every", "4",
                     "--extractor", "random-conv")
    assert result.returncode == 0, result.stderr
    assert "distance" in result.stdout and "from" in result.stdout
    summary = json.loads((out / "projection.json").read_text())
    assert summary["after"]["loss"] < summary["before"]["loss"] and summary["shape"] == [8]
    assert sorted(p.name for p in (out / "frames").iterdir()) == ["000.png", "001.png", "002.png", "003.png"]
    latent, description = load_latent(out / "latent.safetensors")
    assert description["space"] == "w" and description["after"] == summary["after"]
    g = load_generator(style_run)
    with torch.no_grad():
        again = to_uint8(g.synthesis(latent_ws(latent, g.num_ws)).clamp(-1, 1))[0, 0]
    with Image.open(out / "projected.png") as image:
        assert torch.equal(torch.from_numpy(np.asarray(image).copy()), again)  # the latent reloads to the image
    rgb, big, text = tmp_path / "rgb.png", tmp_path / "big.png", tmp_path / "notes.png"
    _write_png(rgb, np.zeros((8, 8, 3), dtype=np.uint8))
    _write_png(big, np.zeros((12, 12), dtype=np.uint8))
    text.write_text("not an image")
    for image, message in ((tmp_path / "missing.png", "does not exist"), (text, "corrupt or not an image"),
                           (out / "projection.json", "is not a .png/.jpg/.webp image"),
                           (rgb, "is colour (3 channels) but this model makes gray (1 channel) images"),
                           (big, "is 12x12 pixels but this model makes 8x8 images; pass --resize")):
        with pytest.raises(GanforgeError, match=re.escape(message)):
            read_target(image, 1, 8)
    assert read_target(big, 1, 8, resize=True).shape == (1, 1, 8, 8)
    assert "is colour" in _one_line_error(capsys, "project", str(style_run), str(rgb), "--out", str(tmp_path / "bad"),
                                          "--steps", "2")
    assert not (tmp_path / "bad" / "latent.safetensors").exists()
