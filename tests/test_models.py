import pytest
import torch

from ganforge.config import ModelConfig
from ganforge.errors import GanforgeError
from ganforge.models import build_discriminator, build_generator, count_parameters


@pytest.mark.parametrize("resolution,channels", [(28, 1), (32, 3), (64, 1), (8, 1)])
def test_dcgan_shapes_and_range(resolution, channels):
    cfg = ModelConfig(resolution=resolution, channels=channels, g_width=8, d_width=8, latent_dim=10)
    g, d = build_generator(cfg), build_discriminator(cfg)
    images = g(torch.randn(5, 10))
    assert images.shape == (5, channels, resolution, resolution)
    assert images.min() >= -1 and images.max() <= 1
    assert d(images).shape == (5,)


def test_course_mlp_is_exactly_the_course_architecture():
    cfg = ModelConfig(generator="mlp", discriminator="mlp", resolution=28, latent_dim=100, init="default")
    g, d = build_generator(cfg), build_discriminator(cfg)
    g_linear = [(m.in_features, m.out_features) for m in g.modules() if isinstance(m, torch.nn.Linear)]
    d_linear = [(m.in_features, m.out_features) for m in d.modules() if isinstance(m, torch.nn.Linear)]
    assert g_linear == [(100, 256), (256, 512), (512, 784)]
    assert d_linear == [(784, 512), (512, 256), (256, 1)]
    assert isinstance(list(g.modules())[-1], torch.nn.Tanh)
    assert not any(isinstance(m, torch.nn.Sigmoid) for m in d.modules()), "D must return logits"
    assert count_parameters(g) == 100 * 256 + 256 + 256 * 512 + 512 + 512 * 784 + 784


def test_first_day_variant_uses_relu_generator():
    cfg = ModelConfig(generator="mlp-relu", discriminator="mlp-relu", resolution=28, init="default")
    assert any(isinstance(m, torch.nn.ReLU) for m in build_generator(cfg).modules())
    assert any(isinstance(m, torch.nn.LeakyReLU) for m in build_discriminator(cfg).modules())


@pytest.mark.parametrize("init", ["dcgan", "xavier", "kaiming", "default"])
def test_weight_inits(init):
    torch.manual_seed(0)
    g = build_generator(ModelConfig(g_width=16, init=init))
    conv = next(m for m in g.modules() if isinstance(m, torch.nn.ConvTranspose2d))
    if init == "dcgan":
        assert conv.weight.std().item() == pytest.approx(0.02, rel=0.1)
        bn = next(m for m in g.modules() if isinstance(m, torch.nn.BatchNorm2d))
        assert bn.weight.mean().item() == pytest.approx(1.0, abs=0.01)
    else:
        assert conv.weight.std().item() != pytest.approx(0.02, rel=0.1)


def test_impossible_dcgan_resolution_is_a_user_error():
    with pytest.raises(GanforgeError, match="cannot build resolution 30"):
        build_generator(ModelConfig(resolution=30))
