import pytest
import torch
import torch.nn.functional as F

from ganforge.config import ModelConfig
from ganforge.errors import GanforgeError
from ganforge.models import build_discriminator, build_generator, count_parameters
from ganforge.models.cpu_layers import (FullMapConv2d, ProjectionConvTranspose2d, SmallMapConv2d, SmallMapConvTranspose2d,
                                  ThinInputConv2d, ThinOutputConvTranspose2d)


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


def test_infogan_networks_are_the_papers_mnist_networks():
    cfg = ModelConfig(generator="infogan", discriminator="infogan", resolution=28, latent_dim=74, g_width=64,
                      d_width=64, init="default")
    g, d = build_generator(cfg), build_discriminator(cfg)
    assert [(m.in_features, m.out_features) for m in g.modules() if isinstance(m, torch.nn.Linear)] == [
        (74, 1024), (1024, 7 * 7 * 128)]
    assert [(m.in_channels, m.out_channels, m.stride) for m in d.modules() if isinstance(m, torch.nn.Conv2d)] == [
        (1, 64, (2, 2)), (64, 128, (2, 2))]
    images = g(torch.randn(3, 74))
    assert images.shape == (3, 1, 28, 28) and d(images).shape == (3,) and d.feature_shape == (1024,)
    with pytest.raises(GanforgeError, match="multiple of 4"):
        build_generator(ModelConfig(generator="infogan", resolution=30))


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


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_matmul_convolutions_compute_what_the_stock_convolutions_compute(layout):
    """DCGAN's first G layer and D head run as one matmul: same outputs and gradients as torch's convolutions, in
    both layouts, and the stock convolution for any other input size."""
    torch.manual_seed(0)
    project = ProjectionConvTranspose2d(16, 8, 4, 1, 0, bias=True).to(memory_format=layout)
    head = FullMapConv2d(8, 3, 4, 1, 0, bias=True).to(memory_format=layout)
    z = torch.randn(5, 16, 1, 1, requires_grad=True)
    features = project(z)
    reference = F.conv_transpose2d(z, project.weight, project.bias)
    assert features.is_contiguous(memory_format=layout) and torch.allclose(features, reference, atol=1e-6)
    logits = head(features)
    expected = F.conv2d(reference, head.weight, head.bias)
    assert logits.shape == (5, 3, 1, 1) and torch.allclose(logits, expected, atol=1e-6)
    params = [z, project.weight, project.bias, head.weight, head.bias]
    for fast, stock in zip(torch.autograd.grad(logits.square().sum(), params),
                           torch.autograd.grad(expected.square().sum(), params)):
        assert torch.allclose(fast, stock, rtol=1e-5, atol=1e-5)
    larger = torch.randn(5, 8, 6, 6)  # a kernel smaller than the map: an ordinary convolution
    assert torch.equal(head(larger), F.conv2d(larger, head.weight, head.bias))


def assert_same_derivatives(fast: torch.Tensor, stock: torch.Tensor, fast_map: torch.Tensor,
                            stock_map: torch.Tensor, params: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """Two layers in a row, fast forms against torch's: gradients w.r.t. the map between them and every parameter
    agree, and so do the derivatives of a penalty on the input gradients (what a gradient penalty differentiates).
    params[0] is the first layer's input; returns the fast gradients (map first, then params)."""
    fast_grads = torch.autograd.grad(fast.square().sum(), [fast_map, *params], create_graph=True)
    stock_grads = torch.autograd.grad(stock.square().sum(), [stock_map, *params], create_graph=True)
    for a, b in zip(fast_grads, stock_grads):
        assert torch.allclose(a, b)
    penalized = [params[0], params[1], params[-2]]  # the input and both layers' weights
    for a, b in zip(torch.autograd.grad(fast_grads[0].square().sum() + fast_grads[1].square().sum(), penalized),
                    torch.autograd.grad(stock_grads[0].square().sum() + stock_grads[1].square().sum(), penalized)):
        assert torch.allclose(a, b)
    return fast_grads


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("channels", [1, 3])
def test_folded_image_end_convolutions_compute_what_the_stock_convolutions_compute(layout, channels):
    """DCGAN's last G layer (forward by fold) and first D layer (input gradient by fold): same values, gradients and
    second derivatives (gradient penalties differentiate D's input gradient) as torch's convolutions."""
    torch.manual_seed(0)
    to_image = ThinOutputConvTranspose2d(6, channels, 4, 2, 1, bias=True).double().to(memory_format=layout)
    from_image = ThinInputConv2d(channels, 6, 4, 2, 1, bias=True).double().to(memory_format=layout)
    h = torch.randn(3, 6, 5, 5, dtype=torch.double).contiguous(memory_format=layout).requires_grad_()
    images = to_image(h)
    reference = F.conv_transpose2d(h, to_image.weight, to_image.bias, 2, 1)
    assert images.shape == (3, channels, 10, 10) and torch.allclose(images, reference)
    scores = from_image(images)
    expected = F.conv2d(reference, from_image.weight, from_image.bias, 2, 1)
    assert torch.allclose(scores, expected)
    assert_same_derivatives(scores, expected, images, reference,
                            [h, to_image.weight, to_image.bias, from_image.weight, from_image.bias])
    with torch.autocast("cpu", dtype=torch.bfloat16):  # autocast takes the stock convolutions
        assert to_image.float()(h.float()).dtype == torch.bfloat16


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_small_map_matmul_convolutions_compute_what_the_stock_convolutions_compute(layout):
    """G's transposed convolution up from 4x4 and D's convolution down to 4x4 as matmuls: same values, gradients and
    second derivatives as torch's, the caller's layout kept, and the stock convolutions on larger maps."""
    torch.manual_seed(0)
    up = SmallMapConvTranspose2d(6, 5, 4, 2, 1, bias=True).double().to(memory_format=layout)
    down = SmallMapConv2d(5, 7, 4, 2, 1, bias=True).double().to(memory_format=layout)
    h = torch.randn(3, 6, 4, 4, dtype=torch.double).contiguous(memory_format=layout).requires_grad_()
    features = up(h)
    reference = F.conv_transpose2d(h, up.weight, up.bias, 2, 1)
    assert features.is_contiguous(memory_format=layout) and torch.allclose(features, reference)
    scores = F.leaky_relu(down(features), 0.2, inplace=True)  # in place on the output, as D without BatchNorm does
    expected = F.leaky_relu(F.conv2d(reference, down.weight, down.bias, 2, 1), 0.2)
    assert scores.shape == (3, 7, 4, 4) and scores.is_contiguous(memory_format=layout)
    assert torch.allclose(scores, expected)
    fast = assert_same_derivatives(scores, expected, features, reference, [h, up.weight, up.bias, down.weight,
                                                                           down.bias])
    assert fast[2].is_contiguous(memory_format=layout) and fast[4].is_contiguous(memory_format=layout)
    with torch.no_grad():  # sampling takes the same forms
        assert torch.allclose(up(h), reference)
    bare_up = SmallMapConvTranspose2d(6, 5, 4, 2, 1, bias=False).double().to(memory_format=layout)  # no bias add
    bare = SmallMapConv2d(5, 7, 4, 2, 1, bias=False).double().to(memory_format=layout)
    assert torch.allclose(torch.relu_(bare(torch.relu_(bare_up(h)))),
                          F.conv2d(F.conv_transpose2d(h, bare_up.weight, None, 2, 1).relu(), bare.weight, None, 2,
                                   1).relu())
    larger = torch.randn(2, 5, 16, 16, dtype=torch.double).contiguous(memory_format=layout)  # an 8x8 output
    assert torch.equal(down(larger), F.conv2d(larger, down.weight, down.bias, 2, 1))
    odd = torch.randn(2, 5, 7, 7, dtype=torch.double)  # windows that do not tile the input: the stock convolution
    assert torch.equal(down(odd), F.conv2d(odd, down.weight, down.bias, 2, 1))
