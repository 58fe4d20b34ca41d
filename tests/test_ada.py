"""ADA (augment.ada): the stylegan2-ada pipeline's ops, its p controller, its state, its config checks, and a CLI run."""

import json

import pytest
import torch

from ganforge.augment import ADA_GROUPS, ADA_OPS, AdaptiveAugment, ada_augment, expand_ada_ops
from ganforge.config import AugmentConfig
from ganforge.configure import build_config
from ganforge.data import limit_rows, load_dataset
from ganforge.losses import LOSSES, build_loss
from ganforge.training.trainer import Trainer

from conftest import TINY_DCGAN, run_cli_here

RGB_OPS = {"lumaflip", "hue", "saturation"}


def batch(channels: int = 3, n: int = 16, size: int = 16) -> torch.Tensor:
    """Smooth images in [-1, 1] with structure in both axes (so flips, rotations and shifts change them)."""
    rows = torch.linspace(-1, 1, size).view(1, 1, size, 1)
    cols = torch.linspace(-1, 1, size).view(1, 1, 1, size)
    phase = torch.linspace(0, 3, n).view(n, 1, 1, 1)
    base = torch.sin(3 * rows + phase) * torch.cos(2 * cols ** 2 + phase) * 0.8 + 0.1 * cols
    return torch.cat([base * (0.5 + 0.25 * c) for c in range(channels)], dim=1)


@pytest.mark.parametrize("name", ADA_OPS.names())
@pytest.mark.parametrize("channels", [1, 3])
def test_each_op_keeps_shape_and_range_is_identity_at_p0_and_changes_images_at_p1(name, channels):
    x = batch(channels)
    assert ada_augment(x, 0.0, [name], torch.Generator().manual_seed(0)) is x
    out = ada_augment(x, 1.0, [name], torch.Generator().manual_seed(0))
    assert out.shape == x.shape and torch.isfinite(out).all()
    if ADA_OPS.get(name).kind != "color":  # pixel moves and bilinear resampling stay inside the input's range
        assert out.min() >= x.min() - 1e-5 and out.max() <= x.max() + 1e-5
    else:
        assert out.abs().max() < 20
    if name in RGB_OPS and channels == 1:
        assert torch.equal(out, x), f"{name} needs RGB: skipped on 1-channel images"
    else:
        assert not torch.allclose(out, x, atol=1e-3), f"{name} at p=1 left every image as it was"


def test_groups_expand_to_the_papers_ops_and_unknown_names_are_one_line():
    assert expand_ada_ops(["blit", "geometric", "color"]) == tuple(op for g in ADA_GROUPS.values() for op in g)
    assert expand_ada_ops(["xflip", "hue"]) == ("xflip", "hue")
    with pytest.raises(Exception, match=r"augment.ada_ops: unknown ADA op 'bitl'.*blit, geometric, color.*xflip"):
        expand_ada_ops(["bitl"])


def test_the_pipeline_is_differentiable_and_seeded():
    x = batch(3).requires_grad_(True)
    ops = expand_ada_ops(["blit", "geometric", "color"])
    out = ada_augment(x, 1.0, ops, torch.Generator().manual_seed(3))
    (out * torch.linspace(0, 1, out.numel()).view_as(out)).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    same = ada_augment(x.detach(), 1.0, ops, torch.Generator().manual_seed(3))
    other = ada_augment(x.detach(), 1.0, ops, torch.Generator().manual_seed(4))
    assert torch.equal(out.detach(), same) and not torch.equal(same, other)


def test_p_applies_each_op_to_about_p_of_the_samples():
    x = batch(1, n=2000, size=8)
    out = ada_augment(x, 0.3, ["scale"], torch.Generator().manual_seed(0))
    changed = (out - x).flatten(1).abs().amax(dim=1) > 1e-6
    assert 0.25 < changed.float().mean() < 0.35


def controller(**settings) -> AdaptiveAugment:
    return AdaptiveAugment(AugmentConfig(ada=True, **settings), torch.device("cpu"), seed=0)


def test_p_rises_while_d_overfits_and_falls_otherwise():
    ada = controller(ada_interval=2, ada_kimg=1.0, ada_target=0.6)
    ada.observe(torch.ones(16))
    assert ada.p == 0.0 and ada.rt is None  # p moves only at the end of an interval
    ada.observe(torch.tensor([1.0] * 12 + [-1.0] * 4))  # r_t = (16 + 8) / 32 = 0.75 > 0.6: D overfits
    assert ada.rt == 0.75 and ada.p == pytest.approx(32 / 1000)
    for _ in range(4):
        ada.observe(torch.tensor([1.0] * 8 + [-1.0] * 8))  # r_t = 0 < 0.6
    assert ada.rt == 0.0 and ada.p == 0.0  # lowered, and clamped at 0
    high = controller(ada_interval=1, ada_kimg=0.01, ada_p=0.9)
    high.observe(torch.ones(16))
    assert high.p == 1.0  # clamped at 1
    assert set(high.stats()) == {"ada_p", "ada_rt"}


def test_each_loss_says_which_sign_is_real():
    real, fake = torch.tensor([0.3, -0.2]), torch.tensor([-1.0, 0.5])
    for name in ("non-saturating", "minimax", "hinge"):
        assert torch.equal(LOSSES.get(name).realness(real, fake), real)
    for name in ("wasserstein", "relativistic-average", "relativistic-average-hinge"):  # no absolute zero
        assert torch.allclose(LOSSES.get(name).realness(real, fake), real - fake.mean())
    assert torch.allclose(LOSSES.get("relativistic-pairing").realness(real, fake), real - fake)
    lsgan = build_config("mnist-dcgan", overrides=["loss.name=least-squares", "loss.ls_a=-1", "loss.ls_b=1"]).loss
    assert torch.allclose(build_loss(lsgan).realness(real, fake), real)  # midpoint of -1 and 1
    zero_one = build_config("mnist-dcgan", overrides=["loss.name=least-squares"]).loss  # a = 0, b = 1
    assert torch.allclose(build_loss(zero_one).realness(real, fake), real - 0.5)


def test_state_resumes_exactly():
    ada = controller(ada_interval=3, ada_kimg=0.1, ada_p=0.4)
    x = batch(3)
    for _ in range(4):
        ada(x)
        ada.observe(torch.randn(16, generator=torch.Generator().manual_seed(1)))
    copy = controller(ada_interval=3, ada_kimg=0.1)
    copy.load_state_dict(ada.state_dict())
    assert (copy.p, copy.seen, copy.observed, copy.rt) == (ada.p, ada.seen, ada.observed, ada.rt)
    assert torch.equal(copy(x), ada(x))
    for a in (ada, copy):
        a.observe(torch.ones(16))
        a.observe(torch.ones(16))
    assert copy.p == ada.p and copy.rt == ada.rt


@pytest.mark.parametrize("override, message", [
    ("augment.ada_target=1.5", "augment.ada_target must be"),
    ("augment.ada_interval=0", "augment.ada_interval must be"),
    ("augment.ada_kimg=0", "augment.ada_kimg must be"),
    ("augment.ada_p=-0.1", "augment.ada_p must be"),
    ("augment.ada_ops=[blit, nope]", "augment.ada_ops: unknown ADA op 'nope'"),
    ("data.limit=-5", "data.limit must be"),
])
def test_bad_values_are_one_line_errors(override, message):
    result = run_cli_here("train", "mnist-dcgan", "--set", "augment.ada=true", "--set", override, "--dry-run")
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("preset, family", [("mnist-msggan", "msggan"), ("mnist-began", "began"),
                                            ("mnist-mrgan", "mdgan"), ("mnist-pix2pix", "pix2pix")])
def test_families_whose_d_input_does_not_pass_through_ada_refuse_it(preset, family):
    result = run_cli_here("train", preset, "--set", f"algorithm.name={family}", "--set", "augment.ada=true",
                          "--dry-run")
    assert result.returncode == 2 and "augment.ada" in result.stderr and family in result.stderr, result.stderr


def test_data_limit_trains_on_an_even_spread_and_refuses_more_than_the_set(tmp_path):
    config = build_config("mnist-dcgan", overrides=[*TINY_DCGAN, "data.limit=100", "train.steps=1", "eval.every=0"])
    assert Trainer(config, tmp_path / "run", quiet=True).stream.size == 100
    digits = load_dataset("mnist-5k")  # sorted by class: the first 100 rows would all be zeros
    kept = limit_rows(digits.tensors(("image", "label"), "test"), 100, "mnist-5k")
    assert torch.bincount(kept["label"]).tolist() == [10] * 10
    assert torch.equal(kept["image"][3], digits.images[int(torch.linspace(0, 4999, 100).round()[3])])
    result = run_cli_here("train", "mnist-dcgan", "--set", "data.limit=6000", "--set", "train.steps=1",
                          "--out", str(tmp_path / "big"))
    assert result.returncode == 2 and "data.limit=6000 is more than the 5000 training images" in result.stderr


def test_cli_run_with_ada_logs_p_and_r_t(tmp_path):
    run = tmp_path / "run"
    result = run_cli_here("train", "mnist-dcgan", *[a for o in TINY_DCGAN for a in ("--set", o)],
                          "--set", "augment.ada=true", "--set", "augment.ada_kimg=0.1", "--set", "augment.ada_interval=2",
                          "--set", "data.limit=500", "--set", "train.steps=8", "--set", "train.log_every=2",
                          "--set", "eval.every=0", "--out", str(run), "--quiet")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4, 6, 8]
    assert all("ada_p" in r and "ada_rt" in r for r in records)
    assert any(r["ada_p"] > 0 for r in records) and all(0 <= r["ada_p"] <= 1 for r in records)


def test_colour_ops_act_on_the_luma_axis_as_the_paper_defines():
    """Hue rotates about the grey axis (orthogonal, grey kept); saturation keeps grey; luma flip mirrors grey."""
    like, grey = torch.zeros(64, 3, 4, 4), torch.tensor([1.0, 1.0, 1.0, 0.0])
    draw = {name: ADA_OPS.get(name).draw(64, 1.0, torch.Generator().manual_seed(0), like)
            for name in ("hue", "saturation", "lumaflip")}
    rotation = draw["hue"][:, :3, :3]
    assert torch.allclose(rotation @ rotation.transpose(1, 2), torch.eye(3).expand(64, 3, 3), atol=1e-5)
    assert torch.allclose(draw["hue"] @ grey, grey.expand(64, 4), atol=1e-5)
    assert torch.allclose(draw["saturation"] @ grey, grey.expand(64, 4), atol=1e-5)
    flipped = draw["lumaflip"] @ grey
    assert all(torch.allclose(row, grey) or torch.allclose(row, -grey) for row in flipped)
    assert any(torch.allclose(row, -grey) for row in flipped)
