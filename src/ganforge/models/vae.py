"""A small convolutional VAE (Kingma & Welling 2014): the model the course sets beside GANs.

Not a GAN, so it has its own short training function: maximise the evidence lower bound (Bernoulli likelihood of
the pixels in [0, 1] plus the KL of the Gaussian posterior to N(0, I)) for a wall-clock budget, so that it can be
compared with a GAN trained for the same time. Samples are the decoder's pixel means, which is what makes a
VAE's images smooth: the mean of many plausible digits.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


class ConvVAE(nn.Module):
    """28x28 gray images: two strided convolutions down to 7x7, a Gaussian latent, two transposed ones back up."""

    def __init__(self, latent_dim: int = 16, width: int = 32) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = nn.Sequential(nn.Conv2d(1, width, 4, 2, 1), nn.LeakyReLU(0.2),
                                     nn.Conv2d(width, 2 * width, 4, 2, 1), nn.LeakyReLU(0.2), nn.Flatten(),
                                     nn.Linear(2 * width * 49, 2 * latent_dim))
        self.decoder = nn.Sequential(nn.Linear(latent_dim, 2 * width * 49), nn.ReLU(),
                                     nn.Unflatten(1, (2 * width, 7, 7)),
                                     nn.ConvTranspose2d(2 * width, width, 4, 2, 1), nn.ReLU(),
                                     nn.ConvTranspose2d(width, 1, 4, 2, 1))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x in [0, 1] -> the posterior's mean and log-variance."""
        mean, log_var = self.encoder(x).chunk(2, dim=1)
        return mean, log_var

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z -> the logits of each pixel's Bernoulli likelihood."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mean, log_var = self.encode(x)
        eps = torch.randn(mean.shape, generator=generator, device=mean.device)
        return self.decode(mean + eps * torch.exp(0.5 * log_var)), mean, log_var

    @torch.no_grad()
    def sample(self, n: int, seed: int = 0) -> torch.Tensor:
        """n uint8 images (n, 1, 28, 28): the decoder's pixel means for z ~ N(0, I)."""
        z = torch.randn(n, self.latent_dim, generator=torch.Generator().manual_seed(seed))
        was_training = self.training
        self.eval()
        try:
            return (torch.sigmoid(self.decode(z)) * 255).round().to(torch.uint8)
        finally:
            self.train(was_training)


def negative_elbo(logits: torch.Tensor, x: torch.Tensor, mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """-ELBO per image: pixel cross-entropy summed over the image plus KL(q(z|x) || N(0, I)), batch-averaged."""
    reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
    kl = -0.5 * torch.sum(1 + log_var - mean.pow(2) - log_var.exp())
    return (reconstruction + kl) / x.shape[0]


@dataclass
class VAETraining:
    steps: int
    epochs: float
    seconds: float
    losses: list[float]


def train_vae(vae: ConvVAE, images: torch.Tensor, seconds: float, batch_size: int = 64, lr: float = 1e-3,
              seed: int = 0, min_steps: int = 1) -> VAETraining:
    """Adam on the -ELBO over shuffled uint8 images until `seconds` of wall-clock have passed (at least min_steps)."""
    generator = torch.Generator().manual_seed(seed)
    data = images.float() / 255.0
    optimizer = torch.optim.Adam(vae.parameters(), lr=lr)
    losses: list[float] = []
    start = time.perf_counter()
    steps, order, position = 0, torch.randperm(len(data), generator=generator), 0
    while steps < min_steps or time.perf_counter() - start < seconds:
        if position + batch_size > len(data):
            order, position = torch.randperm(len(data), generator=generator), 0
        x = data[order[position:position + batch_size]]
        position += batch_size
        logits, mean, log_var = vae(x, generator)
        loss = negative_elbo(logits, x, mean, log_var)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        steps += 1
    return VAETraining(steps, steps * batch_size / len(data), time.perf_counter() - start, losses)
