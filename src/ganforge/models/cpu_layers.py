"""Convolutions run in a form that computes the same sums faster on a CPU (and only there).

Every form here answers a weakness of oneDNN's CPU kernels, measured on this project's CPU machines; on any other
device (cuDNN has its own kernels for these shapes, unmeasured here) each layer is the stock torch layer.

DCGAN's first layer (a transposed convolution of z seen as a 1x1 map) and its D head (a convolution whose kernel
covers the whole last feature map) compute exactly what a linear layer computes. oneDNN runs them as convolutions
at 15-50 GFLOP/s on a CPU, where the same product as one matmul takes an eighth of the time (8 ms of a 64x64 DCGAN
step for G's first layer alone). At the image end, a transposed convolution down to 1-3 channels (G's last layer,
and the input gradient of D's first layer) is one matmul plus a fold, 3-10x faster than oneDNN's kernel for it.
Every class keeps the parameters, their names and the initialisation of the torch layer it subclasses, so
checkpoints, spectral norm and init code see ordinary convolutions, and any other shape or setting takes the stock
convolution. Results equal the stock ones up to float rounding (tests/test_models.py).

On small maps (D's last strided convolution down to 4x4, G's first strided transposed convolution up from 4x4)
oneDNN runs at about two thirds of the matmul rate with 256-512 channels, while im2col there is cheap: forward and
both gradients are matmuls over patch rows (a convolution), or of every pixel with every kernel tap followed by
strided adds of the taps (a transposed convolution, which is also the convolution's input gradient): 1.3x per
layer with 256-512 channels, break-even with 128-256 (`python -m benchmarks.train_step --layers`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..utils import is_channels_last


def _nhwc_flat(t: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, H*W*C): a view when t is channels-last, a copy otherwise."""
    return t.permute(0, 2, 3, 1).reshape(t.shape[0], -1)


def _flat_weight(weight: torch.Tensor) -> torch.Tensor:
    """(O, I, kh, kw) -> (O, I*kh*kw) as a view: taps-then-channels order for a channels-last weight."""
    if is_channels_last(weight):
        return _nhwc_flat(weight)
    return weight.reshape(weight.shape[0], -1)


def _with_bias(out: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return out if bias is None else out + bias.view(1, -1, 1, 1)


class ProjectionConvTranspose2d(nn.ConvTranspose2d):
    """A stride-1, unpadded transposed convolution of a 1x1 map: out[n, o, y, x] = sum_c z[n, c] w[c, o, y, x].

    The output takes the weight's layout (channels-last weights give a channels-last map with no copy)."""

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        if not (x.device.type == "cpu" and self._is_projection(x, output_size)):
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
        if not (x.device.type == "cpu" and x.dim() == 4 and x.shape[2:] == self.kernel_size
                and self.padding == (0, 0) and self.groups == 1 and self.dilation == (1, 1)):
            return super().forward(x)
        flat = _nhwc_flat(x) if is_channels_last(x) else x.reshape(x.shape[0], -1)
        out = flat @ _flat_weight(self.weight).t()
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
SMALL_MAP = 16  # pixels of the small side at or below which the matmul forms pay (4x4 pays, 8x8 loses)
def _plain(conv: nn.modules.conv._ConvNd, x: torch.Tensor) -> bool:
    """A plain 2-D convolution of a 4-D CPU input outside autocast (whose dtype casts are the stock convolution's
    business) and outside a TorchScript trace (which cannot save a custom Function): the forms of this module cover
    exactly that."""
    return (x.device.type == "cpu" and not torch.jit.is_tracing() and conv.groups == 1 and conv.dilation == (1, 1) and conv.padding_mode == "zeros"
            and isinstance(conv.padding, tuple) and x.dim() == 4 and not torch.is_autocast_enabled(x.device.type))


def _foldable(conv: nn.modules.conv._ConvNd, x: torch.Tensor, thin_channels: int) -> bool:
    """Whether the folded form applies: a plain convolution with few channels on the thin side."""
    return _plain(conv, x) and thin_channels * conv.kernel_size[0] * conv.kernel_size[1] <= THIN


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


def _patch_rows(x: torch.Tensor, weight: torch.Tensor, stride: tuple[int, int],
                padding: tuple[int, int]) -> tuple[torch.Tensor, int, int]:
    """im2col in one copy: each output pixel's input patch as a row (N*Ho*Wo, C*kh*kw), ordered like the weight's
    flat view, so that the convolution is rows @ _flat_weight(weight).t(). Differentiable (views, pad, one copy)."""
    (kh, kw), (ph, pw) = weight.shape[2:], padding
    padded = F.pad(x.permute(0, 2, 3, 1), (0, 0, pw, pw, ph, ph))
    patches = padded.unfold(1, kh, stride[0]).unfold(2, kw, stride[1])  # (N, Ho, Wo, C, kh, kw)
    if is_channels_last(weight):
        patches = patches.permute(0, 1, 2, 4, 5, 3)
    return patches.reshape(-1, patches[0, 0, 0].numel()), patches.shape[1], patches.shape[2]


def _conv_by_matmul(x: torch.Tensor, weight: torch.Tensor, stride: tuple[int, int],
                    padding: tuple[int, int]) -> torch.Tensor:
    """conv2d(x, weight) as patch rows times the flat weight; the result is channels-last.

    Outside autograd (a custom Function's forward and first-order backward) the product is written into a fresh
    tensor, not returned as a view: a custom Function's output must not be a view for the in-place activation
    after it. A double backward differentiates this, so there it is an ordinary product and view."""
    rows, height, width = _patch_rows(x, weight, stride, padding)
    taps = _flat_weight(weight).t()
    if torch.is_grad_enabled():
        return (rows @ taps).view(x.shape[0], height, width, -1).permute(0, 3, 1, 2)
    out = torch.empty((x.shape[0], weight.shape[0], height, width), dtype=rows.dtype, device=rows.device,
                      memory_format=torch.channels_last)
    torch.mm(rows, taps, out=out.permute(0, 2, 3, 1).view(rows.shape[0], -1))
    return out


def _conv_transpose_by_matmul(h: torch.Tensor, weight: torch.Tensor, stride: tuple[int, int],
                              padding: tuple[int, int]) -> torch.Tensor:
    """conv_transpose2d(h, weight) (weight (in, out, kh, kw); output padding 0) as every input pixel's channel
    vector times every kernel tap, one matmul, then kh*kw strided adds of the taps; the result is channels-last.
    For many output channels; with 1-3 the adds stride over single floats and the fold form is 20x faster."""
    n, in_ch, height, width = h.shape
    out_ch, (kh, kw), (sh, sw), (ph, pw) = weight.shape[1], weight.shape[2:], stride, padding
    taps = h.permute(0, 2, 3, 1).reshape(-1, in_ch) @ _flat_weight(weight)
    if is_channels_last(weight):
        taps = taps.view(n, height, width, kh, kw, out_ch)
    else:
        taps = taps.view(n, height, width, out_ch, kh, kw).permute(0, 1, 2, 4, 5, 3)
    full_h, full_w = (height - 1) * sh + kh, (width - 1) * sw + kw
    out = torch.empty((n, out_ch, full_h, full_w), dtype=taps.dtype, device=taps.device,
                      memory_format=torch.channels_last).zero_()
    for i in range(kh):
        for j in range(kw):
            out[:, :, i:i + (height - 1) * sh + 1:sh, j:j + (width - 1) * sw + 1:sw] += \
                taps[:, :, :, i, j].permute(0, 3, 1, 2)
    if ph or pw:  # a fresh tensor either way, never a view (see _conv_by_matmul)
        out = out[:, :, ph:full_h - ph, pw:full_w - pw].contiguous(memory_format=torch.channels_last)
    return out


def _conv_weight_grad_by_matmul(x: torch.Tensor, grad: torch.Tensor, weight: torch.Tensor,
                                stride: tuple[int, int], padding: tuple[int, int]) -> torch.Tensor:
    """The gradient of conv2d(x, weight)'s weight given the output's gradient, laid out like the weight."""
    rows, _, _ = _patch_rows(x, weight, stride, padding)
    flat = grad.permute(0, 2, 3, 1).reshape(-1, weight.shape[0]).t() @ rows
    out_ch, in_ch, kh, kw = weight.shape
    if is_channels_last(weight):
        return flat.view(out_ch, kh, kw, in_ch).permute(0, 3, 1, 2)
    return flat.view(weight.shape)


class _MatmulConvolution(torch.autograd.Function):
    """conv2d (transposed=False) or conv_transpose2d (True) with the forward and both gradients as matmuls. Each is
    the other's input gradient, and they share one weight gradient with input and output gradient swapped."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, stride: tuple[int, int],  # type: ignore[override]
                padding: tuple[int, int], transposed: bool) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        ctx.stride, ctx.padding, ctx.transposed = stride, padding, transposed
        convolve = _conv_transpose_by_matmul if transposed else _conv_by_matmul
        return convolve(x, weight, stride, padding)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:  # type: ignore[override]
        x, weight = ctx.saved_tensors
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            adjoint = _conv_by_matmul if ctx.transposed else _conv_transpose_by_matmul
            grad_x = adjoint(grad, weight, ctx.stride, ctx.padding)
        if ctx.needs_input_grad[1]:
            image, image_grad = (grad, x) if ctx.transposed else (x, grad)
            grad_w = _conv_weight_grad_by_matmul(image, image_grad, weight, ctx.stride, ctx.padding)
        return grad_x, grad_w, None, None, None


def _in_layout_of(out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The matmul forms return channels-last maps; a network kept in the default layout gets its layout back."""
    return out if is_channels_last(x) else out.contiguous()


class SmallMapConv2d(nn.Conv2d):
    """A convolution down to a small map (DCGAN D's last strided layer, 8x8 -> 4x4) as matmuls over patch rows,
    forward and both gradients: oneDNN runs at about two thirds of the matmul rate there."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (_plain(self, x) and self._fits_small_map(x)):
            return super().forward(x)
        out = _MatmulConvolution.apply(x, self.weight, self.stride, self.padding, False)
        return _with_bias(_in_layout_of(out, x), self.bias)

    def _fits_small_map(self, x: torch.Tensor) -> bool:
        """A small output whose windows tile the padded input exactly (so the input gradient has x's size)."""
        spans = [size + 2 * p - k for size, p, k in zip(x.shape[2:], self.padding, self.kernel_size)]
        if any(span < 0 or span % s for span, s in zip(spans, self.stride)):
            return False
        return (spans[0] // self.stride[0] + 1) * (spans[1] // self.stride[1] + 1) <= SMALL_MAP


class SmallMapConvTranspose2d(nn.ConvTranspose2d):
    """A transposed convolution up from a small map (DCGAN G's first strided layer, 4x4 -> 8x8) as matmuls,
    forward and both gradients."""

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        if not (_plain(self, x) and output_size is None and self.output_padding == (0, 0)
                and x.shape[2] * x.shape[3] <= SMALL_MAP):
            return super().forward(x, output_size)
        out = _MatmulConvolution.apply(x, self.weight, self.stride, self.padding, True)
        return _with_bias(_in_layout_of(out, x), self.bias)
