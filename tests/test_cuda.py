"""The CUDA paths: what was measured on CPUs stays on CPUs, and every family trains on a GPU (skipped without one)."""

from __future__ import annotations

import pytest
import torch

from conftest import TINY_DCGAN
from ganforge.configure import build_config
from ganforge.models import cpu_layers
from ganforge.training.optim import FusedAdam
from ganforge.training.trainer import Trainer

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def test_cpu_layer_forms_take_the_stock_kernels_on_cuda():
    torch.manual_seed(0)
    layer = cpu_layers.FullMapConv2d(8, 1, 4).cuda()
    x = torch.randn(2, 8, 4, 4, device="cuda")
    assert torch.equal(layer(x), torch.nn.functional.conv2d(x, layer.weight, layer.bias))


def test_defaults_measured_on_cpu_stay_on_cpu(tmp_path):
    config = build_config("mnist-dcgan", overrides=[*TINY_DCGAN, "train.device=cuda", "train.steps=2"])
    trainer = Trainer(config, tmp_path / "run", quiet=True)
    assert trainer.memory_format == torch.contiguous_format
    assert not any(isinstance(opt, FusedAdam) for opt in trainer.optimizers.values())
    assert all(opt.param_groups[0]["fused"] for opt in trainer.optimizers.values())
    trainer.fit()


@pytest.mark.parametrize("preset", ["mnist-cgan", "mnist-acgan", "mnist-infogan", "mnist-began", "mnist-projection"])
def test_families_train_on_cuda(preset, tmp_path):
    config = build_config(preset, overrides=["train.device=cuda", "train.steps=3", "train.batch_size=16",
                                             "eval.every=0", "train.num_samples=4"])
    result = Trainer(config, tmp_path / "run", quiet=True).fit()
    assert result.steps == 3 and result.last["loss_g"] == result.last["loss_g"]
