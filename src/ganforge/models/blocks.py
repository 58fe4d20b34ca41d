"""Convolutions run in a form that computes the same sums faster on a CPU.

DCGAN's first layer (a transposed convolution of z seen as a 1x1 map) and its D head (a convolution whose kernel
covers the whole last feature map) compute exactly what a linear layer computes. oneDNN runs them as convolutions
at 15-50 GFLOP/s on a CPU, where the same product as one matmul takes an eighth of the time (8 ms of a 64x64 DCGAN
step for G's first layer alone). At the image end, a transposed convolution down to 1-3 channels (G's last layer,
and the input gradient of D's first layer) is one matmul plus a fold, 3-10x faster than oneDNN's kernel for it.
Every class keeps the parameters, their names and the initialisation of the torch layer it subclasses, so
checkpoints, spectral norm and init code see ordinary convolutions, and any other shape or setting takes the stock
convolution. Results equal the stock ones up to float rounding (tests/test_models.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..utils import is_channels_last


def _nhwc_flat(t: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, H*W*C): a view when t is channels-last, a copy otherwise."""
    return t.permute(0, 2, 3, 1).reshape(t.shape[0], -1)


def _with_bias(out: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return out if bias is None else out + bias.view(1, -1, 1, 1)


class ProjectionConvTranspose2d(nn.ConvTranspose2d):
    """A stride-1, unpadded transposed convolution of a 1x1 map: out[n, o, y, x] = sum_c z[n, c] w[c, o, y, x].

    The output takes the weight's layout (channels-last weights give a channels-last map with no copy)."""

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        if not self._is_projection(x, output_size):
            return super().forward(x, output_size)
        n, kh, kw = x.shape[0], *self.kernel_size
        z = x.reshape(n, self.in_channels)
        w = self.weight
        if is_channels_last(w):
            out = (z @ _nhwc_flat(w)).view(n, kh, kw, self.out_channels).permute(0, 3, 1, 2)
        else:
            out = (z @ w.reshape(self.in_channels, -1)).view(n, self.out_channels, kh, kw)
        return _with_bias(out, self.bias)

    def _is_projection(self, x: torch.Tensor, output_size: list[int] | None) -> bool:
        return (x.dim() == 4 and x.shape[2:] == (1, 1) and output_size is None and self.groups == 1
                and self.stride == (1, 1) and self.padding == (0, 0) and self.output_padding == (0, 0)
                and self.dilation == (1, 1) and self.padding_mode == "zeros")


class FullMapConv2d(nn.Conv2d):
    """An unpadded convolution whose kernel is as large as its input map: one output pixel, a linear layer's sum."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (x.dim() == 4 and x.shape[2:] == self.kernel_size and self.padding == (0, 0) and self.groups == 1
                and self.dilation == (1, 1)):
            return super().forward(x)
        if is_channels_last(x):
            out = _nhwc_flat(x) @ _nhwc_flat(self.weight).t()
        else:
            out = x.reshape(x.shape[0], -1) @ self.weight.reshape(self.out_channels, -1).t()
        if self.bias is not None:
            out = out + self.bias
        return out.view(x.shape[0], self.out_channels, 1, 1)


def _fold_conv_transpose(h: torch.Tensor, weight: torch.Tensor, stride: tuple[int, int], padding: tuple[int, int],
                         output_size: tuple[int, int]) -> torch.Tensor:
    """conv_transpose2d(h, weight) as one matmul (every input pixel's channel vector times every kernel tap) and a
    fold that sums the overlapping taps: 3-10x faster than oneDNN when the output has only a channel or three."""
    n, c, height, width = h.shape
    taps = weight.reshape(c, -1).t()  # (out channels * kh * kw, c)
    if h.is_contiguous():
        pixels = h.reshape(n, c, height * width)
    else:  # channels-last (or anything else): the (n, c, pixels) view of its NHWC order
        pixels = h.permute(0, 2, 3, 1).reshape(n, height * width, c).transpose(1, 2)
    return F.fold(taps @ pixels, output_size, weight.shape[2:], padding=padding, stride=stride)


class _FoldedInputGradConv(torch.autograd.Function):
    """conv2d whose input gradient (a transposed convolution down to the input's few channels) is folded."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, stride: tuple[int, int],  # type: ignore[override]
                padding: tuple[int, int]) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        ctx.stride, ctx.padding = stride, padding
        return F.conv2d(x, weight, None, stride, padding)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:  # type: ignore[override]
        x, weight = ctx.saved_tensors
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            grad_x = _fold_conv_transpose(grad, weight, ctx.stride, ctx.padding, tuple(x.shape[2:]))
        if ctx.needs_input_grad[1]:
            grad_w = torch.ops.aten.convolution_backward(grad, x, weight, None, ctx.stride, ctx.padding, (1, 1),
                                                         False, (0, 0), 1, (False, True, False))[1]
        return grad_x, grad_w, None, None


class _FoldedConvTranspose(torch.autograd.Function):
    """conv_transpose2d to a few output channels by fold; its backward is torch's own (a plain convolution)."""

    @staticmethod
    def forward(ctx, h: torch.Tensor, weight: torch.Tensor, stride: tuple[int, int],  # type: ignore[override]
                padding: tuple[int, int], output_padding: tuple[int, int]) -> torch.Tensor:
        ctx.save_for_backward(h, weight)
        ctx.stride, ctx.padding, ctx.output_padding = stride, padding, output_padding
        size = tuple((i - 1) * s - 2 * p + k + o for i, s, p, k, o in
                     zip(h.shape[2:], stride, padding, weight.shape[2:], output_padding))
        return _fold_conv_transpose(h, weight, stride, padding, size)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:  # type: ignore[override]
        h, weight = ctx.saved_tensors
        grad_h, grad_w, _ = torch.ops.aten.convolution_backward(
            grad, h, weight, None, ctx.stride, ctx.padding, (1, 1), True, ctx.output_padding, 1,
            (ctx.needs_input_grad[0], ctx.needs_input_grad[1], False))
        return grad_h, grad_w, None, None, None


THIN = 64  # channels x kernel taps on the thin side at or below which the folded forms pay (measured at 1 and 3)


def _foldable(conv: nn.modules.conv._ConvNd, x: torch.Tensor, thin_channels: int) -> bool:
    """Whether the folded form applies: a plain 2-D convolution, few channels on the thin side, no autocast (its
    dtype casts are the stock convolution's business)."""
    return (conv.groups == 1 and conv.dilation == (1, 1) and conv.padding_mode == "zeros"
            and isinstance(conv.padding, tuple) and thin_channels * conv.kernel_size[0] * conv.kernel_size[1] <= THIN
            and x.dim() == 4 and not torch.is_autocast_enabled(x.device.type))


class ThinInputConv2d(nn.Conv2d):
    """A convolution from an image's 1-3 channels (DCGAN's first D layer). Forward and weight gradient are torch's;
    the input gradient, which G needs in its phase, is a fold: oneDNN spends 8 ms of a 64x64 DCGAN step on it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (_foldable(self, x, self.in_channels) and torch.is_grad_enabled() and x.requires_grad):
            return super().forward(x)
        out = _FoldedInputGradConv.apply(x, self.weight, self.stride, self.padding)
        return _with_bias(out, self.bias)


class ThinOutputConvTranspose2d(nn.ConvTranspose2d):
    """A transposed convolution to an image's 1-3 channels (DCGAN's last G layer), forward by fold (3x faster than
    oneDNN here); its gradients are torch's."""

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        if not (_foldable(self, x, self.out_channels) and output_size is None):
            return super().forward(x, output_size)
        out = _FoldedConvTranspose.apply(x, self.weight, self.stride, self.padding, self.output_padding)
        return _with_bias(out, self.bias)
