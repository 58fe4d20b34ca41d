"""The MLP GAN step with no framework at all: the machine's limit for that computation, measured.

`HandWrittenMLPStep` runs what one `mnist-mlp` training step computes (phase D on real + fake, phase G through the
updated D, Adam on each) as bare kernels: forward matmuls, the backward written out by hand, no autograd graph, no
modules, no loss objects, no phase loop, and the same fused Adam kernel. It draws nothing itself: the caller passes
the real uint8 batch and the noise, so a test can feed it and ganforge's trainer identical inputs and compare.
What ganforge's step costs above this is framework overhead; what this costs is the kernels at these sizes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ganforge.data import normalize

SLOPE = 0.2  # LeakyReLU of both networks


def _leaky_backward(grad: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    # LeakyReLU with a positive slope keeps the sign, so its output decides the branch as its input would
    return torch.ops.aten.leaky_relu_backward(grad, out, SLOPE, False)


class HandWrittenMLPStep:
    """Copies of a trainer's MLP G and D parameters and Adam state, stepped by hand."""

    def __init__(self, trainer) -> None:
        generator, discriminator = trainer.raw("G"), trainer.raw("D")
        g_layers = [m for m in generator.net if isinstance(m, torch.nn.Linear)]
        d_layers = [m for m in discriminator.body if isinstance(m, torch.nn.Linear)]
        d_layers.append(discriminator.head)
        g_params = [t for m in g_layers for t in (m.weight, m.bias)]
        d_params = [t for m in d_layers for t in (m.weight, m.bias)]
        self.g = [t.detach().clone() for t in g_params]
        self.d = [t.detach().clone() for t in d_params]
        self.g_state = self._adam_state(trainer.optimizers["G"], g_params)
        self.d_state = self._adam_state(trainer.optimizers["D"], d_params)
        group = trainer.optimizers["G"].param_groups[0]
        self.beta1, self.beta2 = group["betas"]
        self.eps = group["eps"]
        self.lr_g = group["lr"]
        self.lr_d = trainer.optimizers["D"].param_groups[0]["lr"]

    @staticmethod
    def _adam_state(optimizer: torch.optim.Optimizer, params: list[torch.Tensor]) -> tuple[list, list, list]:
        """The optimiser's moments and step counts (cloned), or fresh ones before its first step."""
        state = [optimizer.state.get(p, {}) for p in params]
        avg = [s["exp_avg"].clone() if s else torch.zeros_like(p) for s, p in zip(state, params)]
        sq = [s["exp_avg_sq"].clone() if s else torch.zeros_like(p) for s, p in zip(state, params)]
        steps = [s["step"].clone() if s else torch.tensor(0.0) for s in state]
        return avg, sq, steps

    def _adam(self, params: list[torch.Tensor], grads: list[torch.Tensor], state: tuple, lr: float) -> None:
        avg, sq, steps = state
        torch._foreach_add_(steps, 1)
        torch._fused_adam_(params, grads, avg, sq, [], steps, amsgrad=False, lr=lr, beta1=self.beta1,
                           beta2=self.beta2, weight_decay=0.0, eps=self.eps, maximize=False, grad_scale=None,
                           found_inf=None)

    def _d_forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        v1, c1, v2, c2, v3, c3 = self.d
        a1 = F.leaky_relu(torch.addmm(c1, x, v1.t()), SLOPE)
        a2 = F.leaky_relu(torch.addmm(c2, a1, v2.t()), SLOPE)
        return a1, a2, torch.addmm(c3, a2, v3.t()).view(-1)

    def step(self, real_uint8: torch.Tensor, z: torch.Tensor) -> tuple[float, float]:
        """One training step on this batch and noise; returns (loss_d, loss_g)."""
        n = z.shape[0]
        real = normalize(real_uint8).view(n, -1)  # ganforge's own data path
        w1, b1, w2, b2, w3, b3 = self.g
        h1 = F.leaky_relu(torch.addmm(b1, z, w1.t()), SLOPE)
        h2 = F.leaky_relu(torch.addmm(b2, h1, w2.t()), SLOPE)
        fake = torch.tanh(torch.addmm(b3, h2, w3.t()))

        # phase D: real labelled 1, fake 0, one forward over both; BCE-with-logits' gradient is sigmoid - target
        x = torch.cat([real, fake])
        a1, a2, logits = self._d_forward(x)
        target = torch.cat([torch.ones(n), torch.zeros(n)])
        loss_d = (F.binary_cross_entropy_with_logits(logits[:n], target[:n])
                  + F.binary_cross_entropy_with_logits(logits[n:], target[n:]))
        grad = (torch.sigmoid(logits) - target).div_(n).view(-1, 1)
        v1, _, v2, _, v3, _ = self.d
        g_a2 = _leaky_backward(grad.mm(v3), a2)
        g_a1 = _leaky_backward(g_a2.mm(v2), a1)
        d_grads = [g_a1.t().mm(x), g_a1.sum(0), g_a2.t().mm(a1), g_a2.sum(0), grad.t().mm(a2), grad.sum(0)]
        self._adam(self.d, d_grads, self.d_state, self.lr_d)

        # phase G: the same fakes labelled 1 through the updated D; D's weights get no gradient
        a1, a2, logits = self._d_forward(fake)
        loss_g = F.binary_cross_entropy_with_logits(logits, torch.ones(n))
        grad = (torch.sigmoid(logits) - 1.0).div_(n).view(-1, 1)
        g_x = _leaky_backward(_leaky_backward(grad.mm(v3), a2).mm(v2), a1).mm(v1)
        g_x = torch.ops.aten.tanh_backward(g_x, fake)
        g_h2 = _leaky_backward(g_x.mm(w3), h2)
        g_h1 = _leaky_backward(g_h2.mm(w2), h1)
        g_grads = [g_h1.t().mm(z), g_h1.sum(0), g_h2.t().mm(h1), g_h2.sum(0), g_x.t().mm(h2), g_x.sum(0)]
        self._adam(self.g, g_grads, self.g_state, self.lr_g)
        return loss_d.item(), loss_g.item()
