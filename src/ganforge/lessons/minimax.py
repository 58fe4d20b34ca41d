"""The minimax game: the optimal D, V = -log 4 + 2 JSD, and why G's saturating loss starves it of gradient.

Three numerical checks on 1D Gaussians (p_data = N(0, 1), p_g = N(mu, sigma)), by integration on a fine grid:
the D that maximises V(D, G) point by point is p_data / (p_data + p_g); V(D*, G) = -log 4 + 2 JSD(p_data || p_g),
so -log 4 exactly when p_g = p_data; and, through the registered losses' autograd, d/dlogit of the saturating
log(1 - D(G(z))) is -D(G(z)) (it vanishes as D rejects the fakes) while that of -log D(G(z)) is D(G(z)) - 1.
Then both forms train in the lab's 2D loop from a D made confident first, and G's gradient norms are compared.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch

from ..losses import LOSSES
from .common import pyplot, save_figure, table

LOG4 = math.log(4.0)


def gaussian(x: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    return torch.exp(-0.5 * ((x - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))


def grid(mean: float, std: float, points: int = 50_001) -> torch.Tensor:
    """Integration points covering both densities (float64: the checks are to 1e-8)."""
    low, high = min(-10.0, mean - 10 * std), max(10.0, mean + 10 * std)
    return torch.linspace(low, high, points, dtype=torch.float64)


def integrate(values: torch.Tensor, x: torch.Tensor) -> float:
    return float(torch.trapezoid(values, x))


def optimal_discriminator(p_data: torch.Tensor, p_g: torch.Tensor) -> torch.Tensor:
    """D*(x) = p_data(x) / (p_data(x) + p_g(x)) (Goodfellow et al. 2014, Proposition 1)."""
    return p_data / (p_data + p_g)


def value(d: torch.Tensor, p_data: torch.Tensor, p_g: torch.Tensor, x: torch.Tensor) -> float:
    """V(D, G) = E_data log D(x) + E_g log(1 - D(x)), integrated on the grid (0 log 0 = 0)."""
    eps = 1e-300
    integrand = p_data * torch.log(d.clamp_min(eps)) + p_g * torch.log((1 - d).clamp_min(eps))
    return integrate(integrand, x)


def jensen_shannon(p: torch.Tensor, q: torch.Tensor, x: torch.Tensor) -> float:
    """JSD(p || q) = KL(p || m) / 2 + KL(q || m) / 2, m = (p + q) / 2, computed from its definition."""
    m = (p + q) / 2
    eps = 1e-300

    def kl(a: torch.Tensor) -> float:
        return integrate(torch.where(a > 0, a * (torch.log(a.clamp_min(eps)) - torch.log(m.clamp_min(eps))), 0.0), x)

    return 0.5 * kl(p) + 0.5 * kl(q)


@dataclass
class GameCheck:
    mean: float
    std: float
    value_at_optimum: float  # V(D*, G)
    jsd: float
    pointwise_error: float  # max |argmax_D of the integrand - D*| over the grid of D values
    beaten_by_perturbation: bool  # some perturbed D reached a higher V than D*


def check_game(mean: float, std: float) -> GameCheck:
    """The claims of the optimal D for p_data = N(0, 1) and p_g = N(mean, std)."""
    x = grid(mean, std)
    p_data, p_g = gaussian(x, 0.0, 1.0), gaussian(x, mean, std)
    d_star = optimal_discriminator(p_data, p_g)
    # point by point, D(x) maximises a log D + b log(1 - D): search D on a fine grid at a subset of points
    sample = x[::500]
    a, b = gaussian(sample, 0.0, 1.0), gaussian(sample, mean, std)
    candidates = torch.linspace(1e-6, 1 - 1e-6, 100_001, dtype=torch.float64)
    scores = a[:, None] * torch.log(candidates) + b[:, None] * torch.log1p(-candidates)
    best = candidates[scores.argmax(dim=1)]
    pointwise = float((best - optimal_discriminator(a, b)).abs().max())
    v_star = value(d_star, p_data, p_g, x)
    generator = torch.Generator().manual_seed(0)
    beaten = False
    for _ in range(20):  # smooth random perturbations never beat D*
        frequency, phase = 3 * float(torch.rand(1, generator=generator)), float(torch.randn(1, generator=generator))
        bump = 0.05 * torch.sin(frequency * x + phase)
        beaten |= value((d_star + bump).clamp(1e-12, 1 - 1e-12), p_data, p_g, x) > v_star + 1e-12
    return GameCheck(mean, std, v_star, jensen_shannon(p_data, p_g, x), pointwise, beaten)


def generator_gradients(d_values: torch.Tensor) -> dict[str, torch.Tensor]:
    """d(loss)/d(logit) of each registered generator loss at D(G(z)) = d_values, one sample at a time."""
    out = {}
    for name in ("minimax", "non-saturating"):
        logits = torch.logit(d_values.double()).requires_grad_(True)
        loss = LOSSES.get(name).generator(logits) * logits.numel()  # the losses average over the batch
        (grad,) = torch.autograd.grad(loss, logits)
        out[name] = grad.detach()
    return out


@dataclass
class ConfidentStart:
    loss: str
    d_fake_start: float  # mean D(G(z)) once D has been trained alone
    grad_norms: list[float]  # G's gradient norm at each step of the joint training that follows
    d_fake: list[float]  # mean D(G(z)) seen by phase G at each step


def train_from_confident_d(loss: str, d_steps: int, steps: int, seed: int = 0) -> ConfidentStart:
    """The lab's phase loop on ring8: phase D alone for `d_steps` (D learns to reject G's first samples), then
    the normal two phases for `steps`, recording G's gradient norm, with G's loss `loss`."""
    from ..lab.runner import ToyTrainer, lab_config
    from ..lab.toy import TOY_DATASETS

    config = lab_config("gan", [f"loss.name={loss}", "train.batch_size=128"], steps=steps)
    trainer = ToyTrainer(config, TOY_DATASETS.get("ring8"), seed)
    phase_d = next(p for p in trainer.phases if p.name == "D")
    generator = trainer.raw("G")
    for _ in range(d_steps):
        out = trainer.run_phase(phase_d)
    start = float(out["d_fake"])
    norms, seen = [], []
    for _ in range(steps):
        stats = trainer.train_step()
        grads = [p.grad.pow(2).sum() for p in generator.parameters() if p.grad is not None]
        norms.append(float(torch.stack(grads).sum().sqrt()) if grads else 0.0)
        seen.append(float(stats["d_fake_g"]))
    return ConfidentStart(loss, start, norms, seen)


def run(out: Path, fast: bool) -> str:
    checks = [check_game(2.0, 1.0), check_game(1.0, 0.5), check_game(0.0, 1.0)]
    plt = pyplot()

    # figure 1: the densities, D* and its value
    x = grid(2.0, 1.0, 4001)
    p_data, p_g = gaussian(x, 0.0, 1.0), gaussian(x, 2.0, 1.0)
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.plot(x, p_data, label="p_data = N(0, 1)")
    ax.plot(x, p_g, label="p_g = N(2, 1)")
    ax.plot(x, optimal_discriminator(p_data, p_g), label="D* = p_data / (p_data + p_g)", color="black")
    ax.axhline(0.5, color="grey", lw=0.6, ls=":")
    ax.set_xlim(-4, 6)
    ax.set_xlabel("x")
    ax.legend(fontsize=8)
    ax.set_title(f"V(D*, G) = {checks[0].value_at_optimum:.4f} = -log 4 + 2 JSD ({-LOG4 + 2 * checks[0].jsd:.4f})",
                 fontsize=9)
    fig.tight_layout()
    save_figure(fig, out / "optimal-d.png")

    # figure 2: the two generator losses and their gradients against D(G(z))
    d = torch.logspace(-4, math.log10(0.9999), 400, dtype=torch.float64)
    grads = generator_gradients(d)
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    axes[0].plot(d, torch.log1p(-d), label="saturating: log(1 - D(G(z)))")
    axes[0].plot(d, -torch.log(d), label="non-saturating: -log D(G(z))")
    axes[0].set_xlabel("D(G(z))")
    axes[0].set_title("G's loss (minimised)", fontsize=9)
    axes[0].legend(fontsize=7)
    axes[1].loglog(d, grads["minimax"].abs(), label="saturating: |dL/dlogit| = D(G(z))")
    axes[1].loglog(d, grads["non-saturating"].abs(), label="non-saturating: |dL/dlogit| = 1 - D(G(z))")
    axes[1].set_xlabel("D(G(z))")
    axes[1].set_title("gradient reaching G, per unit of D's logit", fontsize=9)
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, out / "generator-losses.png")

    # figure 3: training both forms from a confident D
    d_steps, steps = (30, 20) if fast else (300, 400)
    runs = [train_from_confident_d(loss, d_steps, steps) for loss in ("minimax", "non-saturating")]
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    for result in runs:
        label = "saturating (minimax)" if result.loss == "minimax" else "non-saturating"
        axes[0].semilogy(result.grad_norms, label=label)
        axes[1].semilogy(result.d_fake, label=label)
    axes[0].set_title("||grad of G's loss w.r.t. G's weights||", fontsize=9)
    axes[1].set_title("D(G(z)) seen by phase G", fontsize=9)
    for ax in axes:
        ax.set_xlabel("step after D was trained alone")
        ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, out / "vanishing-gradient.png")

    at = torch.tensor([1e-3, 0.5], dtype=torch.float64)
    g = generator_gradients(at)
    first = 10
    mean_norm = {r.loss: sum(r.grad_norms[:first]) / first for r in runs}
    game_rows = [[f"N({c.mean:g}, {c.std:g})", f"{c.value_at_optimum:.6f}", f"{-LOG4 + 2 * c.jsd:.6f}",
                  f"{c.jsd:.6f}", f"{c.pointwise_error:.1e}", "no" if not c.beaten_by_perturbation else "YES"]
                 for c in checks]
    lines = [
        "# Lesson: the minimax game", "",
        "p_data = N(0, 1). For each p_g, V(D*, G) integrated on a grid of 50,001 points, the same value from the "
        "Jensen-Shannon divergence computed from its definition, the largest gap between D* and the D that "
        "maximises V point by point (a search over 100,001 values of D), and whether 20 perturbed D beat D*:", "",
        table(["p_g", "V(D*, G)", "-log 4 + 2 JSD", "JSD", "largest gap to D*", "beaten"], game_rows), "",
        f"At p_g = p_data, D* = 1/2 everywhere and V = {checks[2].value_at_optimum:.9f} = -log 4 "
        f"({-LOG4:.9f}).", "",
        "G's gradient per unit of D's logit, by autograd through the registered losses (`minimax` is the "
        "saturating log(1 - D(G(z))), `non-saturating` is -log D(G(z))):", "",
        table(["D(G(z))", "saturating", "non-saturating"],
              [[f"{float(v):g}", f"{float(g['minimax'][i]):.6f}", f"{float(g['non-saturating'][i]):.6f}"]
               for i, v in enumerate(at)]), "",
        f"Training from a confident D (the lab's phase loop on ring8: {d_steps} D steps alone, then {steps} steps "
        f"of both phases, Adam 1e-3): D(G(z)) at the start was {runs[0].d_fake_start:.2e} (saturating run) and "
        f"{runs[1].d_fake_start:.2e} (non-saturating run); G's mean gradient norm over the first {first} steps was "
        f"{mean_norm['minimax']:.2e} with the saturating loss against {mean_norm['non-saturating']:.2e} with the "
        f"non-saturating one ({mean_norm['non-saturating'] / max(mean_norm['minimax'], 1e-30):.0f}x). At the end "
        f"D(G(z)) was {runs[0].d_fake[-1]:.3f} (saturating) and {runs[1].d_fake[-1]:.3f} (non-saturating). Adam "
        f"rescales small gradients, so the saturating run still moves; with plain SGD its steps would be as small "
        f"as its gradient.", "",
        "Figures: optimal-d.png, generator-losses.png, vanishing-gradient.png.",
    ]
    return "\n".join(lines) + "\n"
