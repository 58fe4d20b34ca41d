"""The textbook training loops ganforge is measured against, written here for the purpose.

`TextbookDCGAN` follows pytorch/examples `dcgan/main.py`: its Generator/Discriminator (nz 100, ngf = ndf = 64, a
sigmoid at the end of D), its `weights_init`, `nn.BCELoss`, Adam(lr 2e-4, betas (0.5, 0.999)) with PyTorch's
defaults otherwise, a torchvision DataLoader over a dataset that decodes each image to PIL and runs
Resize/ToTensor/Normalize, `.to(device)` per batch, `netD.zero_grad()`, and its three backward passes (D on real,
D on the detached fake, then G through D). `TextbookMLP` is the course's MLP GAN loop: the `mnist-mlp` model
(G 100-256-512-784 LeakyReLU(0.2)/Tanh, D 784-512-256-1 LeakyReLU(0.2) + Sigmoid), ToTensor/Normalize through a
DataLoader, BCELoss, Adam 2e-4 with default betas, D and G each updated once per batch.

Nothing here is tuned: the point is the loop people write first. Two hooks exist only so that a test can feed
both paths identical inputs: `sampler` (the data order) and `noise_generator` (where the noise comes from; the
textbook draws from torch's global generator, which is the default).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim
import torch.utils.data
import torchvision.transforms as transforms
from PIL import Image

from ganforge.utils import resolve_device


class PILImageSet(torch.utils.data.Dataset):
    """What torchvision's MNIST/CIFAR10 datasets do per item: uint8 array -> PIL image -> transform."""

    def __init__(self, images: np.ndarray, transform: Any) -> None:
        self.images = images  # (N, H, W) grayscale or (N, H, W, 3) RGB, uint8
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        array = self.images[index]
        img = Image.fromarray(array, mode="L" if array.ndim == 2 else "RGB")
        return self.transform(img), 0


def images_hwc(images: torch.Tensor) -> np.ndarray:
    """ganforge's uint8 (N, C, H, W) tensor -> the (N, H, W[, 3]) array a torchvision dataset keeps."""
    array = images.permute(0, 2, 3, 1).numpy()
    return np.ascontiguousarray(array[..., 0] if array.shape[-1] == 1 else array)


def textbook_loader(images: np.ndarray, image_size: int | None, batch_size: int, workers: int = 0,
                    sampler: Iterable[int] | None = None, drop_last: bool = True) -> torch.utils.data.DataLoader:
    """DataLoader(dataset with Resize?/ToTensor/Normalize(0.5, 0.5), shuffle=True) as in the examples."""
    channels = 1 if images.ndim == 3 else 3
    steps = [transforms.Resize(image_size)] if image_size is not None else []
    steps += [transforms.ToTensor(), transforms.Normalize((0.5,) * channels, (0.5,) * channels)]
    dataset = PILImageSet(images, transforms.Compose(steps))
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=sampler is None, sampler=sampler,
                                       num_workers=workers, drop_last=drop_last)


def endless(loader: torch.utils.data.DataLoader) -> Iterator[Any]:
    """`for epoch in range(niter): for i, data in enumerate(dataloader)`, flattened into one stream of batches."""
    while True:
        yield from loader


# ------------------------------------------------------------------------------------------------------ DCGAN
def weights_init(m: nn.Module) -> None:
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        torch.nn.init.normal_(m.weight, 0.0, 0.02)
    elif classname.find("BatchNorm") != -1:
        torch.nn.init.normal_(m.weight, 1.0, 0.02)
        torch.nn.init.zeros_(m.bias)


class Generator(nn.Module):
    """pytorch/examples' 64x64 generator; `image_size` 32 drops one doubling (the examples' CIFAR-size variant)."""

    def __init__(self, nz: int, ngf: int, nc: int, image_size: int = 64) -> None:
        super().__init__()
        mult = image_size // 8
        layers: list[nn.Module] = [nn.ConvTranspose2d(nz, ngf * mult, 4, 1, 0, bias=False),
                                   nn.BatchNorm2d(ngf * mult), nn.ReLU(True)]
        while mult > 1:
            layers += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(ngf * mult // 2), nn.ReLU(True)]
            mult //= 2
        layers += [nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return self.main(input)


class Discriminator(nn.Module):
    def __init__(self, ndf: int, nc: int, image_size: int = 64) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True)]
        mult = 1
        while mult < image_size // 8:
            layers += [nn.Conv2d(ndf * mult, ndf * mult * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * mult * 2),
                       nn.LeakyReLU(0.2, inplace=True)]
            mult *= 2
        layers += [nn.Conv2d(ndf * mult, 1, 4, 1, 0, bias=False), nn.Sigmoid()]
        self.main = nn.Sequential(*layers)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        output = self.main(input)
        return output.view(-1, 1).squeeze(1)


class TextbookDCGAN:
    """The pytorch/examples DCGAN loop, one `step(data)` per iteration of its inner `for` loop."""

    def __init__(self, images: np.ndarray, image_size: int, batch_size: int = 64, nz: int = 100, ngf: int = 64,
                 ndf: int = 64, lr: float = 2e-4, beta1: float = 0.5, seed: int = 0, workers: int = 0,
                 resize: bool = True, sampler: Iterable[int] | None = None,
                 noise_generator: torch.Generator | None = None, device: str = "auto") -> None:
        torch.manual_seed(seed)
        self.device = resolve_device(device)
        nc = 1 if images.ndim == 3 else 3
        self.nz = nz
        self.netG = Generator(nz, ngf, nc, image_size).to(self.device)
        self.netG.apply(weights_init)
        self.netD = Discriminator(ndf, nc, image_size).to(self.device)
        self.netD.apply(weights_init)
        self.criterion = nn.BCELoss()
        self.real_label, self.fake_label = 1, 0
        self.optimizerD = optim.Adam(self.netD.parameters(), lr=lr, betas=(beta1, 0.999))
        self.optimizerG = optim.Adam(self.netG.parameters(), lr=lr, betas=(beta1, 0.999))
        self.noise_generator = noise_generator
        self.dataloader = textbook_loader(images, image_size if resize else None, batch_size, workers, sampler)
        self.batches = endless(self.dataloader)

    def step(self, data: Any) -> dict[str, float]:
        netD, netG, criterion, device = self.netD, self.netG, self.criterion, self.device
        ############################
        # (1) Update D network: maximize log(D(x)) + log(1 - D(G(z)))
        ###########################
        # train with real
        netD.zero_grad()
        real_cpu = data[0].to(device)
        batch_size = real_cpu.size(0)
        label = torch.full((batch_size,), self.real_label, dtype=real_cpu.dtype, device=device)

        output = netD(real_cpu)
        errD_real = criterion(output, label)
        errD_real.backward()
        D_x = output.mean().item()

        # train with fake
        noise = torch.randn(batch_size, self.nz, 1, 1, device=device, generator=self.noise_generator)
        fake = netG(noise)
        label.fill_(self.fake_label)
        output = netD(fake.detach())
        errD_fake = criterion(output, label)
        errD_fake.backward()
        D_G_z1 = output.mean().item()
        errD = errD_real + errD_fake
        self.optimizerD.step()

        ############################
        # (2) Update G network: maximize log(D(G(z)))
        ###########################
        netG.zero_grad()
        label.fill_(self.real_label)  # fake labels are real for generator cost
        output = netD(fake)
        errG = criterion(output, label)
        errG.backward()
        D_G_z2 = output.mean().item()
        self.optimizerG.step()
        return {"loss_d": errD.item(), "loss_g": errG.item(), "d_real": D_x, "d_fake": D_G_z1, "d_fake_g": D_G_z2}

    def run(self, steps: int) -> dict[str, float]:
        out: dict[str, float] = {}
        for _ in range(steps):
            out = self.step(next(self.batches))
        return out


# ------------------------------------------------------------------------------------------------------ MLP
class MLPGenerator(nn.Module):
    def __init__(self, latent_dim: int = 100, image_dim: int = 784) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(latent_dim, 256), nn.LeakyReLU(0.2),
            nn.Linear(256, 512), nn.LeakyReLU(0.2),
            nn.Linear(512, image_dim), nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class MLPDiscriminator(nn.Module):
    def __init__(self, image_dim: int = 784) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(image_dim, 512), nn.LeakyReLU(0.2),
            nn.Linear(512, 256), nn.LeakyReLU(0.2),
            nn.Linear(256, 1), nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class TextbookMLP:
    """The course's MLP GAN loop over MNIST batches; `epoch()` is one pass of its inner loop."""

    def __init__(self, images: np.ndarray, batch_size: int = 64, latent_dim: int = 100, lr: float = 2e-4,
                 seed: int = 0, workers: int = 0, sampler: Iterable[int] | None = None,
                 noise_generator: torch.Generator | None = None, device: str = "auto") -> None:
        torch.manual_seed(seed)
        self.device = resolve_device(device)
        self.latent_dim = latent_dim
        image_dim = int(np.prod(images.shape[1:]))
        self.G = MLPGenerator(latent_dim, image_dim).to(self.device)
        self.D = MLPDiscriminator(image_dim).to(self.device)
        self.criterion = nn.BCELoss()
        self.opt_g = optim.Adam(self.G.parameters(), lr=lr)
        self.opt_d = optim.Adam(self.D.parameters(), lr=lr)
        self.noise_generator = noise_generator
        self.loader = textbook_loader(images, None, batch_size, workers, sampler)
        self.batches = endless(self.loader)

    def step(self, batch: Any) -> dict[str, float]:
        G, D, criterion, device = self.G, self.D, self.criterion, self.device
        real_images, _ = batch
        real_images = real_images.view(real_images.size(0), -1).to(device)
        b = real_images.size(0)
        ones = torch.ones(b, 1, device=device)
        zeros = torch.zeros(b, 1, device=device)

        # train the discriminator
        z = torch.randn(b, self.latent_dim, device=device, generator=self.noise_generator)
        fake_images = G(z)
        d_real = D(real_images)
        d_fake = D(fake_images.detach())
        loss_d = criterion(d_real, ones) + criterion(d_fake, zeros)
        self.opt_d.zero_grad()
        loss_d.backward()
        self.opt_d.step()

        # train the generator
        d_fake_g = D(fake_images)
        loss_g = criterion(d_fake_g, ones)
        self.opt_g.zero_grad()
        loss_g.backward()
        self.opt_g.step()
        return {"loss_d": loss_d.item(), "loss_g": loss_g.item(), "d_real": d_real.mean().item(),
                "d_fake": d_fake.mean().item(), "d_fake_g": d_fake_g.mean().item()}

    def epoch(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for batch in self.loader:
            out = self.step(batch)
        return out
